import VideoMeter

/// How an ``Emulator`` behaves: which upstream API it speaks, where it listens, and which faults it
/// injects.
///
/// Rates are probabilities in `0...1`, drawn from a generator seeded with ``seed`` so that a run
/// replays exactly. Prompt tags (see ``EmulatedOutcome``) override the rates per request.
public struct EmulatorConfiguration: Sendable, Equatable {
    /// The upstream API the emulator speaks (``EmulatorStyle``: `.blockrun`, `.worldrouter`, ...).
    public typealias Style = EmulatorStyle

    public var style: Style
    /// The address to bind; loopback by default.
    public var host: String
    /// The port to bind; `0` asks the system for an ephemeral port (see ``Emulator/start()``).
    public var port: Int
    /// How long a generation takes: BlockRun holds the request open this long; a WorldRouter task is
    /// `queued` for the first third of it, `running` until it has elapsed, then terminal.
    public var latency: Duration
    /// Probability that a generation fails (BlockRun 500; WorldRouter task `failed`).
    public var failRate: Double
    /// Probability that a generation times out (BlockRun 504; WorldRouter task `expired`).
    public var timeoutRate: Double
    /// WorldRouter only: probability that a create answers 424 (no task is created).
    public var upstreamFailureRate: Double
    /// BlockRun: requests in flight at once; WorldRouter: non-terminal tasks per key. Beyond it, 429.
    public var pendingCap: Int
    /// Seed of the fault generator.
    public var seed: UInt64
    /// BlockRun's 85 s cap on a synchronous generation: a latency above it answers 504 once the cap
    /// has elapsed. Scale it down together with ``latency`` in tests.
    public var maxSyncDuration: Duration
    /// BlockRun only: when true, a request without an `X-Payment` header answers 402.
    public var requirePayment: Bool
    /// WorldRouter only: the Bearer keys accepted; `nil` accepts any non-empty key.
    public var acceptedKeys: Set<String>?
    /// WorldRouter only: keys that are valid but not scoped to a team (403 `grok_video_team_required`).
    public var keysWithoutTeam: Set<String>
    /// WorldRouter only: keys whose team balance is too low (402 `grok_video_balance_too_low`).
    public var keysWithLowBalance: Set<String>

    public init(
        style: Style,
        host: String = "127.0.0.1",
        port: Int = 0,
        latency: Duration = .milliseconds(5),
        failRate: Double = 0,
        timeoutRate: Double = 0,
        upstreamFailureRate: Double = 0,
        pendingCap: Int = 16,
        seed: UInt64 = 0,
        maxSyncDuration: Duration = .seconds(85),
        requirePayment: Bool = false,
        acceptedKeys: Set<String>? = nil,
        keysWithoutTeam: Set<String> = [],
        keysWithLowBalance: Set<String> = []
    ) {
        self.style = style
        self.host = host
        self.port = port
        self.latency = latency
        self.failRate = failRate
        self.timeoutRate = timeoutRate
        self.upstreamFailureRate = upstreamFailureRate
        self.pendingCap = pendingCap
        self.seed = seed
        self.maxSyncDuration = maxSyncDuration
        self.requirePayment = requirePayment
        self.acceptedKeys = acceptedKeys
        self.keysWithoutTeam = keysWithoutTeam
        self.keysWithLowBalance = keysWithLowBalance
    }

    /// Checks the values a person can get wrong; the CLI prints the message as is.
    public func validate() throws(EmulatorConfigurationError) {
        for (name, rate) in [("fail rate", failRate), ("timeout rate", timeoutRate),
                             ("upstream failure rate", upstreamFailureRate)] {
            guard rate.isFinite, (0...1).contains(rate) else {
                throw EmulatorConfigurationError("The \(name) must be a probability between 0 and 1, got \(rate).")
            }
        }
        guard failRate + timeoutRate <= 1 else {
            throw EmulatorConfigurationError("The fail rate and the timeout rate add up to more than 1.")
        }
        guard (0...65535).contains(port) else {
            throw EmulatorConfigurationError("The port must be between 0 and 65535, got \(port).")
        }
        guard pendingCap >= 1 else {
            throw EmulatorConfigurationError("The pending cap must be at least 1, got \(pendingCap).")
        }
        guard latency >= .zero else {
            throw EmulatorConfigurationError("The latency cannot be negative.")
        }
        guard maxSyncDuration > .zero else {
            throw EmulatorConfigurationError("The sync duration cap must be positive.")
        }
    }
}

/// A configuration value outside its allowed range.
public struct EmulatorConfigurationError: CodedError, Equatable {
    public var code: String { "invalid_emulator_configuration" }
    public let message: String
    public init(_ message: String) { self.message = message }
}

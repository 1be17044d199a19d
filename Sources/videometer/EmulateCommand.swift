import ArgumentParser
import Foundation
import VideoMeterEmulator
import VideoMeterSellers

/// `videometer emulate`: an upstream video API on loopback, for tests, demos and a free sandbox.
struct EmulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulate",
        abstract: "Run an emulated upstream (BlockRun, WorldRouter or xAI) on loopback, with fault injection.",
        discussion: """
            Prints the base URL it listens on, then serves until interrupted. Rates are \
            probabilities between 0 and 1, drawn from a generator seeded with --seed, so a run \
            replays exactly. A prompt tag such as [emulate:failed], [emulate:timeout], \
            [emulate:cancelled], [emulate:expired], [emulate:upstream_failure], [emulate:drop] or \
            [emulate:succeeded] forces that outcome (see docs/EMULATOR.md). GET /_emulator/stats \
            shows what was created, completed, failed and timed out.
            """
    )

    @Option(help: ArgumentHelp("The upstream API to speak: one seller's style (blockrun: sync; worldrouter, xai: async task).", valueName: "STYLE"))
    var style: EmulatorConfiguration.Style

    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port: Int = 0

    @Option(name: .customLong("latency-ms"), help: ArgumentHelp("Generation time in milliseconds.", valueName: "MS"))
    var latencyMilliseconds: Int = 2000

    @Option(name: .customLong("fail-rate"), help: ArgumentHelp("Probability of a failed generation (500 / failed).", valueName: "R"))
    var failRate: Double = 0

    @Option(name: .customLong("timeout-rate"), help: ArgumentHelp("Probability of a timeout (504 / expired).", valueName: "R"))
    var timeoutRate: Double = 0

    @Option(name: .customLong("upstream-failure-rate"), help: ArgumentHelp("WorldRouter: probability of a 424 at create.", valueName: "R"))
    var upstreamFailureRate: Double = 0

    @Option(name: .customLong("pending-cap"), help: ArgumentHelp("Requests in flight (BlockRun) or pending tasks per key (WorldRouter) before 429.", valueName: "N"))
    var pendingCap: Int = 16

    @Option(help: "Seed of the fault generator.")
    var seed: UInt64 = 0

    @Option(name: .customLong("sync-cap-ms"), help: ArgumentHelp("BlockRun: the sync cap after which a request answers 504 (85000 upstream).", valueName: "MS"))
    var syncCapMilliseconds: Int = 85_000

    @Flag(name: .customLong("require-payment"), help: "BlockRun: answer 402 without an X-Payment header.")
    var requirePayment = false

    var emulatorConfiguration: EmulatorConfiguration {
        EmulatorConfiguration(
            style: style, port: port, latency: .milliseconds(latencyMilliseconds), failRate: failRate,
            timeoutRate: timeoutRate, upstreamFailureRate: upstreamFailureRate, pendingCap: pendingCap, seed: seed,
            maxSyncDuration: .milliseconds(syncCapMilliseconds), requirePayment: requirePayment)
    }

    func validate() throws {
        guard latencyMilliseconds >= 0 else { throw ValidationError("--latency-ms must be 0 or more, got \(latencyMilliseconds).") }
        guard syncCapMilliseconds > 0 else { throw ValidationError("--sync-cap-ms must be positive, got \(syncCapMilliseconds).") }
        do {
            try emulatorConfiguration.validate()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let emulator = Emulator(emulatorConfiguration)
        _ = try await emulator.start()
        let base = await emulator.baseURL ?? ""
        // Written unbuffered: scripts read the URL from a pipe, where print() would hold it back.
        FileHandle.standardOutput.write(Data("Emulating \(style.name) on \(base)\nStats: \(base)/_emulator/stats\n".utf8))
        try await emulator.waitUntilStopped()
    }
}

extension EmulatorStyle: ExpressibleByArgument {
    /// A registered seller's style, by name (``Sellers/all``).
    public init?(argument: String) {
        guard let style = Sellers.emulatorStyle(named: argument) else { return nil }
        self = style
    }

    public static var allValueStrings: [String] { Sellers.all.map(\.emulatorStyle.name) }
}

import VideoMeter

/// An HTTP client for one upstream video API; the metered client drives every provider through it.
///
/// Implementations throw only ``ProviderError``. They do not validate prices or budgets; they send
/// what they are given and classify what comes back, so the caller can settle precisely:
/// ``ProviderError/delivery`` says whether the request was never sent, refused, or has an unknown
/// outcome.
public protocol VideoProvider: Sendable {
    /// A short stable name, e.g. `blockrun`, used in logs and errors.
    var name: String { get }
    /// How it delivers a video: the pricing core's one ``VideoMeter/APIStyle``.
    var style: APIStyle { get }

    /// Sends one generation request.
    ///
    /// A sync provider returns ``Submission/completed(_:)`` with the finished video; an async one
    /// returns ``Submission/task(id:)`` as soon as the upstream has created the task.
    /// `idempotencyKey` is sent as the `Idempotency-Key` header (upstreams that do not support it
    /// ignore it).
    func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission

    /// Reads the current status of an async task. Sync providers throw `task_status_unsupported`.
    func status(taskID: String) async throws -> TaskStatus
}

/// One generation as the upstream receives it.
public struct GenerationRequest: Sendable, Equatable, Hashable {
    /// The upstream's model id, e.g. `xai/grok-imagine-video` or `grok-imagine-video`.
    public var model: String
    public var prompt: String
    /// A seed image for image-to-video.
    public var imageURL: String?
    /// Seconds; `nil` lets the upstream apply its default.
    public var durationSeconds: Int?
    /// `480p` or `720p` where the upstream accepts it; `nil` lets the upstream apply its default.
    public var resolution: String?
    /// Members that change nothing of the price (`aspect_ratio`), sent as they are.
    public var options: [String: String]

    public init(
        model: String, prompt: String, imageURL: String? = nil, durationSeconds: Int? = nil, resolution: String? = nil,
        options: [String: String] = [:]
    ) {
        self.options = options
        self.model = model
        self.prompt = prompt
        self.imageURL = imageURL
        self.durationSeconds = durationSeconds
        self.resolution = resolution
    }
}

/// What ``VideoProvider/submit(_:idempotencyKey:)`` got back.
public enum Submission: Sendable, Equatable {
    /// The video exists (sync providers).
    case completed(GenerationResult)
    /// The upstream created a task; poll it with ``VideoProvider/status(taskID:)``.
    case task(id: String)
}

/// One video file the upstream produced.
public struct GeneratedVideo: Sendable, Equatable, Hashable {
    /// The URL to download, permanent where the upstream mirrors it.
    public var url: String
    /// The original upstream URL (BlockRun: xAI's temporary one).
    public var sourceURL: String?
    /// The generated length in seconds, as the upstream reports it.
    public var durationSeconds: Int?
    /// The upstream's request id, for debugging and deduplication.
    public var requestID: String?
    /// BlockRun: whether the video was mirrored to BlockRun's storage.
    public var backedUp: Bool?

    public init(url: String, sourceURL: String? = nil, durationSeconds: Int? = nil, requestID: String? = nil, backedUp: Bool? = nil) {
        self.url = url
        self.sourceURL = sourceURL
        self.durationSeconds = durationSeconds
        self.requestID = requestID
        self.backedUp = backedUp
    }
}

/// A finished generation: the videos and what the upstream says about them.
public struct GenerationResult: Sendable, Equatable, Hashable {
    public var model: String
    /// At least one video.
    public var videos: [GeneratedVideo]
    /// The resolution the upstream generated, when it says (WorldRouter), else `nil`.
    public var resolution: String?
    /// The upstream's id for the whole request (BlockRun: the first video's `request_id`;
    /// WorldRouter: the task's `request_id`).
    public var upstreamRequestID: String?
    /// BlockRun's `created`, Unix seconds.
    public var created: Int?

    public init(model: String, videos: [GeneratedVideo], resolution: String? = nil, upstreamRequestID: String? = nil, created: Int? = nil) {
        self.model = model
        self.videos = videos
        self.resolution = resolution
        self.upstreamRequestID = upstreamRequestID
        self.created = created
    }

    /// The first video's URL.
    public var videoURL: String? { videos.first?.url }

    /// The seconds generated over all videos, when the upstream reported every one of them; this is
    /// what a BlockRun call is billed for.
    public var durationSeconds: Int? {
        let known = videos.compactMap(\.durationSeconds)
        return known.count == videos.count && !known.isEmpty ? known.reduce(0, +) : nil
    }
}

/// The state of an async task, as WorldRouter normalises it.
public enum TaskState: Sendable, Equatable, Hashable, CustomStringConvertible {
    case queued, running, succeeded, failed, cancelled, expired
    /// A state this client does not know; treated as not terminal, so polling goes on.
    case unrecognized(String)

    public init(rawValue: String) {
        switch rawValue {
        case "queued": self = .queued
        case "running": self = .running
        case "succeeded": self = .succeeded
        case "failed": self = .failed
        case "cancelled", "canceled": self = .cancelled
        case "expired": self = .expired
        default: self = .unrecognized(rawValue)
        }
    }

    public var rawValue: String {
        switch self {
        case .queued: "queued"
        case .running: "running"
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .cancelled: "cancelled"
        case .expired: "expired"
        case .unrecognized(let raw): raw
        }
    }

    public var description: String { rawValue }

    /// Whether the task will not change any more: succeeded, failed, cancelled or expired.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .expired: true
        case .queued, .running, .unrecognized: false
        }
    }
}

/// One reading of an async task.
public struct TaskStatus: Sendable, Equatable {
    public var id: String
    public var requestID: String?
    public var model: String?
    public var state: TaskState
    /// Requested or generated seconds, when the upstream reports them.
    public var durationSeconds: Int?
    public var resolution: String?
    /// The video, once ``state`` is `succeeded`.
    public var result: GenerationResult?
    /// Why a task failed, was cancelled or expired, when the upstream says.
    public var failureCode: String?
    public var failureMessage: String?
    /// What the seller says the generation cost it, in 10^-10 USD ("ticks"), when it says (xAI's
    /// `usage.cost_in_usd_ticks`); an integer, exact.
    public var reportedCostTicks: Int64?

    public init(
        id: String, requestID: String? = nil, model: String? = nil, state: TaskState, durationSeconds: Int? = nil,
        resolution: String? = nil, result: GenerationResult? = nil, failureCode: String? = nil, failureMessage: String? = nil,
        reportedCostTicks: Int64? = nil
    ) {
        self.reportedCostTicks = reportedCostTicks
        self.id = id
        self.requestID = requestID
        self.model = model
        self.state = state
        self.durationSeconds = durationSeconds
        self.resolution = resolution
        self.result = result
        self.failureCode = failureCode
        self.failureMessage = failureMessage
    }
}

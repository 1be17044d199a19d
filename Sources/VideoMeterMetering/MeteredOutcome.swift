import VideoMeter
import VideoMeterLedger
import VideoMeterProviders

/// How a metered call ended, as the ledger records it.
public struct MeteredOutcome: Sendable, Equatable {
    public var holdID: Int64
    public var idempotencyKey: String
    public var team: String
    public var provider: String
    public var model: String
    public var resolution: String
    /// `succeeded`, `failed`, `cancelled`, `expired`, `timed_out`, `rejected` — or `unknown` /
    /// `running` while the hold is still pending.
    public var status: CallStatus
    /// `posted` (charged), `voided` or `expired` (nothing charged), `pending`.
    public var holdState: HoldState
    public var heldMicro: MicroUSD
    public var chargedMicro: MicroUSD
    /// Seconds charged for, when charged.
    public var billedSeconds: Int?
    public var upstreamTaskID: String?
    public var upstreamRequestID: String?
    /// The video to download: the upstream's answer, or the one the ledger stored at settlement (v5).
    public var videoURL: String?
    public var videos: [GeneratedVideo] = []
    /// True when this is the first call's result returned again for the same idempotency key.
    public var replayed: Bool
    /// True when the task succeeded after its hold's deadline: recorded for review, not charged.
    public var lateSuccess = false

    public var isCharged: Bool { holdState == .posted }
}

/// What ``MeteredClient/start(_:onEvent:)`` leaves behind.
public enum StartedCall: Sendable, Equatable {
    /// The call is settled (a sync call, or a replay of a settled one).
    case settled(MeteredOutcome)
    /// An async task is running upstream under a hold; ``MeteredClient/finish(holdID:onEvent:)`` settles it.
    case running(RunningCall)
}

/// An async call whose task exists upstream and whose hold is pending.
public struct RunningCall: Sendable, Equatable {
    public var holdID: Int64
    public var idempotencyKey: String
    public var taskID: String
    public var quote: Quote
}

/// Progress of a metered call, for live displays and logs.
public enum MeteringEvent: Sendable, Equatable {
    case quoted(Quote)
    case held(holdID: Int64, amountMicro: MicroUSD, replayed: Bool)
    case submitted(taskID: String)
    case polled(taskID: String, state: TaskState)
    case settled(MeteredOutcome)
}

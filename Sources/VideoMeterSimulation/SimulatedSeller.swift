@_spi(Simulation) import VideoMeterLedger
import VideoMeter
import VideoMeterProviders

/// One request a metered client makes of the upstream.
enum UpstreamCall: Sendable {
    case submit(provider: String, request: GenerationRequest, idempotencyKey: String)
    case status(provider: String, taskID: String)
}

/// What the upstream answers.
enum UpstreamAnswer: Sendable {
    case submission(Submission)
    case status(TaskStatus)
    case error(ProviderError)
}

/// A seller as the metered client sees it, through the same ``VideoProvider`` protocol as the HTTP
/// clients: BlockRun-style (sync: the video or an error in the answer to the create) or
/// WorldRouter-style (async: a task id, then readings).
///
/// It does not speak HTTP: every call parks the calling job until the simulator has the
/// ``SimulatedUpstream`` answer it. The HTTP layer (status codes, bodies, retries of a 424) is
/// covered by the provider and emulator tests, not here.
struct SimulatedSeller: VideoProvider {
    let name: String
    let style: APIStyle
    let scheduler: Scheduler
    /// The process this client belongs to: once it is dead, nothing more is sent.
    let life: ProcessLife

    func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        switch try await call(.submit(provider: name, request: request, idempotencyKey: idempotencyKey)) {
        case .submission(let submission): return submission
        case .error(let error): throw error
        case .status: preconditionFailure("a status answer to a create")
        }
    }

    func status(taskID: String) async throws -> TaskStatus {
        switch try await call(.status(provider: name, taskID: taskID)) {
        case .status(let status): return status
        case .error(let error): throw error
        case .submission: preconditionFailure("a create answer to a status read")
        }
    }

    private func call(_ call: UpstreamCall) async throws -> UpstreamAnswer {
        if life.isDead { throw SimulatedCrash() }
        switch await scheduler.park(.upstream(call)) {
        case .answer(let answer): return answer
        case .woken, .crashed: throw SimulatedCrash()
        }
    }
}

/// The clock a simulated process polls with: a sleep parks the job until the simulator's virtual
/// time reaches its deadline. Instants are whole seconds of the simulation's wall clock.
struct VirtualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    let world: WorldClock
    let scheduler: Scheduler
    let life: ProcessLife

    var now: Instant { Instant(offset: .seconds(world.seconds)) }
    var minimumResolution: Duration { .seconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        if life.isDead { throw CancellationError() }
        // Rounded up to whole seconds: virtual time moves only in whole seconds.
        let (seconds, attoseconds) = deadline.offset.components
        let until = seconds + (attoseconds > 0 ? 1 : 0)
        if until <= world.seconds { return }
        switch await scheduler.park(.sleep(until: until)) {
        case .woken: return
        case .answer, .crashed: throw CancellationError()
        }
    }
}

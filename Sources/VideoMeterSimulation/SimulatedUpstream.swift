import VideoMeter
import VideoMeterMetering
import VideoMeterProviders

/// Draws from the seed: every decision of a run comes from one of these.
struct SeededDraws {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// A uniform integer in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(generator.next() % UInt64(range.count))
    }

    /// A uniform integer in `range`.
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(generator.next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// True `perMille` times in a thousand.
    mutating func chance(_ perMille: Int) -> Bool { int(0...999) < perMille }

    /// One of `choices`, each as likely as its weight.
    mutating func pick<T>(_ choices: [(weight: Int, value: T)]) -> T {
        let total = choices.reduce(0) { $0 + $1.weight }
        var draw = int(0...(total - 1))
        for choice in choices {
            if draw < choice.weight { return choice.value }
            draw -= choice.weight
        }
        return choices[choices.count - 1].value
    }

    /// One element of a non-empty array.
    mutating func element<T>(_ values: [T]) -> T { values[int(0...(values.count - 1))] }

    /// A seed for another generator.
    mutating func fork() -> UInt64 { generator.next() }
}

/// What the upstream told a metering process, as the oracle remembers it.
struct Delivery: Sendable {
    enum Kind: Sendable, Equatable {
        /// A sync create answered with the video, of `seconds`.
        case video(seconds: Int)
        /// A create refused (504, 424, 429, 500, 402): nothing generated.
        case refused(code: String)
        /// A create processed upstream whose answer never arrived (connection dropped).
        case dropped
        /// An async create answered with its task id.
        case taskCreated(id: String)
        /// A reading of a task in a terminal state.
        case terminal(TaskState)
    }

    var kind: Kind
    var step: Int
    /// The process incarnation it was delivered to.
    var incarnation: Int
    var time: Int64
    /// Whether that process lived through the step in which it got the answer (set at the step's
    /// end): only then must the ledger show what the answer implies.
    var survived = false
}

/// An async task upstream.
struct UpstreamTask: Sendable {
    var id: String
    var key: String
    var model: String
    var createdAt: Int64
    var finishesAt: Int64
    /// The state it ends in.
    var outcome: TaskState
    /// The seconds it reports on success.
    var seconds: Int
    var resolution: String
    var requestID: String

    func state(at time: Int64) -> TaskState {
        if time >= finishesAt { return outcome }
        return time < createdAt + 5 ? .queued : .running
    }
}

/// What one idempotency key did, as the upstream saw it: the simulation's ground truth, against
/// which the oracle checks the ledger.
final class CallRecord {
    let key: String
    let request: MeteredRequest
    let style: APIStyle
    /// The total the call was quoted at when first started; nil when pricing refused it.
    var quotedMicro: MicroUSD?
    /// Creates the upstream received with this key.
    var submits = 0
    /// The seconds of the video the upstream generated (sync), or of the task that succeeded
    /// (async, once it has): a billable completion.
    var generatedSeconds: Int?
    /// Whether a sync video was handed to the metering process (not dropped on the way).
    var videoDelivered = false
    var taskID: String?
    var deliveries: [Delivery] = []

    init(key: String, request: MeteredRequest, style: APIStyle) {
        self.key = key
        self.request = request
        self.style = style
    }
}

/// The two sellers' upstream behaviour: decides each create's fate from the seed, keeps every
/// async task, and answers readings as a pure function of the task and virtual time (so the order
/// of reads never changes an outcome).
final class SimulatedUpstream {
    private(set) var calls: [String: CallRecord] = [:]
    /// Keys in the order they were first used, for deterministic iteration.
    private(set) var keys: [String] = []
    private(set) var tasks: [String: UpstreamTask] = [:]
    private var draws: SeededDraws
    private var generated = 0
    /// Deliveries made during the current step: (key, index in the record's deliveries).
    var stepDeliveries: [(key: String, index: Int)] = []

    init(seed: UInt64) { draws = SeededDraws(seed: seed) }

    func register(_ record: CallRecord) {
        guard calls[record.key] == nil else { return }
        calls[record.key] = record
        keys.append(record.key)
    }

    /// Answers `call` for the process `incarnation` at `time`.
    func answer(_ call: UpstreamCall, incarnation: Int, step: Int, time: Int64) -> UpstreamAnswer {
        switch call {
        case .submit(let provider, let request, let key):
            let (answer, kind) = create(provider: provider, request: request, key: key, time: time)
            deliver(kind, key: key, incarnation: incarnation, step: step, time: time)
            return answer
        case .status(let provider, let taskID):
            return read(provider: provider, taskID: taskID, incarnation: incarnation, step: step, time: time)
        }
    }

    /// The process died while `call` was on its way: with even odds the upstream had received the
    /// create (and acts on it, its answer lost) or not. A reading changes nothing upstream.
    func lostInCrash(_ call: UpstreamCall, time: Int64) {
        guard case .submit(let provider, let request, let key) = call, draws.chance(500) else { return }
        _ = create(provider: provider, request: request, key: key, time: time)
    }

    private func deliver(_ kind: Delivery.Kind, key: String, incarnation: Int, step: Int, time: Int64) {
        guard let record = calls[key] else { return }
        record.deliveries.append(Delivery(kind: kind, step: step, incarnation: incarnation, time: time))
        stepDeliveries.append((key, record.deliveries.count - 1))
    }

    private func nextID() -> Int {
        generated += 1
        return generated
    }

    private func create(provider: String, request: GenerationRequest, key: String, time: Int64) -> (UpstreamAnswer, Delivery.Kind) {
        calls[key]?.submits += 1
        let seconds = request.durationSeconds ?? 5
        let resolution = request.resolution ?? "720p"
        if provider == "blockrun" {
            enum Fate { case video, shorter, timeout, rateLimited, failed, payment, drop }
            let fate = draws.pick([
                (560, Fate.video), (100, .shorter), (80, .timeout), (50, .rateLimited), (70, .failed), (30, .payment), (110, .drop),
            ])
            func refusal(_ kind: ProviderError.Kind, _ status: Int) -> (UpstreamAnswer, Delivery.Kind) {
                (.error(ProviderError(kind, provider: provider, message: "simulated \(status)", httpStatus: status)), .refused(code: kind.code))
            }
            switch fate {
            case .video, .shorter, .drop:
                let made = fate == .shorter ? max(1, (seconds + 1) / 2) : seconds
                calls[key]?.generatedSeconds = made
                if fate == .drop {
                    let error = ProviderError(.outcomeUnknown, provider: provider, message: "simulated: connection closed after sending")
                    return (.error(error), .dropped)
                }
                calls[key]?.videoDelivered = true
                let id = nextID()
                let video = GeneratedVideo(url: "https://sim.invalid/v/\(id).mp4", durationSeconds: made, requestID: "br-\(id)")
                let result = GenerationResult(model: request.model, videos: [video], upstreamRequestID: "br-\(id)")
                return (.submission(.completed(result)), .video(seconds: made))
            case .timeout: return refusal(.timeout, 504)
            case .rateLimited: return refusal(.rateLimited, 429)
            case .failed: return refusal(.serverError, 500)
            case .payment: return refusal(.paymentRequired, 402)
            }
        }
        enum Fate { case task, failedDependency, tooManyTasks, drop }
        let fate = draws.pick([(830, Fate.task), (60, .failedDependency), (50, .tooManyTasks), (60, .drop)])
        switch fate {
        case .failedDependency:
            let error = ProviderError(.upstreamFailure, provider: provider, message: "simulated 424", httpStatus: 424, upstreamStatus: 503)
            return (.error(error), .refused(code: error.code))
        case .tooManyTasks:
            let error = ProviderError(.tooManyPendingTasks, provider: provider, message: "simulated 429", httpStatus: 429)
            return (.error(error), .refused(code: error.code))
        case .task, .drop:
            let id = nextID()
            let outcome = draws.pick([
                (700, TaskState.succeeded), (140, .failed), (80, .cancelled), (80, .expired),
            ])
            let shorter = outcome == .succeeded && draws.chance(150)
            // Most tasks take minutes; some outlast the hold (3 h), so that success arrives late.
            let duration = draws.chance(80) ? draws.int64(3 * 3600...5 * 3600) : draws.int64(20...1800)
            let task = UpstreamTask(
                id: "wr-task-\(id)", key: key, model: request.model, createdAt: time, finishesAt: time + duration, outcome: outcome,
                seconds: shorter ? max(1, (seconds + 1) / 2) : seconds, resolution: resolution, requestID: "wr-req-\(id)")
            tasks[task.id] = task
            calls[key]?.taskID = task.id
            if outcome == .succeeded { calls[key]?.generatedSeconds = task.seconds }
            if fate == .drop {
                return (.error(ProviderError(.outcomeUnknown, provider: provider, message: "simulated: connection closed after the task was created")), .dropped)
            }
            return (.submission(.task(id: task.id)), .taskCreated(id: task.id))
        }
    }

    private func read(provider: String, taskID: String, incarnation: Int, step: Int, time: Int64) -> UpstreamAnswer {
        guard let task = tasks[taskID] else {
            return .error(ProviderError(.taskNotFound, provider: provider, message: "simulated 404", httpStatus: 404))
        }
        // Transient read failures: the poller retries them, a single reading passes them on.
        if draws.chance(40) {
            return .error(ProviderError(.serverError, provider: provider, message: "simulated 503", httpStatus: 503))
        }
        if draws.chance(20) {
            return .error(ProviderError(.rateLimited, provider: provider, message: "simulated 429", httpStatus: 429, retryAfter: .seconds(5)))
        }
        let state = task.state(at: time)
        var status = TaskStatus(id: task.id, requestID: task.requestID, model: task.model, state: state)
        if state == .succeeded {
            status.durationSeconds = task.seconds
            status.resolution = task.resolution
            let video = GeneratedVideo(url: "https://sim.invalid/t/\(task.id).mp4", durationSeconds: task.seconds, requestID: task.requestID)
            status.result = GenerationResult(model: task.model, videos: [video], resolution: task.resolution, upstreamRequestID: task.requestID)
        } else if state.isTerminal {
            status.failureCode = state.rawValue
        }
        if state.isTerminal { deliver(.terminal(state), key: task.key, incarnation: incarnation, step: step, time: time) }
        return .status(status)
    }

    /// The latest instant at which any task changes state.
    var lastTaskChange: Int64 { tasks.values.map(\.finishesAt).max() ?? 0 }
}

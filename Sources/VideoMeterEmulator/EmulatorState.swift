import VideoMeter

/// The emulator's memory: tasks, counters, and the seeded fault generator.
///
/// Randomness is drawn per request from a generator seeded with the configured seed, a hash of the
/// request's content and how many times the same content was seen before, so a run replays exactly
/// for a seed even when requests arrive concurrently in a different order.
actor EmulatorState {
    let configuration: EmulatorConfiguration
    private(set) var baseURL = ""
    private var tasks: [String: EmulatedTask] = [:]
    private var taskOrder: [String] = []
    private var occurrences: [UInt64: UInt64] = [:]
    private var nextSequence: UInt64 = 0
    private var inFlight = 0
    private var rejected = 0
    private var upstreamFailures = 0

    /// How long a generation takes: the configured latency until ``setLatency(_:)`` changes it.
    private(set) var latency: Duration

    init(configuration: EmulatorConfiguration) {
        self.configuration = configuration
        self.latency = configuration.latency
    }

    func setBaseURL(_ url: String) { baseURL = url }

    /// A generator for one request, determined by the seed, the content and its occurrence count.
    func generator(forContent content: String) -> SplitMix64 {
        let hash = fnv1a(content)
        let occurrence = occurrences[hash, default: 0]
        occurrences[hash] = occurrence + 1
        var mixer = SplitMix64(seed: configuration.seed ^ hash)
        for _ in 0...occurrence { _ = mixer.next() }
        return SplitMix64(seed: mixer.next())
    }

    func recordRejection() { rejected += 1 }
    func recordUpstreamFailure() { upstreamFailures += 1 }

    /// BlockRun: admits one more request in flight unless the pending cap is reached.
    func admitInFlight() -> Bool {
        guard inFlight < configuration.pendingCap else { return false }
        inFlight += 1
        return true
    }

    func leaveInFlight() { inFlight -= 1 }

    enum Admission {
        case created(EmulatedTask)
        case tooManyPending
        case upstreamFailure
    }

    /// WorldRouter: creates the task unless the owner is at the pending cap (429) or the upstream
    /// fails (424); either refusal creates nothing. Checked and created in one step, so concurrent
    /// creates cannot overshoot the cap.
    func admitTask(
        model: String, durationSeconds: Int, resolution: String, owner: String, finalStatus: EmulatedTask.Status,
        pendingCap: Int, upstreamFails: Bool, imageCount: Int = 0, aspectRatio: String? = nil
    ) -> Admission {
        guard pendingTasks(owner: owner) < pendingCap else {
            rejected += 1
            return .tooManyPending
        }
        guard !upstreamFails else {
            upstreamFailures += 1
            return .upstreamFailure
        }
        return .created(createTask(
            model: model, durationSeconds: durationSeconds, resolution: resolution, owner: owner, finalStatus: finalStatus,
            imageCount: imageCount, aspectRatio: aspectRatio))
    }

    /// WorldRouter: the owner's tasks that are not terminal yet.
    func pendingTasks(owner: String) -> Int {
        let now = ContinuousClock.now
        var pending = 0
        for task in tasks.values where task.owner == owner && !task.status(at: now, latency: latency, style: configuration.style).isTerminal {
            pending += 1
        }
        return pending
    }

    /// Creates a task with the outcome it will reach, and returns it.
    func createTask(
        model: String, durationSeconds: Int, resolution: String, owner: String, finalStatus: EmulatedTask.Status, imageCount: Int = 0,
        aspectRatio: String? = nil
    ) -> EmulatedTask {
        nextSequence += 1
        var ids = SplitMix64(seed: configuration.seed ^ (nextSequence &* 0x9E37_79B9_7F4A_7C15))
        let suffix = hex(ids.next())
        let prefix = configuration.style.idPrefix
        var task = EmulatedTask(
            id: prefix + suffix,
            requestID: "req_" + hex(ids.next()),
            model: model,
            durationSeconds: durationSeconds,
            resolution: resolution,
            owner: owner,
            createdAt: .now,
            finalStatus: finalStatus,
            settledStatus: nil
        )
        task.imageCount = imageCount
        task.aspectRatio = aspectRatio
        tasks[task.id] = task
        taskOrder.append(task.id)
        return task
    }

    /// BlockRun: records how the synchronous request ended.
    func settle(taskID: String, as status: EmulatedTask.Status) {
        tasks[taskID]?.settledStatus = status
    }

    func task(id: String) -> EmulatedTask? { tasks[id] }

    func status(of task: EmulatedTask) -> EmulatedTask.Status {
        task.status(at: .now, latency: latency, style: configuration.style)
    }

    /// The counters and every task as `GET /_emulator/stats` shows them.
    func setLatency(_ latency: Duration) {
        self.latency = max(.zero, latency)
    }

    func stats() -> EmulatorStats {
        let now = ContinuousClock.now
        var stats = EmulatorStats(style: configuration.style.name)
        stats.rejected = rejected
        stats.upstreamFailures = upstreamFailures
        for id in taskOrder {
            guard let task = tasks[id] else { continue }
            let status = task.status(at: now, latency: latency, style: configuration.style)
            stats.created += 1
            switch status {
            case .succeeded: stats.completed += 1
            case .failed: stats.failed += 1
            case .moderated: stats.moderated += 1
            case .timedOut: stats.timedOut += 1
            case .cancelled: stats.cancelled += 1
            case .expired: stats.expired += 1
            case .dropped: stats.dropped += 1
            case .queued, .running: stats.pending += 1
            }
            stats.tasks[id] = EmulatorStats.Task(
                status: status.rawValue, model: task.model, duration: task.durationSeconds,
                resolution: task.resolution, owner: task.owner, requestID: task.requestID, aspectRatio: task.aspectRatio)
        }
        return stats
    }
}

/// FNV-1a, 64 bits: a stable hash across runs and platforms (Swift's `Hasher` is randomly seeded).
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// How the emulator names an owner in its stats: a short hash, never the key itself.
func ownerHash(_ secret: String?) -> String {
    guard let secret, !secret.isEmpty else { return "anonymous" }
    return "key_" + hex(fnv1a(secret)).prefix(12)
}

extension SplitMix64 {
    /// A uniform draw in `0..<1` with 53 bits of precision.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(UInt64(1) << 53)
    }
}

import VideoMeter

/// Polls an async task until it is terminal (succeeded, failed, cancelled, expired), with backoff,
/// jitter and `Retry-After`, reporting every reading.
///
/// Transient read errors (5xx, 429, 424, transport errors) are retried until the deadline; a
/// 403 or 404 is thrown at once. Reads are idempotent, so retrying them is always safe.
public struct TaskPoller<C: Clock>: Sendable where C.Duration == Duration {
    public let provider: any VideoProvider
    public let policy: PollPolicy
    public let clock: C

    public init(provider: any VideoProvider, policy: PollPolicy, clock: C) {
        self.provider = provider
        self.policy = policy
        self.clock = clock
    }

    /// Reads the task until it is terminal and returns the terminal reading.
    ///
    /// - Parameter onUpdate: called with every successful reading, terminal included.
    /// - Throws: ``ProviderError`` (`poll_deadline_exceeded` at the deadline), or `CancellationError`.
    public func poll(taskID: String, onUpdate: @Sendable (TaskStatus) async -> Void = { _ in }) async throws -> TaskStatus {
        let start = clock.now
        let deadline = start.advanced(by: policy.deadline)
        var random = SplitMix64(seed: policy.seed ^ stableHash(taskID))
        var attempt = 0
        var lastState: TaskState?
        var lastError: ProviderError?
        while true {
            var retryAfter: Duration?
            do {
                let status = try await provider.status(taskID: taskID)
                await onUpdate(status)
                if status.state.isTerminal { return status }
                lastState = status.state
                lastError = nil
            } catch let error as ProviderError where error.isTransient {
                retryAfter = error.retryAfter
                lastError = error
            }
            var wait = policy.interval(afterAttempt: attempt) * (1 - policy.jitter * random.nextUnit())
            if let retryAfter { wait = max(wait, retryAfter) }
            attempt += 1
            let now = clock.now
            if now >= deadline {
                let state = lastState?.rawValue ?? "unread"
                let reason = lastError.map { " (last error: \($0.code))" } ?? ""
                throw ProviderError(
                    .pollDeadlineExceeded, provider: provider.name,
                    message: "Task \(taskID) was still \(state) after \(policy.deadline)\(reason); it stays open upstream.")
            }
            // The last wait ends at the deadline, for one final reading.
            let wake = min(now.advanced(by: wait), deadline)
            try await clock.sleep(until: wake, tolerance: nil)
        }
    }
}

extension SplitMix64 {
    /// A uniform draw in `0..<1` with 53 bits of precision.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(UInt64(1) << 53)
    }
}

/// FNV-1a, 64 bits: stable across runs (Swift's `Hasher` is randomly seeded per process).
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

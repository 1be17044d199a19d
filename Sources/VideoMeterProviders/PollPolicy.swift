/// How ``TaskPoller`` waits between task reads: exponential backoff with jitter, bounded by a
/// deadline.
///
/// The n-th wait is `min(maxInterval, initialInterval * 2^n)`, scaled by a random factor in
/// `(1 - jitter)...1` drawn from a `SplitMix64` seeded with ``seed`` and the task id (so a run
/// replays), and never shorter than the upstream's `Retry-After`.
public struct PollPolicy: Sendable, Equatable {
    public var initialInterval: Duration
    public var maxInterval: Duration
    /// Polling gives up with `poll_deadline_exceeded` after this long; the task stays open upstream.
    public var deadline: Duration
    /// The fraction of each wait that is randomised, `0...1`.
    public var jitter: Double
    public var seed: UInt64

    public init(
        initialInterval: Duration = .seconds(2), maxInterval: Duration = .seconds(15), deadline: Duration = .seconds(600),
        jitter: Double = 0.5, seed: UInt64 = 0
    ) {
        precondition(initialInterval > .zero && maxInterval >= initialInterval, "intervals must be positive and ordered")
        precondition((0...1).contains(jitter), "jitter must be within 0...1")
        self.initialInterval = initialInterval
        self.maxInterval = maxInterval
        self.deadline = deadline
        self.jitter = jitter
        self.seed = seed
    }

    /// The wait before attempt `attempt + 1`, before jitter.
    public func interval(afterAttempt attempt: Int) -> Duration {
        var interval = initialInterval
        for _ in 0..<min(attempt, 32) {
            interval = interval * 2
            if interval >= maxInterval { return maxInterval }
        }
        return min(interval, maxInterval)
    }
}

/// How a WorldRouter create that answers 424 is retried. A 424 creates no task, so a retry cannot
/// create a duplicate.
public struct CreateRetryPolicy: Sendable, Equatable {
    /// Attempts in all, including the first; `1` disables retries.
    public var maxAttempts: Int
    public var initialInterval: Duration
    public var maxInterval: Duration

    public init(maxAttempts: Int = 3, initialInterval: Duration = .milliseconds(500), maxInterval: Duration = .seconds(5)) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        self.maxAttempts = maxAttempts
        self.initialInterval = initialInterval
        self.maxInterval = maxInterval
    }

    /// No retry: a 424 is thrown at once.
    public static let none = CreateRetryPolicy(maxAttempts: 1)
}

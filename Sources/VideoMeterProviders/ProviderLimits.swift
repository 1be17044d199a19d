/// Client-side guards for one provider, so the engine does not provoke 429s it can foresee.
///
/// `requestsPerMinute` limits generation requests (creates and sync calls; task reads are not
/// counted). `maxPendingTasks` caps the calls in flight (sync) or the tasks created and not yet seen
/// terminal (async). By default a call over a limit **waits** for room: the metered client has
/// already held the money, and waiting costs less than a 429 from the upstream. With
/// `.failFast` it throws `rate_limited_locally` at once, for interactive callers that prefer an
/// immediate answer. A waiting call gives up when its task is cancelled, and a call that would wait
/// longer than `maximumWait` for the rate limit throws `rate_limited_locally` at once instead
/// (with the wait as `retryAfter`): under sustained overload the queue of waiting calls, each
/// holding its team's money and its client's connection, stays bounded (at 60 a minute and the
/// default two minutes, about 120 calls).
public struct ProviderLimits: Sendable, Equatable {
    /// What a call over a limit does.
    public enum WhenExceeded: String, Sendable, Equatable {
        /// Wait until the limit allows the call.
        case wait
        /// Throw ``ProviderError/Kind/rateLimitedLocally`` at once.
        case failFast = "fail_fast"
    }

    /// `nil`: no limit. BlockRun documents 60 (xAI's cap).
    public var requestsPerMinute: Int?
    /// How many requests may go at once after a quiet period; defaults to the per-minute figure.
    public var burst: Int?
    /// `nil`: no cap.
    public var maxPendingTasks: Int?
    public var whenExceeded: WhenExceeded
    /// The longest a call waits for the requests-per-minute limit (`.wait`).
    public var maximumWait: Duration
    /// Two minutes: at 60 requests a minute, about 120 calls wait at most.
    public static let defaultMaximumWait: Duration = .seconds(120)

    public init(
        requestsPerMinute: Int? = nil, burst: Int? = nil, maxPendingTasks: Int? = nil, whenExceeded: WhenExceeded = .wait,
        maximumWait: Duration = ProviderLimits.defaultMaximumWait
    ) {
        precondition(requestsPerMinute.map { $0 > 0 } ?? true, "requestsPerMinute must be positive")
        precondition(burst.map { $0 > 0 } ?? true, "burst must be positive")
        precondition(maxPendingTasks.map { $0 > 0 } ?? true, "maxPendingTasks must be positive")
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
        self.maxPendingTasks = maxPendingTasks
        self.whenExceeded = whenExceeded
        self.maximumWait = maximumWait
    }

    /// No client-side limits.
    public static let unlimited = ProviderLimits()
}

/// A requests-per-minute limiter: a token bucket, in the exact form of the generic cell rate
/// algorithm (one request every `60 s / rate`, with `burst` requests allowed at once).
public actor RequestRateLimiter<C: Clock> where C.Duration == Duration {
    private let clock: C
    private let interval: Duration
    private let tolerance: Duration
    /// When the next request would be on schedule if no burst were allowed.
    private var theoreticalArrival: C.Instant

    public init(requestsPerMinute: Int, burst: Int? = nil, clock: C) {
        precondition(requestsPerMinute > 0, "requestsPerMinute must be positive")
        self.clock = clock
        self.interval = .seconds(60) / requestsPerMinute
        self.tolerance = interval * ((burst ?? requestsPerMinute) - 1)
        self.theoreticalArrival = clock.now
    }

    /// Takes one request's worth of the budget: returns at once, after waiting (`.wait`, at most
    /// `maximumWait`), or throws `rate_limited_locally` with the time to wait (`.failFast`, or a
    /// wait longer than `maximumWait`; nothing is reserved then).
    public func acquire(_ policy: ProviderLimits.WhenExceeded, maximumWait: Duration = ProviderLimits.defaultMaximumWait, provider: String) async throws {
        let now = clock.now
        let arrival = max(theoreticalArrival, now)
        let allowedAt = arrival.advanced(by: .zero - tolerance)
        if allowedAt <= now {
            theoreticalArrival = arrival.advanced(by: interval)
            return
        }
        let wait = now.duration(to: allowedAt)
        if policy == .wait, wait > maximumWait {
            throw ProviderError(
                .rateLimitedLocally, provider: provider,
                message: "The \(provider) requests-per-minute limit has more calls waiting than it serves in \(maximumWait); try again later.",
                retryAfter: wait)
        }
        switch policy {
        case .failFast:
            throw ProviderError(
                .rateLimitedLocally, provider: provider,
                message: "The \(provider) requests-per-minute limit is reached; try again later.", retryAfter: wait)
        case .wait:
            // Reserve the slot now, so concurrent waiters queue up behind each other.
            theoreticalArrival = arrival.advanced(by: interval)
            try await clock.sleep(until: allowedAt, tolerance: nil)
        }
    }
}

/// An asynchronous counting semaphore: the cap on calls in flight or tasks pending per provider.
public actor PendingTaskLimiter {
    public let capacity: Int
    private var inUse = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiter: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
    }

    /// Slots taken now.
    public var count: Int { inUse }

    /// Takes a slot: at once if one is free, else waits (`.wait`, in arrival order) or throws
    /// `rate_limited_locally` (`.failFast`). A cancelled waiter throws `CancellationError`.
    public func acquire(_ policy: ProviderLimits.WhenExceeded, provider: String) async throws {
        if inUse < capacity {
            inUse += 1
            return
        }
        guard policy == .wait else {
            throw ProviderError(
                .rateLimitedLocally, provider: provider,
                message: "\(capacity) \(provider) tasks are already pending; wait for one to finish.")
        }
        nextWaiter += 1
        let id = nextWaiter
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// How many callers are waiting for a slot.
    public var waiting: Int { waiters.count }

    /// Gives a slot back; the longest waiter, if any, takes it over.
    public func release() {
        if waiters.isEmpty {
            precondition(inUse > 0, "release() without a matching acquire()")
            inUse -= 1
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}

/// The guards of one client instance, built from ``ProviderLimits``.
struct ProviderGuards: Sendable {
    let policy: ProviderLimits.WhenExceeded
    let maximumWait: Duration
    let rate: RequestRateLimiter<ContinuousClock>?
    let pending: PendingTaskLimiter?

    init(_ limits: ProviderLimits) {
        policy = limits.whenExceeded
        maximumWait = limits.maximumWait
        rate = limits.requestsPerMinute.map {
            RequestRateLimiter(requestsPerMinute: $0, burst: limits.burst, clock: ContinuousClock())
        }
        pending = limits.maxPendingTasks.map { PendingTaskLimiter(capacity: $0) }
    }

    /// Waits for the requests-per-minute budget.
    func admitRequest(provider: String) async throws {
        if let rate { try await rate.acquire(policy, maximumWait: maximumWait, provider: provider) }
    }

    /// Runs `body` holding a pending slot, released however `body` ends.
    func withPendingSlot<T: Sendable>(provider: String, _ body: () async throws -> T) async throws -> T {
        guard let pending else { return try await body() }
        try await pending.acquire(policy, provider: provider)
        do {
            let value = try await body()
            await pending.release()
            return value
        } catch {
            await pending.release()
            throw error
        }
    }
}

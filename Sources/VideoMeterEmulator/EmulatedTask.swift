/// One generation the emulator accepted: a WorldRouter task, or a BlockRun request that got past
/// validation.
struct EmulatedTask: Sendable {
    /// Where a task is in its life; the names are WorldRouter's, plus BlockRun's `timed_out` (504)
    /// and `dropped` (connection closed without a response).
    enum Status: String, Sendable {
        case queued, running, succeeded, failed, cancelled, expired
        case timedOut = "timed_out"
        case dropped
        /// Generated and blocked by moderation (xAI), billed by the seller.
        case moderated

        var isTerminal: Bool { self != .queued && self != .running }
    }

    let id: String
    let requestID: String
    let model: String
    let durationSeconds: Int
    let resolution: String
    /// Input images (xAI bills each).
    var imageCount = 0
    /// The request's `aspect_ratio`, if any.
    var aspectRatio: String?
    /// A hash of the key (WorldRouter) or payment header (BlockRun); never the secret itself.
    let owner: String
    let createdAt: ContinuousClock.Instant
    /// The outcome drawn at creation, reached once the latency has elapsed.
    let finalStatus: Status
    /// BlockRun: set once the synchronous request has answered; `nil` while it is in flight.
    var settledStatus: Status?

    /// The status at `now`: queued for the first third of the latency, running until it has
    /// elapsed, then ``finalStatus``. Synchronous requests (BlockRun) report `running` until they answer.
    func status(at now: ContinuousClock.Instant, latency: Duration, style: EmulatorStyle) -> Status {
        switch style.delivery {
        case .sync:
            return settledStatus ?? .running
        case .async:
            let elapsed = createdAt.duration(to: now)
            if elapsed >= latency { return finalStatus }
            return elapsed < latency / 3 ? .queued : .running
        }
    }
}

/// What the emulator has seen, as `GET /_emulator/stats` returns it.
///
/// A test compares it with the ledger: every task counted in ``completed`` must be charged exactly
/// once, and nothing else at all. Statuses are computed when the stats are read, so a WorldRouter
/// task that finished but was never polled counts as finished.
public struct EmulatorStats: Codable, Sendable, Equatable {
    /// One task (WorldRouter) or accepted request (BlockRun).
    public struct Task: Codable, Sendable, Equatable {
        /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `expired`, `timed_out` or `dropped`.
        public var status: String
        public var model: String
        /// Seconds, as requested or defaulted.
        public var duration: Int
        public var resolution: String
        /// A hash of the API key or payment header (`anonymous` when none was sent).
        public var owner: String
        public var requestID: String
        /// The `aspect_ratio` the request carried, if any (a pass-through member).
        public var aspectRatio: String?

        enum CodingKeys: String, CodingKey {
            case status, model, duration, resolution, owner
            case requestID = "request_id"
            case aspectRatio = "aspect_ratio"
        }
    }

    public var style: String
    /// Tasks created (WorldRouter) or requests accepted past validation (BlockRun).
    public var created = 0
    /// Generations that succeeded.
    public var completed = 0
    public var failed = 0
    /// BlockRun 504s.
    public var timedOut = 0
    public var cancelled = 0
    public var expired = 0
    /// Accepted generations whose response was dropped on purpose (`[emulate:drop]`, BlockRun).
    public var dropped = 0
    /// Generations blocked by moderation (`[emulate:moderated]`, xAI: billed by the seller).
    public var moderated = 0
    /// Not terminal yet.
    public var pending = 0
    /// Requests refused before a task was created (400, 401, 402, 403, 429).
    public var rejected = 0
    /// WorldRouter 424s (no task created).
    public var upstreamFailures = 0
    /// Every task by id.
    public var tasks: [String: Task] = [:]

    public init(style: String) { self.style = style }

    enum CodingKeys: String, CodingKey {
        case style, created, completed, failed, cancelled, expired, dropped, moderated, pending, rejected, tasks
        case timedOut = "timed_out"
        case upstreamFailures = "upstream_failures"
    }
}

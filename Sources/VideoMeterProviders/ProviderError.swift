import VideoMeter

/// An upstream call that did not produce a video, with a stable code and what is known about the
/// request's fate.
///
/// Match on ``kind`` (`error.kind == .timeout`) or on ``code``. Messages never contain API keys or
/// payment headers.
public struct ProviderError: CodedError, Equatable {
    /// What went wrong; each kind has one stable ``code``.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable, CaseIterable {
            case upstreamInvalidRequest = "upstream_invalid_request"
            case invalidRequest = "invalid_request"
            case upstreamUnauthorized = "upstream_unauthorized"
            case paymentRequired = "upstream_payment_required"
            case balanceTooLow = "grok_video_balance_too_low"
            case forbidden = "upstream_forbidden"
            case teamRequired = "grok_video_team_required"
            case accessDenied = "media_resource_access_denied"
            case taskNotFound = "upstream_task_not_found"
            case rateLimited = "upstream_rate_limited"
            case tooManyPendingTasks = "grok_video_too_many_pending_tasks"
            case upstreamFailure = "upstream_failure"
            case serverError = "upstream_server_error"
            case timeout = "upstream_timeout"
            case unexpectedStatus = "upstream_unexpected_status"
            case badResponse = "upstream_bad_response"
            case unreachable = "upstream_unreachable"
            case outcomeUnknown = "outcome_unknown"
            case rateLimitedLocally = "rate_limited_locally"
            case pollDeadlineExceeded = "poll_deadline_exceeded"
            case statusUnsupported = "task_status_unsupported"
            case misconfigured = "provider_misconfigured"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stable snake_case code.
        public var code: String { base.rawValue }

        /// Every kind's code.
        public static var allCodes: [String] { Base.allCases.map(\.rawValue) }
        public var description: String { base.rawValue }

        /// 400 from BlockRun (bad prompt, parameters, duration above the model's maximum), or a 400
        /// from WorldRouter with a code other than `invalid_request`.
        public static let upstreamInvalidRequest = Kind(.upstreamInvalidRequest)
        /// WorldRouter 400 `invalid_request` (e.g. 1.5-preview without `image.url`).
        public static let invalidRequest = Kind(.invalidRequest)
        /// 401: the API key is missing or unknown.
        public static let upstreamUnauthorized = Kind(.upstreamUnauthorized)
        /// BlockRun 402: payment required, or its verification or settlement failed.
        public static let paymentRequired = Kind(.paymentRequired)
        /// WorldRouter 402 `grok_video_balance_too_low`.
        public static let balanceTooLow = Kind(.balanceTooLow)
        /// BlockRun 403: content policy violation (or another 403 without a known code).
        public static let forbidden = Kind(.forbidden)
        /// WorldRouter 403 `grok_video_team_required`: the key is not scoped to a team.
        public static let teamRequired = Kind(.teamRequired)
        /// WorldRouter 403 `media_resource_access_denied`: another owner's task.
        public static let accessDenied = Kind(.accessDenied)
        /// 404 on a task read: no such task.
        public static let taskNotFound = Kind(.taskNotFound)
        /// BlockRun 429 (xAI caps at 60 requests per minute).
        public static let rateLimited = Kind(.rateLimited)
        /// WorldRouter 429 `grok_video_too_many_pending_tasks`.
        public static let tooManyPendingTasks = Kind(.tooManyPendingTasks)
        /// WorldRouter 424: the video provider behind WorldRouter failed; no task was created.
        public static let upstreamFailure = Kind(.upstreamFailure)
        /// 500 and other 5xx except 504.
        public static let serverError = Kind(.serverError)
        /// 504: BlockRun's 85 s cap; no payment is taken.
        public static let timeout = Kind(.timeout)
        /// A status the upstream does not document.
        public static let unexpectedStatus = Kind(.unexpectedStatus)
        /// A success status with a body that could not be read; the generation may have happened.
        public static let badResponse = Kind(.badResponse)
        /// The request could not be sent (connection refused, DNS, connect timeout).
        public static let unreachable = Kind(.unreachable)
        /// The request was sent but no answer came back (read timeout, connection reset or closed).
        public static let outcomeUnknown = Kind(.outcomeUnknown)
        /// A client-side guard (requests per minute, pending tasks) refused to send.
        public static let rateLimitedLocally = Kind(.rateLimitedLocally)
        /// Polling stopped at its deadline while the task was still open upstream.
        public static let pollDeadlineExceeded = Kind(.pollDeadlineExceeded)
        /// A sync provider has no task to read.
        public static let statusUnsupported = Kind(.statusUnsupported)
        /// The client's configuration cannot work (e.g. a base URL that is not http or https).
        public static let misconfigured = Kind(.misconfigured)
    }

    /// What is known about whether the upstream acted on the request.
    public enum Delivery: String, Sendable, Equatable {
        /// Nothing reached the upstream: safe to retry, nothing can have been generated or charged.
        case notSent = "not_sent"
        /// The upstream answered with an error: nothing was generated.
        case refused
        /// The request may have been processed: keep any hold until reconciled.
        case unknown
    }

    public let kind: Kind
    /// The provider's ``VideoProvider/name``.
    public let provider: String
    public let message: String
    /// The HTTP status the upstream answered with, if it answered.
    public let httpStatus: Int?
    /// The upstream's own error code, when its body carried one.
    public let upstreamCode: String?
    /// WorldRouter 424: the status of the provider behind WorldRouter (`upstream_status`).
    public let upstreamStatus: Int?
    /// How long the upstream asked to wait (`Retry-After`), or the local limiter's estimate.
    public let retryAfter: Duration?

    public init(
        _ kind: Kind, provider: String, message: String, httpStatus: Int? = nil, upstreamCode: String? = nil,
        upstreamStatus: Int? = nil, retryAfter: Duration? = nil
    ) {
        self.kind = kind
        self.provider = provider
        self.message = message
        self.httpStatus = httpStatus
        self.upstreamCode = upstreamCode
        self.upstreamStatus = upstreamStatus
        self.retryAfter = retryAfter
    }

    public var code: String { kind.code }

    public var delivery: Delivery {
        switch kind {
        case .unreachable, .rateLimitedLocally, .misconfigured, .statusUnsupported: .notSent
        case .outcomeUnknown, .pollDeadlineExceeded: .unknown
        case .badResponse: (httpStatus.map { (200..<300).contains($0) } ?? true) ? .unknown : .refused
        default: .refused
        }
    }

    /// Whether trying the same request again later can succeed (rate limits, 5xx, 504, 424,
    /// transport errors); invalid requests, payment and permission errors are not.
    public var isTransient: Bool {
        switch kind {
        case .rateLimited, .tooManyPendingTasks, .upstreamFailure, .serverError, .timeout, .unreachable,
             .outcomeUnknown, .rateLimitedLocally:
            true
        default:
            false
        }
    }
}

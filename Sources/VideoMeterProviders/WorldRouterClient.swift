import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import VideoMeter

/// A client for WorldRouter's asynchronous Grok video API: create a task with a team-scoped Bearer
/// key, poll it until it is terminal, read `content.video_url`.
///
/// A create that answers 424 created no task and is retried per ``Configuration/createRetry``. Task
/// reads are owner-scoped upstream: another key's task is `media_resource_access_denied`.
public struct WorldRouterClient: VideoProvider {
    public struct Configuration: Sendable, CustomStringConvertible {
        /// The origin from WorldRouter's quickstart.
        public static let defaultBaseURL = "https://inference-api-pre-d80ca3.worldrouter.ai"

        /// Without the `/v1/...` path.
        public var baseURL: String
        /// The team-scoped API key, sent as `Authorization: Bearer`; never logged.
        public var apiKey: Secret
        /// Each create or read, connection to last byte.
        public var requestTimeout: Duration
        public var createRetry: CreateRetryPolicy
        /// Used by ``WorldRouterClient/poll(taskID:onUpdate:)``.
        public var poll: PollPolicy
        public var maxResponseBytes: Int
        public var limits: ProviderLimits
        /// Seeds the jitter of create retries.
        public var seed: UInt64
        public var name: String

        public init(
            baseURL: String = Configuration.defaultBaseURL, apiKey: Secret, requestTimeout: Duration = .seconds(30),
            createRetry: CreateRetryPolicy = .init(), poll: PollPolicy = .init(), maxResponseBytes: Int = 1 << 20,
            limits: ProviderLimits = .unlimited, seed: UInt64 = 0, name: String = "worldrouter"
        ) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.requestTimeout = requestTimeout
            self.createRetry = createRetry
            self.poll = poll
            self.maxResponseBytes = maxResponseBytes
            self.limits = limits
            self.seed = seed
            self.name = name
        }

        public var description: String {
            "WorldRouter(baseURL: \(baseURL), apiKey: [redacted], requestTimeout: \(requestTimeout))"
        }
    }

    public let configuration: Configuration
    public var name: String { configuration.name }
    public var style: APIStyle { .async }

    private let httpClient: HTTPClient
    private let baseURL: String
    private let guards: ProviderGuards
    private let pendingTasks: PendingTaskRegistry
    private let logger: Logger

    /// - Parameter httpClient: shared, owned by the caller, who shuts it down.
    /// - Throws: `provider_misconfigured` for a base URL that is not http(s) or an empty key.
    public init(httpClient: HTTPClient, configuration: Configuration, logger: Logger = Logger(label: "videometer.providers.worldrouter")) throws {
        self.httpClient = httpClient
        self.configuration = configuration
        self.baseURL = try normalisedBaseURL(configuration.baseURL, provider: configuration.name)
        guard !configuration.apiKey.value.isEmpty else {
            throw ProviderError(.misconfigured, provider: configuration.name, message: "The \(configuration.name) API key is empty.")
        }
        self.guards = ProviderGuards(configuration.limits)
        self.pendingTasks = PendingTaskRegistry()
        self.logger = logger
    }


    private struct CreateResponse: Decodable {
        var id: String
        var request_id: String?
        var model: String?
        var status: String?
    }

    private struct StatusResponse: Decodable {
        struct Content: Decodable {
            var video_url: String?
            var duration: Int?
            var resolution: String?
        }
        struct Failure: Decodable {
            var code: String?
            var message: String?
        }
        var id: String
        var request_id: String?
        var model: String?
        var status: String
        var duration: Int?
        var resolution: String?
        var content: Content?
        var error: Failure?
    }

    /// Creates a task; returns ``Submission/task(id:)``. The pending-task guard keeps a slot for the
    /// task until a read shows it terminal, or ``releasePendingSlot(taskID:)`` is called.
    public func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        try await guards.admitRequest(provider: name)
        if let pending = guards.pending { try await pending.acquire(guards.policy, provider: name) }
        do {
            let id = try await createWithRetry(request, idempotencyKey: idempotencyKey)
            if guards.pending != nil { await pendingTasks.insert(id) }
            return .task(id: id)
        } catch {
            await guards.pending?.release()
            throw error
        }
    }

    private func createWithRetry(_ request: GenerationRequest, idempotencyKey: String) async throws -> String {
        let body = try JSONEncoder().encode(GrokCreateBody(request))
        var random = SplitMix64(seed: configuration.seed ^ stableHash(idempotencyKey))
        var logger = self.logger
        logger[metadataKey: "provider"] = "\(name)"
        logger[metadataKey: "model"] = "\(request.model)"
        logger[metadataKey: "idempotency.key"] = "\(idempotencyKey)"
        var attempt = 1
        while true {
            var http = HTTPClientRequest.json(
                url: baseURL + "/v1/videos/generations", method: .POST, body: body, idempotencyKey: idempotencyKey)
            http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey.value)")
            logger.debug("Creating task", metadata: ["attempt": "\(attempt)"])
            let exchange = try await send(http)
            if exchange.status == 200 || exchange.status == 201 || exchange.status == 202 {
                guard let created = try? JSONDecoder().decode(CreateResponse.self, from: exchange.body), !created.id.isEmpty else {
                    throw ProviderError(
                        .badResponse, provider: name,
                        message: "\(name) accepted the task but its id could not be read; the task may exist.",
                        httpStatus: exchange.status)
                }
                logger.debug("Task created", metadata: ["task.id": "\(created.id)"])
                return created.id
            }
            let error = error(for: exchange)
            guard error.kind == .upstreamFailure, attempt < configuration.createRetry.maxAttempts else { throw error }
            // A 424 created no task: retrying cannot duplicate one.
            var wait = configuration.createRetry.initialInterval
            for _ in 1..<attempt { wait = min(wait * 2, configuration.createRetry.maxInterval) }
            wait = wait * (0.5 + 0.5 * random.nextUnit())
            if let retryAfter = error.retryAfter { wait = max(wait, retryAfter) }
            logger.debug("Upstream failure (424), retrying", metadata: ["retry.wait": "\(wait)"])
            try await Task.sleep(for: wait)
            attempt += 1
        }
    }

    /// Reads a task once. A terminal reading frees the task's pending slot.
    public func status(taskID: String) async throws -> TaskStatus {
        guard !taskID.isEmpty, taskID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ProviderError(.taskNotFound, provider: name, message: "'\(taskID)' is not a task id.")
        }
        var http = HTTPClientRequest.json(
            url: baseURL + "/v1/videos/generations/" + taskID, method: .GET, body: nil, idempotencyKey: nil)
        http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey.value)")
        let exchange = try await send(http)
        guard exchange.status == 200 else { throw error(for: exchange) }
        guard let decoded = try? JSONDecoder().decode(StatusResponse.self, from: exchange.body) else {
            throw ProviderError(
                .badResponse, provider: name, message: "\(name) answered 200 for task \(taskID) with an unreadable body.",
                httpStatus: 200)
        }
        let state = TaskState(rawValue: decoded.status)
        let seconds = decoded.content?.duration ?? decoded.duration
        let resolution = decoded.content?.resolution ?? decoded.resolution
        var result: GenerationResult?
        if state == .succeeded {
            guard let url = decoded.content?.video_url, !url.isEmpty else {
                throw ProviderError(
                    .badResponse, provider: name, message: "\(name) task \(taskID) succeeded without content.video_url.",
                    httpStatus: 200)
            }
            result = GenerationResult(
                model: decoded.model ?? "",
                videos: [GeneratedVideo(url: url, durationSeconds: seconds, requestID: decoded.request_id)],
                resolution: resolution, upstreamRequestID: decoded.request_id ?? decoded.id)
        }
        if state.isTerminal { await releasePendingSlot(taskID: taskID) }
        return TaskStatus(
            id: decoded.id, requestID: decoded.request_id, model: decoded.model, state: state, durationSeconds: seconds,
            resolution: resolution, result: result, failureCode: decoded.error?.code, failureMessage: decoded.error?.message)
    }

    /// Polls the task with ``Configuration/poll`` until it is terminal; see ``TaskPoller``.
    public func poll(taskID: String, onUpdate: @Sendable (TaskStatus) async -> Void = { _ in }) async throws -> TaskStatus {
        try await TaskPoller(provider: self, policy: configuration.poll, clock: ContinuousClock())
            .poll(taskID: taskID, onUpdate: onUpdate)
    }

    /// Frees the pending slot of a task this client created, when the caller stops following it
    /// without having seen it terminal (e.g. after `poll_deadline_exceeded`). Idempotent.
    public func releasePendingSlot(taskID: String) async {
        if await pendingTasks.remove(taskID) { await guards.pending?.release() }
    }

    private func send(_ request: HTTPClientRequest) async throws -> HTTPExchange {
        try await HTTPExchange.send(
            request, on: httpClient, timeout: configuration.requestTimeout, maxBodyBytes: configuration.maxResponseBytes,
            provider: name)
    }

    private func error(for exchange: HTTPExchange) -> ProviderError {
        let upstream = exchange.upstreamError
        let detail = configuration.apiKey.redact(upstream.message ?? "")
        let kind: ProviderError.Kind = switch (exchange.status, upstream.code) {
        case (400, "invalid_request"): .invalidRequest
        case (400, _): .upstreamInvalidRequest
        case (401, _): .upstreamUnauthorized
        case (402, "grok_video_balance_too_low"): .balanceTooLow
        case (402, _): .paymentRequired
        case (403, "grok_video_team_required"): .teamRequired
        case (403, "media_resource_access_denied"): .accessDenied
        case (403, _): .forbidden
        case (404, _): .taskNotFound
        case (424, _): .upstreamFailure
        case (429, "grok_video_too_many_pending_tasks"): .tooManyPendingTasks
        case (429, _): .rateLimited
        case (504, _): .timeout
        case (500...599, _): .serverError
        default: .unexpectedStatus
        }
        let codePart = upstream.code.map { " \($0)" } ?? ""
        return ProviderError(
            kind, provider: name,
            message: "\(name) \(exchange.status)\(codePart)" + (detail.isEmpty ? "." : ": \(detail)"),
            httpStatus: exchange.status, upstreamCode: upstream.code, upstreamStatus: upstream.upstreamStatus,
            retryAfter: exchange.retryAfter)
    }
}

/// The task ids holding a pending slot, so each slot is freed exactly once.
actor PendingTaskRegistry {
    private var ids: Set<String> = []

    func insert(_ id: String) { ids.insert(id) }

    func remove(_ id: String) -> Bool { ids.remove(id) != nil }
}

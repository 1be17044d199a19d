import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import VideoMeter

/// A client for xAI's own REST video API (Grok Imagine), bought direct: create a generation with a
/// Bearer key, read it until it is `done`, `failed` or `expired`.
///
/// - `POST {base}/v1/videos/generations` `{model, prompt, duration, resolution, aspect_ratio,
///   image: {url}}` answers `{"request_id"}`;
/// - `GET {base}/v1/videos/{request_id}` answers `{"status": "pending"}`, or `"done"` with
///   `video: {url, duration, respect_moderation}`, `model` and `usage: {cost_in_usd_ticks}`, or
///   `"failed"` / `"expired"`.
///
/// A `done` answer whose video did not pass moderation (`respect_moderation: false`) is a failed
/// task with the failure code `moderated`: no video came back, though xAI bills it. xAI's own cost
/// (`usage.cost_in_usd_ticks`, 10^-10 USD) is reported on every reading that carries it, read as an
/// integer, never through floating point.
public struct XAIClient: VideoProvider {
    public struct Configuration: Sendable, CustomStringConvertible {
        public static let defaultBaseURL = "https://api.x.ai"

        /// Without the `/v1/...` path.
        public var baseURL: String
        /// Sent as `Authorization: Bearer`; never logged.
        public var apiKey: Secret
        /// Each create or read, connection to last byte.
        public var requestTimeout: Duration
        public var maxResponseBytes: Int
        public var limits: ProviderLimits
        public var name: String

        public init(
            baseURL: String = Configuration.defaultBaseURL, apiKey: Secret, requestTimeout: Duration = .seconds(30),
            maxResponseBytes: Int = 1 << 20, limits: ProviderLimits = .unlimited, name: String = "xai"
        ) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
            self.limits = limits
            self.name = name
        }

        public var description: String {
            "XAI(baseURL: \(baseURL), apiKey: [redacted], requestTimeout: \(requestTimeout))"
        }
    }

    public let configuration: Configuration
    public var name: String { configuration.name }
    public var style: APIStyle { .async }

    private let httpClient: HTTPClient
    private let baseURL: String
    private let guards: ProviderGuards
    private let logger: Logger

    /// - Parameter httpClient: shared, owned by the caller, who shuts it down.
    /// - Throws: `provider_misconfigured` for a base URL that is not http(s) or an empty key.
    public init(httpClient: HTTPClient, configuration: Configuration, logger: Logger = Logger(label: "videometer.providers.xai")) throws {
        self.httpClient = httpClient
        self.configuration = configuration
        self.baseURL = try normalisedBaseURL(configuration.baseURL, provider: configuration.name)
        guard !configuration.apiKey.value.isEmpty else {
            throw ProviderError(.misconfigured, provider: configuration.name, message: "The \(configuration.name) API key is empty.")
        }
        self.guards = ProviderGuards(configuration.limits)
        self.logger = logger
    }


    private struct CreateResponse: Decodable {
        var request_id: String
    }

    /// A reading, decoded leniently: xAI's schema is looser than its documentation (a finished
    /// answer may carry only `video.url`; numbers may come as decimals), and a delivered video must
    /// never become unreadable for want of a diagnostic field.
    private struct StatusResponse: Decodable {
        struct Video: Decodable {
            var url: String?
            /// Seconds; a decimal figure is rounded half up to whole seconds (the charge is capped
            /// at the hold whatever it says).
            var duration: Int?
            var respect_moderation: Bool?

            enum CodingKeys: String, CodingKey { case url, duration, respect_moderation }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                url = try? container.decodeIfPresent(String.self, forKey: .url)
                respect_moderation = try? container.decodeIfPresent(Bool.self, forKey: .respect_moderation)
                if let whole = try? container.decodeIfPresent(Int.self, forKey: .duration) {
                    duration = whole
                } else if let text = try? container.decodeIfPresent(Decimal.self, forKey: .duration) {
                    duration = NSDecimalNumber(decimal: Money.round(text, scale: 0, .halfUp)).intValue
                }
            }
        }
        struct Usage: Decodable {
            /// 10^-10 USD; decoded as an integer, or not at all (it is a report, never what is charged).
            var cost_in_usd_ticks: Int64?

            enum CodingKeys: String, CodingKey { case cost_in_usd_ticks }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                cost_in_usd_ticks = try? container.decodeIfPresent(Int64.self, forKey: .cost_in_usd_ticks)
            }
        }
        struct Failure: Decodable {
            var code: String?
            var message: String?
        }
        var status: String?
        var model: String?
        var video: Video?
        var usage: Usage?
        var error: Failure?

        enum CodingKeys: String, CodingKey { case status, model, video, usage, error }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try container.decodeIfPresent(String.self, forKey: .status)
            model = try? container.decodeIfPresent(String.self, forKey: .model)
            video = try? container.decodeIfPresent(Video.self, forKey: .video)
            usage = try? container.decodeIfPresent(Usage.self, forKey: .usage)
            error = try? container.decodeIfPresent(Failure.self, forKey: .error)
        }
    }

    /// Creates a generation; returns ``Submission/task(id:)`` with xAI's `request_id`.
    public func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        try await guards.admitRequest(provider: name)
        let body = try JSONEncoder().encode(GrokCreateBody(request))
        var http = HTTPClientRequest.json(url: baseURL + "/v1/videos/generations", method: .POST, body: body, idempotencyKey: idempotencyKey)
        http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey.value)")
        logger.debug("Creating generation", metadata: ["provider": "\(name)", "model": "\(request.model)", "idempotency.key": "\(idempotencyKey)"])
        let exchange = try await send(http)
        guard (200..<300).contains(exchange.status) else { throw error(for: exchange) }
        guard let created = try? JSONDecoder().decode(CreateResponse.self, from: exchange.body), !created.request_id.isEmpty else {
            throw ProviderError(
                .badResponse, provider: name, message: "\(name) accepted the generation but its request_id could not be read; it may exist.",
                httpStatus: exchange.status)
        }
        return .task(id: created.request_id)
    }

    /// Reads a generation once.
    public func status(taskID: String) async throws -> TaskStatus {
        guard !taskID.isEmpty, taskID.count <= 200, taskID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ProviderError(.taskNotFound, provider: name, message: "'\(taskID.prefix(200))' is not a request id.")
        }
        var http = HTTPClientRequest.json(url: baseURL + "/v1/videos/" + taskID, method: .GET, body: nil, idempotencyKey: nil)
        http.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey.value)")
        let exchange = try await send(http)
        // xAI answers 202, often with an empty body, while a generation is pending.
        if exchange.status == 202 { return TaskStatus(id: taskID, requestID: taskID, state: .running) }
        guard exchange.status == 200 else { throw error(for: exchange, reading: true) }
        guard let decoded = try? JSONDecoder().decode(StatusResponse.self, from: exchange.body) else {
            throw ProviderError(
                .badResponse, provider: name, message: "\(name) answered 200 for \(taskID) with an unreadable body.", httpStatus: 200)
        }
        return try Self.reading(decoded, taskID: taskID, provider: name)
    }

    /// The task reading an xAI answer stands for.
    private static func reading(_ decoded: StatusResponse, taskID: String, provider: String) throws -> TaskStatus {
        let cost = decoded.usage?.cost_in_usd_ticks
        // A finished answer may carry only the video.
        let status = decoded.status ?? (decoded.video?.url?.isEmpty == false ? "done" : "pending")
        switch status {
        case "done":
            let seconds = decoded.video?.duration
            if decoded.video?.respect_moderation == false {
                return TaskStatus(
                    id: taskID, requestID: taskID, model: decoded.model, state: .failed, durationSeconds: seconds,
                    failureCode: "moderated", failureMessage: "The video did not pass xAI's moderation; no video is delivered.",
                    reportedCostTicks: cost)
            }
            guard let url = decoded.video?.url, !url.isEmpty else {
                throw ProviderError(.badResponse, provider: provider, message: "\(provider) \(taskID) is done without video.url.", httpStatus: 200)
            }
            let result = GenerationResult(
                model: decoded.model ?? "", videos: [GeneratedVideo(url: url, durationSeconds: seconds, requestID: taskID)],
                upstreamRequestID: taskID)
            return TaskStatus(
                id: taskID, requestID: taskID, model: decoded.model, state: .succeeded, durationSeconds: seconds, result: result,
                reportedCostTicks: cost)
        case "failed", "expired":
            return TaskStatus(
                id: taskID, requestID: taskID, model: decoded.model, state: status == "failed" ? .failed : .expired,
                failureCode: decoded.error?.code, failureMessage: decoded.error?.message, reportedCostTicks: cost)
        case "pending":
            return TaskStatus(id: taskID, requestID: taskID, model: decoded.model, state: .running, reportedCostTicks: cost)
        default:
            return TaskStatus(id: taskID, requestID: taskID, model: decoded.model, state: .unrecognized(status), reportedCostTicks: cost)
        }
    }

    private func send(_ request: HTTPClientRequest) async throws -> HTTPExchange {
        try await HTTPExchange.send(
            request, on: httpClient, timeout: configuration.requestTimeout, maxBodyBytes: configuration.maxResponseBytes, provider: name)
    }

    /// - Parameter reading: a task read, where a 403 means the generation is not this key's.
    private func error(for exchange: HTTPExchange, reading: Bool = false) -> ProviderError {
        let upstream = exchange.upstreamError
        let detail = configuration.apiKey.redact(upstream.message ?? "")
        let kind: ProviderError.Kind = switch exchange.status {
        case 400, 422: .upstreamInvalidRequest
        case 401: .upstreamUnauthorized
        case 402: .paymentRequired
        case 403: reading ? .accessDenied : .forbidden
        case 404: .taskNotFound
        case 429: .rateLimited
        case 504: .timeout
        case 500...599: .serverError
        default: .unexpectedStatus
        }
        let codePart = upstream.code.map { " \($0)" } ?? ""
        return ProviderError(
            kind, provider: name, message: "\(name) \(exchange.status)\(codePart)" + (detail.isEmpty ? "." : ": \(detail)"),
            httpStatus: exchange.status, upstreamCode: upstream.code, upstreamStatus: upstream.upstreamStatus, retryAfter: exchange.retryAfter)
    }
}

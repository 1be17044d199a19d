import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import VideoMeter

/// A client for BlockRun's synchronous video API (directly, or through ClawRouter on
/// `http://127.0.0.1:8402`, which pays with x402 by itself).
///
/// `POST {base}/v1/videos/generations` stays open until the video exists (20–60 s typically, 85 s
/// upstream cap), so the default timeout is 180 s as BlockRun asks.
public struct BlockRunClient: VideoProvider {
    public struct Configuration: Sendable, CustomStringConvertible {
        /// ClawRouter's default local address.
        public static let defaultBaseURL = "http://127.0.0.1:8402"

        /// Without the `/v1/...` path; e.g. `https://blockrun.ai/api` or ClawRouter's address.
        public var baseURL: String
        /// Sent as the `X-Payment` header when set; never logged.
        public var payment: Secret?
        /// The whole call, connection to last byte. At least 180 s against the real upstream.
        public var timeout: Duration
        /// Bodies larger than this are refused (`upstream_bad_response`).
        public var maxResponseBytes: Int
        public var limits: ProviderLimits
        /// The provider's name in errors and logs.
        public var name: String

        public init(
            baseURL: String = Configuration.defaultBaseURL, payment: Secret? = nil, timeout: Duration = .seconds(180),
            maxResponseBytes: Int = 1 << 20, limits: ProviderLimits = ProviderLimits(requestsPerMinute: 60),
            name: String = "blockrun"
        ) {
            self.baseURL = baseURL
            self.payment = payment
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
            self.limits = limits
            self.name = name
        }

        public var description: String {
            "BlockRun(baseURL: \(baseURL), payment: \(payment == nil ? "none" : "[redacted]"), timeout: \(timeout))"
        }
    }

    public let configuration: Configuration
    public var name: String { configuration.name }
    public var style: APIStyle { .sync }

    private let httpClient: HTTPClient
    private let baseURL: String
    private let guards: ProviderGuards
    private let logger: Logger

    /// - Parameter httpClient: shared, owned by the caller, who shuts it down.
    /// - Throws: `provider_misconfigured` for a base URL that is not http(s).
    public init(httpClient: HTTPClient, configuration: Configuration = .init(), logger: Logger = Logger(label: "videometer.providers.blockrun")) throws {
        self.httpClient = httpClient
        self.configuration = configuration
        self.baseURL = try normalisedBaseURL(configuration.baseURL, provider: configuration.name)
        self.guards = ProviderGuards(configuration.limits)
        self.logger = logger
    }

    private struct RequestBody: Encodable {
        var model: String
        var prompt: String
        var image_url: String?
        var duration_seconds: Int?
    }

    private struct ResponseBody: Decodable {
        struct Item: Decodable {
            var url: String
            var source_url: String?
            var duration_seconds: Int?
            var request_id: String?
            var backed_up: Bool?
        }
        var created: Int?
        var model: String?
        var data: [Item]
    }

    public func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        try await guards.admitRequest(provider: name)
        return try await guards.withPendingSlot(provider: name) {
            try await send(request, idempotencyKey: idempotencyKey)
        }
    }

    private func send(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        let body = try JSONEncoder().encode(RequestBody(
            model: request.model, prompt: request.prompt, image_url: request.imageURL, duration_seconds: request.durationSeconds))
        var http = HTTPClientRequest.json(
            url: baseURL + "/v1/videos/generations", method: .POST, body: body, idempotencyKey: idempotencyKey)
        if let payment = configuration.payment {
            http.headers.add(name: "X-Payment", value: payment.value)
        }
        var logger = self.logger
        logger[metadataKey: "provider"] = "\(name)"
        logger[metadataKey: "model"] = "\(request.model)"
        logger[metadataKey: "idempotency.key"] = "\(idempotencyKey)"
        logger.debug("Sending sync generation")

        let exchange = try await HTTPExchange.send(
            http, on: httpClient, timeout: configuration.timeout, maxBodyBytes: configuration.maxResponseBytes, provider: name)
        logger.debug("Upstream answered", metadata: ["http.status": "\(exchange.status)"])
        guard exchange.status == 200 else { throw error(for: exchange) }
        guard let decoded = try? JSONDecoder().decode(ResponseBody.self, from: exchange.body), !decoded.data.isEmpty else {
            throw ProviderError(
                .badResponse, provider: name,
                message: "\(name) answered 200 without a readable data[]; the video may have been generated.",
                httpStatus: 200)
        }
        let videos = decoded.data.map {
            GeneratedVideo(url: $0.url, sourceURL: $0.source_url, durationSeconds: $0.duration_seconds,
                           requestID: $0.request_id, backedUp: $0.backed_up)
        }
        return .completed(GenerationResult(
            model: decoded.model ?? request.model, videos: videos, resolution: "720p",
            upstreamRequestID: videos.first?.requestID, created: decoded.created))
    }

    public func status(taskID: String) async throws -> TaskStatus {
        throw ProviderError(.statusUnsupported, provider: name, message: "\(name) is synchronous: it has no task to read.")
    }

    private func error(for exchange: HTTPExchange) -> ProviderError {
        let upstream = exchange.upstreamError
        let detail = configuration.payment.map { $0.redact(upstream.message ?? "") } ?? (upstream.message ?? "")
        let kind: ProviderError.Kind
        let summary: String
        switch exchange.status {
        case 400: (kind, summary) = (.upstreamInvalidRequest, "invalid request")
        case 401: (kind, summary) = (.upstreamUnauthorized, "unauthorized")
        case 402: (kind, summary) = (.paymentRequired, "payment required or payment verification failed")
        case 403: (kind, summary) = (.forbidden, "forbidden (content policy)")
        case 429: (kind, summary) = (.rateLimited, "rate limit exceeded")
        case 504: (kind, summary) = (.timeout, "generation timed out upstream (85 s cap); no payment was taken")
        case 500...599: (kind, summary) = (.serverError, "server error")
        default: (kind, summary) = (.unexpectedStatus, "unexpected status")
        }
        return ProviderError(
            kind, provider: name,
            message: "\(name) \(exchange.status): \(summary)" + (detail.isEmpty ? "." : ": \(detail)"),
            httpStatus: exchange.status, upstreamCode: upstream.code, upstreamStatus: upstream.upstreamStatus,
            retryAfter: exchange.retryAfter)
    }
}

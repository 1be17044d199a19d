import Foundation
import Hummingbird
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterReports

/// An error the gateway answers with: an HTTP status and the body `{"error": {"code", "message"}}`,
/// plus, for `budget_exceeded`, the amount still available as a decimal string.
///
/// Domain errors (pricing, ledger, provider, metering) know nothing of HTTP; ``init(_:)`` maps
/// each stable code to the status the upstream APIs use for it (docs/GATEWAY.md, Errors).
public struct GatewayError: Error, HTTPResponseError, CodedError, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// `budget_exceeded`: what the team may still spend under the limit that refused, in micro-dollars.
    public let availableMicro: MicroUSD?
    /// `budget_exceeded`: which limit refused (`monthly`, `daily`, `credit`).
    public let limit: String?
    /// 429: how long to wait, when known (`Retry-After`).
    public let retryAfterSeconds: Int64?
    /// 405: the methods the path takes (`Allow`).
    public let allow: String?

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, availableMicro: MicroUSD? = nil, limit: String? = nil,
        retryAfterSeconds: Int64? = nil, allow: String? = nil
    ) {
        self.allow = allow
        self.status = status
        self.code = code
        self.message = message
        self.availableMicro = availableMicro
        self.limit = limit
        self.retryAfterSeconds = retryAfterSeconds
    }

    // MARK: Errors of the gateway's own

    static func invalidJSON(_ detail: String) -> GatewayError {
        GatewayError(.badRequest, code: "invalid_json", message: "The request body is not valid JSON: \(detail).")
    }

    static func invalidRequest(_ detail: String) -> GatewayError {
        GatewayError(.badRequest, code: "invalid_request", message: detail)
    }

    static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(.badRequest, code: "body_too_large", message: "The request body is larger than \(limit) bytes.")
    }

    static let missingKey = GatewayError(
        .unauthorized, code: "missing_api_key",
        message: "Send a team key as `Authorization: Bearer <key>` (create one with `videometer keys create --team T`).")

    static let invalidKey = GatewayError(.unauthorized, code: "invalid_api_key", message: "The API key is unknown or revoked.")

    static func taskNotFound(_ id: String) -> GatewayError {
        GatewayError(.notFound, code: "task_not_found", message: "No task has id '\(id.prefix(100))'.")
    }

    static let accessDenied = GatewayError(
        .forbidden, code: "media_resource_access_denied",
        message: "The task belongs to another team; poll it with a key of the team that created it.")

    static let listDisabled = GatewayError(
        .methodNotAllowed, code: "list_not_supported",
        message: "List routes are disabled: GET /v1/videos/generations/{task_id} reads one task.", allow: "POST")

    static func notFound(_ path: String) -> GatewayError {
        GatewayError(.notFound, code: "not_found", message: "No route for '\(path.prefix(200))'.")
    }

    /// The ledger's database cannot be reached: the gateway fails closed (nothing is held or sent
    /// while it answers this) and serves again by itself once the database answers.
    static let ledgerUnavailable = GatewayError(
        .serviceUnavailable, code: "ledger_unavailable",
        message: "The ledger's database cannot be reached right now, so no call is held or sent; try again shortly. Quotes still answer.",
        retryAfterSeconds: 5)

    static func tooManyPendingTasks(cap: Int) -> GatewayError {
        GatewayError(
            .tooManyRequests, code: "too_many_pending_tasks",
            message: "The team already has \(cap) video tasks in flight; wait for some to finish.", retryAfterSeconds: 5)
    }

    // MARK: Mapping domain errors

    /// The response for any error a route throws: domain errors by code, anything else a 500
    /// whose message says nothing about internals.
    public init(_ error: any Error) {
        switch error {
        case let error as GatewayError:
            self = error
        case let error where error.isLedgerUnavailable:
            self = .ledgerUnavailable
        case let error as PricingError:
            self.init(.badRequest, code: error.code, message: error.message)
        case let error as LedgerError:
            self.init(ledger: error)
        case let error as ProviderError:
            self.init(provider: error)
        case let error as MeteringError:
            self.init(metering: error)
        case let error as HTTPError:
            self.init(error.status, code: error.status == .contentTooLarge ? "body_too_large" : "http_\(error.status.code)",
                      message: error.body ?? error.status.reasonPhrase)
        case let error as any CodedError:
            self.init(.internalServerError, code: error.code, message: error.message)
        default:
            self.init(.internalServerError, code: "internal_error", message: "The gateway could not complete the request; see its log.")
        }
    }

    init(ledger error: LedgerError) {
        switch error.code {
        case "budget_exceeded":
            self.init(
                HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), code: error.code, message: error.message, availableMicro: error.availableMicro ?? 0,
                limit: error.limit?.rawValue)
        case "no_budget":
            self.init(HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), code: error.code, message: error.message, availableMicro: 0)
        case "idempotency_key_reused":
            // As the IETF Idempotency-Key draft: the same key with another payload. The ledger's
            // message names the team-scoped key (`gw:TEAM:KEY`), which is the gateway's business.
            self.init(
                .unprocessableContent, code: error.code,
                message: "This Idempotency-Key was already used for a request with other parameters; send a new request under a new key.")
        case "too_many_pending_tasks":
            self = .tooManyPendingTasks(cap: error.pendingCap ?? 0)
        case "unknown_team":
            self.init(.unauthorized, code: "invalid_api_key", message: "The key's team no longer exists.")
        default:
            self.init(.internalServerError, code: error.code, message: error.message)
        }
    }

    /// Upstream refusals keep the upstream's status (400, 402, 403, 404, 424, 429, 500, 504); a
    /// problem with the gateway's own upstream credentials is a 502, never a 401/403 that would
    /// make the client doubt its key.
    init(provider error: ProviderError) {
        let retryAfter = error.retryAfter.map { max(1, $0.components.seconds) }
        switch error.kind {
        case .upstreamUnauthorized, .teamRequired, .badResponse, .unexpectedStatus, .unreachable, .outcomeUnknown, .accessDenied, .statusUnsupported:
            self.init(.badGateway, code: error.code, message: error.message)
        case .misconfigured:
            self.init(.serviceUnavailable, code: error.code, message: error.message)
        case .rateLimited, .tooManyPendingTasks, .rateLimitedLocally:
            self.init(.tooManyRequests, code: error.code, message: error.message, retryAfterSeconds: retryAfter ?? 1)
        case .timeout:
            self.init(.gatewayTimeout, code: error.code, message: error.message + " No charge was made.")
        case .pollDeadlineExceeded:
            self.init(.gatewayTimeout, code: error.code, message: error.message)
        default:
            let status = error.httpStatus.flatMap { (400..<600).contains($0) ? HTTPResponse.Status(code: $0) : nil } ?? .badGateway
            self.init(status, code: error.code, message: error.message, retryAfterSeconds: status == .tooManyRequests ? retryAfter : nil)
        }
    }

    init(metering error: MeteringError) {
        switch error.code {
        case "call_in_progress":
            self.init(.conflict, code: error.code, message: error.message)
        case "provider_not_configured":
            self.init(.serviceUnavailable, code: error.code, message: error.message)
        default:
            // outcome_unknown / still_running: the hold is kept and settled later, never lost.
            self.init(.badGateway, code: error.code, message: error.message)
        }
    }

    // MARK: HTTPResponseError

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var available: String?
            var limit: String?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    /// The JSON response, with `Retry-After` on a 429.
    public func makeResponse() -> Response {
        let body = Body(error: .init(code: code, message: message, available: availableMicro.map { Money.format(micro: $0) }, limit: limit))
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let allow { headers[.allow] = allow }
        let data = (try? JSONResponse.encoder.encode(body)) ?? Data(#"{"error":{"code":"internal_error","message":""}}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension GatewayError {
    /// A known path asked with a method it does not serve; `Allow` lists those it does.
    static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> GatewayError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return GatewayError(.methodNotAllowed, code: "method_not_allowed", message: "This path takes \(list).", allow: list)
    }
}

/// The methods each gateway path serves, for the 405 answers of the others.
struct AllowedMethods {
    /// The methods a client may try that the gateway answers 405 for on a known path.
    static let answered: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete, .head, .options, .trace]

    private(set) var table: [(path: String, methods: [HTTPRequest.Method])] = []

    mutating func add(_ path: String, _ methods: HTTPRequest.Method...) {
        table.append((path, methods))
    }
}

extension GatewayError {
    /// The gateway's own codes, beside the domain errors' that its routes pass on.
    static let ownCodes = [
        "invalid_json", "invalid_request", "invalid_prompt", "body_too_large", "missing_api_key", "invalid_api_key",
        "task_not_found", "media_resource_access_denied", "list_not_supported", "not_found", "too_many_pending_tasks",
        "method_not_allowed", "dialect_has_no_tasks", "dialect_has_no_videos", "internal_error", "ledger_unavailable",
    ]

    /// Every error code a gateway response can carry: the gateway's own, every domain error's
    /// (pricing, ledger, provider, metering, reports), and the answers to a replayed call that
    /// ended uncharged. docs/openapi.json lists them per route; a test holds the two together.
    public static var producibleCodes: Set<String> {
        // A replayed sync call that ended uncharged: timed out, or `generation_<its terminal status>`
        // (`succeeded` for a success that came after its hold expired, `unknown` for one expired
        // unanswered).
        let ended: [CallStatus] = [.failed, .cancelled, .expired, .rejected, .succeeded, .unknown]
        let replays = ["upstream_timeout"] + ended.map { "generation_\($0.rawValue)" }
        return Set(
            ownCodes + PricingError.allCodes + LedgerError.allCodes + ProviderError.Kind.allCodes + MeteringError.allCodes
                + ReportError.allCodes + replays)
    }
}

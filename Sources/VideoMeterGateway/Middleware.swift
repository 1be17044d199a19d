import Hummingbird
import Logging

/// Turns every error a route throws into the gateway's JSON error response, and counts every
/// request by route template and status.
struct ErrorAndMetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let mapped: GatewayError
            if let http = error as? HTTPError, http.status == .notFound {
                mapped = .notFound(request.uri.path)
            } else {
                mapped = GatewayError(error)
            }
            if mapped.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(error)", "http.path": "\(request.uri.path)"])
            }
            response = mapped.makeResponse()
        }
        metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
        return response
    }
}

/// Authenticates `Authorization: Bearer <team key>` and puts the caller in the context; answers
/// 401 without calling the route when the key is missing, unknown or revoked.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let keys: APIKeyStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw GatewayError.missingKey }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw GatewayError.missingKey }
        guard let identity = try await keys.authenticate(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw GatewayError.invalidKey
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "team.id"] = "\(identity.teamID)"
        return try await next(request, context)
    }
}

import Hummingbird

/// The request context of the gateway's routes: Hummingbird's core storage plus the caller that
/// ``AuthMiddleware`` authenticated.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthMiddleware`` on every `/v1` route; routes outside `/v1` have none.
    public var identity: CallerIdentity?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Routes read bodies with their own cap (``GatewayConfiguration/maxBodyBytes``).
    public var maxUploadSize: Int { 64 * 1024 }

    /// The authenticated caller; only for routes behind ``AuthMiddleware``.
    func caller() throws -> CallerIdentity {
        guard let identity else { throw GatewayError.missingKey }
        return identity
    }
}

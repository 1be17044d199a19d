import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterReports

/// How a ``Gateway`` listens and what it allows.
public struct GatewayConfiguration: Sendable {
    /// The address to bind: loopback unless asked otherwise.
    public var host: String
    /// The port to bind (`0`: an ephemeral port). Never 8402, ClawRouter's, a natural upstream.
    public var port: Int
    /// Request bodies above this many bytes are refused with 400 `body_too_large`.
    public var maxBodyBytes: Int
    /// Async calls a team may have in flight (its pending async holds, counted by the ledger across
    /// every gateway and CLI on it); beyond it, 429 `too_many_pending_tasks`.
    public var maxPendingTasksPerTeam: Int
    /// How often open calls are reconciled and overdue holds expired; also how long this gateway's
    /// settlement leases last unless renewed (the settler renews them every third of it), so a
    /// dead gateway's tasks are taken over by another's pass within two intervals.
    public var reconcileInterval: Duration
    /// How long to wait before settling a task again after an error (ledger busy, upstream down).
    public var settleRetryDelay: Duration
    /// Hold lifetimes and task polling.
    public var metering: MeteredClient.Configuration

    public static let defaultPort = 8480

    public init(
        host: String = "127.0.0.1", port: Int = Self.defaultPort, maxBodyBytes: Int = 64 * 1024, maxPendingTasksPerTeam: Int = 256,
        reconcileInterval: Duration = .seconds(60), settleRetryDelay: Duration = .seconds(2),
        metering: MeteredClient.Configuration = .init()
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxPendingTasksPerTeam = maxPendingTasksPerTeam
        self.reconcileInterval = reconcileInterval
        self.settleRetryDelay = settleRetryDelay
        self.metering = metering
    }
}

/// The metering gateway: a transparent proxy in front of the upstream video APIs that quotes,
/// holds, sends and settles every call, enforces team budgets, and answers quotes, budgets, usage
/// and metrics (docs/GATEWAY.md).
///
/// ```swift
/// let gateway = try Gateway(catalog: catalog, ledger: ledger, providers: providers)
/// try await gateway.makeApplication().runService()     // SIGTERM/SIGINT: graceful shutdown
/// ```
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let catalog: Catalog
    public let ledger: any LedgerStore
    public let client: MeteredClient
    public let keys: APIKeyStore
    public let metrics: GatewayMetrics
    public let settler: Settler
    /// How each seller's clients are spoken to, by catalog provider id.
    public let dialects: [String: any SellerDialect]
    /// The wall clock requests are priced and stamped at (the ledger's unless told otherwise).
    public let clock: any WallClock
    /// The monthly report of `GET /v1/usage`, from the store's aggregates.
    let reports: MonthlyReportBuilder
    let logger: Logger
    /// Every path the router serves and its methods, as the last router built registered them
    /// (the drift tests compare it with docs/openapi.json).
    let servedPaths = Locked<[(path: String, methods: [HTTPRequest.Method])]>([])

    /// - Parameters:
    ///   - providers: one upstream client per catalog provider id (`blockrun`, `worldrouter`).
    ///   - dialects: one dialect per catalog provider id (VideoMeterSellers' `Sellers.dialects`).
    ///   - clock: the wall clock for prices and stamps; the ledger's unless told otherwise.
    ///   - waitClock: what polling, the settler's schedule, key caching and latency metrics measure.
    public init(
        configuration: GatewayConfiguration = .init(), catalog: Catalog, ledger: any LedgerStore, providers: [String: any VideoProvider],
        dialects: [String: any SellerDialect], clock: (any WallClock)? = nil, waitClock: AnyClock = .continuous, metrics: GatewayMetrics = GatewayMetrics(), logger: Logger = Logger(label: "videometer.gateway")
    ) throws {
        precondition(configuration.port != 8402, "port 8402 is ClawRouter's; the gateway must not take it")
        self.configuration = configuration
        self.catalog = catalog
        self.ledger = ledger
        self.dialects = dialects
        self.clock = clock ?? ledger.clock
        self.metrics = metrics
        self.logger = logger
        self.keys = try APIKeyStore(ledger: ledger, clock: waitClock)
        self.reports = MonthlyReportBuilder(ledger: ledger, invoiceRoundings: InvoiceRoundings(catalog: catalog))
        let timed = providers.mapValues { TimedProvider(base: $0, metrics: metrics, clock: waitClock) as any VideoProvider }
        // Metering logs at the gateway's level: a per-call info line would serialise every call
        // on standard error.
        var meteringLogger = Logger(label: "videometer.metering")
        meteringLogger.logLevel = logger.logLevel
        // The per-team cap rides on every async hold: the ledger counts it, across every gateway.
        var metering = configuration.metering
        metering.maxPendingAsyncPerTeam = configuration.maxPendingTasksPerTeam
        // Each call is leased to this process from its hold's commit, for one reconcile interval,
        // renewed by the settler: a dead gateway's calls are free within an interval.
        metering.leasesCalls = true
        metering.leaseDuration = configuration.reconcileInterval
        self.client = MeteredClient(
            catalog: catalog, ledger: ledger, providers: timed, clock: self.clock, waitClock: waitClock, configuration: metering,
            logger: meteringLogger)
        self.settler = Settler(
            client: client, metrics: metrics, logger: logger, reconcileInterval: configuration.reconcileInterval,
            retryDelay: configuration.settleRetryDelay)
    }

    /// The Hummingbird application: the router, and the settler as a service that starts with the
    /// server and stops after it (so calls in flight at shutdown can still hand over their tasks).
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "videometer-gateway"),
            services: [settler],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Starts the gateway in the background (tests, the demo, the benchmark); returns once it listens.
    public func start() async throws -> RunningGateway {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = makeApplication { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports {
            return RunningGateway(port: port, host: configuration.host, group: group, task: task)
        }
        try await task.value
        throw GatewayError(.internalServerError, code: "gateway_not_started", message: "The gateway stopped before it listened on \(configuration.host):\(configuration.port).")
    }

    func makeRouter() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: ErrorAndMetricsMiddleware(metrics: metrics))
        var paths = AllowedMethods()
        router.get("/healthz") { _, _ in try await self.health() }
        router.get("/metrics") { _, _ in try await self.metricsText() }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        paths.add("/healthz", .get)
        paths.add("/metrics", .get)
        paths.add("/openapi.json", .get)

        let authorized = router.group().add(middleware: AuthMiddleware(keys: keys))
        // The plain paths: the model's name chooses the seller.
        authorized.post("/v1/videos/generations") { request, context in try await self.generate(request, context: context) }
        authorized.get("/v1/videos/generations") { _, _ -> Response in throw GatewayError.listDisabled }
        authorized.get("/v1/videos/generations/:id") { _, context in
            try await self.task(id: context.parameters.get("id") ?? "", context: context)
        }
        authorized.post("/v1/quotes") { request, context in try await self.quote(request, context: context) }
        authorized.get("/v1/budget") { _, context in try await self.budget(context: context) }
        authorized.get("/v1/usage") { request, context in try await self.usage(request, context: context) }
        paths.add("/v1/videos/generations", .post, .get)
        paths.add("/v1/videos/generations/:id", .get)
        paths.add("/v1/quotes", .post)
        paths.add("/v1/budget", .get)
        paths.add("/v1/usage", .get)

        // Per-seller paths, each speaking its seller's shapes: `/xai/v1/videos/generations`...
        for (seller, dialect) in dialects.sorted(by: { $0.key < $1.key }) {
            let create = "/\(seller)\(dialect.createPath)"
            authorized.post(RouterPath(create)) { request, context in try await self.generate(request, context: context, seller: seller) }
            paths.add(create, .post)
            if let read = dialect.readPath.map({ "/\(seller)\($0)" }) {
                authorized.get(RouterPath(read)) { _, context in
                    try await self.task(id: context.parameters.get("id") ?? "", context: context, seller: seller)
                }
                paths.add(read, .get)
            }
        }
        servedPaths.withLock { $0 = paths.table.map { ($0.path, $0.methods) } }
        // A known path asked with another method: 405 with `Allow`, not 404.
        // Behind the key like the path itself, so that a caller without one learns nothing of the
        // money routes; the open paths (health, metrics, this document) answer anyone.
        let open: Set<String> = ["/healthz", "/metrics", "/openapi.json"]
        for (path, methods) in paths.table {
            for method in AllowedMethods.answered where !methods.contains(method) {
                let responder: @Sendable (Request, GatewayRequestContext) async throws -> Response = { _, _ in
                    throw GatewayError.methodNotAllowed(allowed: methods)
                }
                if open.contains(path) {
                    router.on(RouterPath(path), method: method, use: responder)
                } else {
                    authorized.on(RouterPath(path), method: method, use: responder)
                }
            }
        }
        return router
    }
}

/// A gateway serving in the background; ``shutdown()`` stops it gracefully.
public struct RunningGateway: Sendable {
    public let port: Int
    public let host: String
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// `http://host:port`.
    public var baseURL: String { "http://\(host):\(port)" }

    /// Stops taking requests, lets those in flight finish, stops polling; waits until it is down.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VideoMeter

/// A loopback server that behaves like an upstream video API (BlockRun or WorldRouter), with
/// seeded fault injection, a real MP4 to download, and `GET /_emulator/stats`.
///
/// ```swift
/// let emulator = Emulator(EmulatorConfiguration(style: .worldrouter, latency: .milliseconds(5)))
/// let port = try await emulator.start()      // ephemeral port when configuration.port == 0
/// defer { Task { await emulator.shutdown() } }
/// ```
public actor Emulator {
    public nonisolated let configuration: EmulatorConfiguration
    private let state: EmulatorState
    private let logger: Logger
    private var serviceGroup: ServiceGroup?
    private var serverTask: Task<Void, any Error>?
    /// The bound port once ``start()`` has returned.
    public private(set) var port: Int?

    public init(_ configuration: EmulatorConfiguration, logger: Logger? = nil) {
        self.configuration = configuration
        self.state = EmulatorState(configuration: configuration)
        self.logger = logger ?? {
            var logger = Logger(label: "videometer.emulator")
            logger.logLevel = .warning
            return logger
        }()
    }

    /// `http://host:port`, once started.
    public var baseURL: String? {
        port.map { "http://\(configuration.host):\($0)" }
    }

    /// Binds and starts serving in the background; returns the bound port.
    ///
    /// Throws ``EmulatorConfigurationError`` for an invalid configuration, or the bind error.
    public func start() async throws -> Int {
        if let port { return port }
        try configuration.validate()
        let router = Router(context: EmulatorRequestContext.self)
        configuration.style.registerRoutes(state, router)
        registerCommonRoutes(on: router)

        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let state = self.state
        let host = configuration.host
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                await state.setBaseURL("http://\(host):\(port)")
                continuation.yield(port)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        serviceGroup = group
        serverTask = task
        for await bound in ports {
            port = bound
            return bound
        }
        // The server stopped before it was running: surface its error.
        serviceGroup = nil
        serverTask = nil
        try await task.value
        throw EmulatorConfigurationError("The emulator stopped before it could listen on \(host):\(configuration.port).")
    }

    /// Stops the server and waits for it to close; the emulator can be started again afterwards.
    public func shutdown() async {
        guard let group = serviceGroup, let task = serverTask else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        serviceGroup = nil
        serverTask = nil
        port = nil
    }

    /// Waits until the server stops (after ``shutdown()``, or when the calling task is cancelled).
    public func waitUntilStopped() async throws {
        guard let task = serverTask else { return }
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// What the emulator has seen so far (the same as `GET /_emulator/stats`).
    public func stats() async -> EmulatorStats {
        await state.stats()
    }

    /// Changes how long generations take from now on. Calls and tasks already in flight are
    /// measured against the new latency too, so `.zero` answers every waiting sync call and
    /// finishes every open task at its next reading: a test can keep calls in flight for as long
    /// as it needs, then let them go.
    public func setLatency(_ latency: Duration) async {
        await state.setLatency(latency)
    }

    private nonisolated func registerCommonRoutes(on router: Router<EmulatorRequestContext>) {
        let state = self.state
        router.get("/_emulator/stats") { _, _ in
            JSONResponse.encoded(await state.stats())
        }
        router.get("/media/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            guard file.hasSuffix(".mp4"), let task = await state.task(id: String(file.dropLast(4))),
                  await state.status(of: task) == .succeeded
            else {
                return Response(status: .notFound)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "video/mp4"],
                body: .init(byteBuffer: ByteBuffer(bytes: SampleVideo.mp4)))
        }
    }
}

import AsyncHTTPClient
import Foundation
import VideoMeterEmulator
import VideoMeterProviders

/// The HTTP client the whole suite shares; tests never shut it down (it lives as long as the
/// process). Connection establishment is not retried, so "connection refused" fails at once.
///
/// At most 64 connections per server: a test racing 500 calls still races them (64 at a time, each
/// answered in milliseconds), while 500 connections each way kept 2,000 descriptors open in the
/// test process, past what Foundation's `Process.run()` survives (``TestSlots`` says more).
public let testHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
    // How long a request may wait for one of those connections (AsyncHTTPClient ties it to the
    // connect timeout, 10 s by default). CLI tests that wait for a child process synchronously can
    // hold the two threads of the cooperative pool on these machines for ~11 s, and the loopback
    // servers' handlers wait with them; a refused connection still fails at once.
    configuration.timeout.connect = .seconds(45)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

/// The three sellers' emulators on ephemeral loopback ports, and a provider client for each, keyed
/// by catalog provider id: the real upstream code against real HTTP servers.
public struct EmulatedUpstreams: Sendable {
    public let blockRun: Emulator
    public let worldRouter: Emulator
    public let xai: Emulator
    public let blockRunURL: String
    public let worldRouterURL: String
    public let providers: [String: any VideoProvider]

    public static func start(
        blockRun: EmulatorConfiguration, worldRouter: EmulatorConfiguration,
        xai: EmulatorConfiguration = .init(style: .xai, latency: .milliseconds(20), pendingCap: 2000), worldRouterKey: String,
        timeout: Duration, createRetry: CreateRetryPolicy = .none, poll: PollPolicy, worldRouterLimits: ProviderLimits = .unlimited
    ) async throws -> EmulatedUpstreams {
        let blockRunEmulator = Emulator(blockRun)
        let worldRouterEmulator = Emulator(worldRouter)
        let xaiEmulator = Emulator(xai)
        _ = try await blockRunEmulator.start()
        _ = try await worldRouterEmulator.start()
        _ = try await xaiEmulator.start()
        let blockRunURL = await blockRunEmulator.baseURL!
        let worldRouterURL = await worldRouterEmulator.baseURL!
        let providers: [String: any VideoProvider] = [
            "blockrun": try BlockRunClient(httpClient: testHTTPClient, configuration: .init(baseURL: blockRunURL, timeout: timeout, limits: .unlimited)),
            "worldrouter": try WorldRouterClient(httpClient: testHTTPClient, configuration: .init(
                baseURL: worldRouterURL, apiKey: Secret(worldRouterKey), requestTimeout: timeout, createRetry: createRetry, poll: poll,
                limits: worldRouterLimits)),
            "xai": try XAIClient(httpClient: testHTTPClient, configuration: .init(
                baseURL: await xaiEmulator.baseURL!, apiKey: Secret("xai-upstream-key"), requestTimeout: timeout)),
        ]
        return EmulatedUpstreams(
            blockRun: blockRunEmulator, worldRouter: worldRouterEmulator, xai: xaiEmulator, blockRunURL: blockRunURL,
            worldRouterURL: worldRouterURL, providers: providers)
    }

    public func shutdown() async {
        await blockRun.shutdown()
        await worldRouter.shutdown()
        await xai.shutdown()
    }
}

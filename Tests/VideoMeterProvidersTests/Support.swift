import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Testing
import VideoMeterEmulator
import VideoMeterProviders
import VideoMeterTesting

/// The suite's one HTTP client (VideoMeterTesting).
let sharedHTTPClient = testHTTPClient

/// Runs `body` against a started emulator, then shuts it down.
func withEmulator<T>(
    _ configuration: EmulatorConfiguration, _ body: (Emulator, String) async throws -> T
) async throws -> T {
    let emulator = Emulator(configuration)
    _ = try await emulator.start()
    let base = await emulator.baseURL!
    do {
        let value = try await body(emulator, base)
        await emulator.shutdown()
        return value
    } catch {
        await emulator.shutdown()
        throw error
    }
}

func blockRun(_ base: String, timeout: Duration = .seconds(5), payment: String? = nil, limits: ProviderLimits = .unlimited) throws -> BlockRunClient {
    try BlockRunClient(
        httpClient: sharedHTTPClient,
        configuration: .init(baseURL: base, payment: payment.map(Secret.init), timeout: timeout, limits: limits))
}

func worldRouter(
    _ base: String, key: String = "team-key-a", createRetry: CreateRetryPolicy = .none, limits: ProviderLimits = .unlimited,
    poll: PollPolicy = PollPolicy(initialInterval: .milliseconds(2), maxInterval: .milliseconds(10), deadline: .seconds(5))
) throws -> WorldRouterClient {
    try WorldRouterClient(
        httpClient: sharedHTTPClient,
        configuration: .init(baseURL: base, apiKey: Secret(key), requestTimeout: .seconds(5), createRetry: createRetry,
                             poll: poll, limits: limits))
}

/// Captures the error a call throws, as a `ProviderError`.
func providerError(_ body: () async throws -> some Any) async -> ProviderError? {
    do {
        _ = try await body()
        return nil
    } catch let error as ProviderError {
        return error
    } catch {
        return nil
    }
}

func taskID(_ submission: Submission) -> String? {
    if case .task(let id) = submission { return id }
    return nil
}

func result(_ submission: Submission) -> GenerationResult? {
    if case .completed(let result) = submission { return result }
    return nil
}

func getJSON(_ url: String) async throws -> (status: Int, object: [String: Any]) {
    let response = try await sharedHTTPClient.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
    let body = try await response.body.collect(upTo: 1 << 20)
    let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    return (Int(response.status.code), object)
}

/// A port with nothing listening: bound, then closed.
func closedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A server that reads a request and closes the connection without answering.
final class DroppingServer: Sendable {
    let channel: any Channel

    init() async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(CloseOnFirstRead())
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var baseURL: String { "http://127.0.0.1:\(channel.localAddress!.port!)" }

    func close() async throws { try await channel.close() }

    private final class CloseOnFirstRead: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.close(promise: nil)
        }
    }
}

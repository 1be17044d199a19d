import AsyncHTTPClient
import Foundation
import Glibc
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

/// A loopback port that refuses connections for as long as this value lives: a socket bound to it
/// that never listens. Binding and closing a port would free it for the next server any test in
/// the process starts on port 0, which then answered (or hung) instead of refusing.
final class ClosedPort: Sendable {
    let port: Int
    private let socket: Int32

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw ClosedPortError() }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else {
            close(socket)
            throw ClosedPortError()
        }
        self.socket = socket
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(socket) }
}

struct ClosedPortError: Error {}

func closedPort() throws -> ClosedPort { try ClosedPort() }

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

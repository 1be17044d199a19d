import AsyncHTTPClient
import Foundation
import Logging
import VideoMeterEmulator
import VideoMeterProviders
import VideoMeterSellers

/// The upstream clients a command meters through: each provider configured in the environment is
/// called for real; with `sandbox`, every other one is an emulator started in this process.
final class Upstreams: Sendable {
    let httpClient: HTTPClient
    let providers: [String: any VideoProvider]
    /// Emulators started for providers with no upstream configured, by provider id.
    let sandboxes: [String: Emulator]

    private init(httpClient: HTTPClient, providers: [String: any VideoProvider], sandboxes: [String: Emulator]) {
        self.httpClient = httpClient
        self.providers = providers
        self.sandboxes = sandboxes
    }

    /// One client per registered seller (``Sellers/all``).
    ///
    /// - Parameters:
    ///   - environment: where each seller reads its upstream settings.
    ///   - sandboxLatency: how long a sandbox generation takes (a few seconds feels real but quick).
    ///   - sandbox: start emulators for unconfigured providers (`false` leaves them out, as
    ///     reconciliation must: a new emulator knows nothing of an earlier run's tasks).
    static func start(
        environment: [String: String] = ProcessInfo.processInfo.environment, sandbox: Bool, sandboxLatency: Duration = .seconds(3),
        poll: PollPolicy, logger: Logger
    ) async throws -> Upstreams {
        // A gateway sends many calls to one upstream at once: 8 connections per host (the client's
        // default) would queue the rest until their deadline under load.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 128
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var providers: [String: any VideoProvider] = [:]
        var sandboxes: [String: Emulator] = [:]
        do {
            for seller in Sellers.all {
                if let client = try seller.configuredClient(environment, httpClient, poll) {
                    providers[seller.id] = client
                } else if sandbox {
                    let emulator = Emulator(seller.sandboxEmulator(sandboxLatency, sandboxSeed()))
                    _ = try await emulator.start()
                    sandboxes[seller.id] = emulator
                    providers[seller.id] = try seller.sandboxClient(await emulator.baseURL!, httpClient, poll)
                }
            }
        } catch {
            for emulator in sandboxes.values { await emulator.shutdown() }
            try? await httpClient.shutdown()
            throw error
        }
        if !sandboxes.isEmpty {
            logger.notice("sandbox: no upstream configured for \(sandboxes.keys.sorted().joined(separator: ", ")); using the in-process emulator, nothing is charged upstream")
        }
        return Upstreams(httpClient: httpClient, providers: providers, sandboxes: sandboxes)
    }

    /// A fresh seed for each sandbox emulator. Task ids derive from the seed, and a run's tasks die
    /// with its emulator while their holds wait in the ledger for reconciliation: with a fixed seed
    /// the next run would hand out the same ids, and an old hold could be settled from a new task.
    static func sandboxSeed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    /// A one-line description: which providers are real and which are sandboxed.
    var summary: String {
        providers.keys.sorted().map { id in sandboxes[id] == nil ? "\(id): upstream" : "\(id): sandbox" }.joined(separator: ", ")
    }

    func shutdown() async {
        for emulator in sandboxes.values { await emulator.shutdown() }
        try? await httpClient.shutdown()
    }
}

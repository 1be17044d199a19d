import AsyncHTTPClient
import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterTesting

let sharedHTTPClient = testHTTPClient

let fastPolling = PollPolicy(initialInterval: .milliseconds(2), maxInterval: .milliseconds(10), deadline: .seconds(10))

/// A ledger file, both emulators on ephemeral ports, and a metered client wired to them.
struct MeteringFixture {
    let directory: URL
    let ledgerPath: String
    let clock: ManualWallClock
    let ledger: Ledger
    let blockRun: Emulator
    let worldRouter: Emulator
    let blockRunURL: String
    let worldRouterURL: String
    let providers: [String: any VideoProvider]
    let client: MeteredClient

    static func make(
        catalog: Catalog? = nil, blockRun: EmulatorConfiguration = .init(style: .blockrun, latency: .milliseconds(2)),
        worldRouter: EmulatorConfiguration = .init(style: .worldrouter, latency: .milliseconds(5)),
        createRetry: CreateRetryPolicy = .none, worldRouterKey: String = "team-key-a", worldRouterLimits: ProviderLimits = .unlimited,
        configuration: MeteredClient.Configuration = .init(pollPolicy: fastPolling)
    ) async throws -> MeteringFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-metering-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("ledger.sqlite").path
        let clock = TestClock.manualWallClock()
        let ledger = try Ledger(path: path, clock: clock)
        let upstreams = try await EmulatedUpstreams.start(
            blockRun: blockRun, worldRouter: worldRouter, worldRouterKey: worldRouterKey, timeout: .seconds(30), createRetry: createRetry,
            poll: fastPolling, worldRouterLimits: worldRouterLimits)
        let (blockRunEmulator, worldRouterEmulator) = (upstreams.blockRun, upstreams.worldRouter)
        let (blockRunURL, worldRouterURL, providers) = (upstreams.blockRunURL, upstreams.worldRouterURL, upstreams.providers)
        let client = MeteredClient(
            catalog: try catalog ?? Catalog.bundled(), ledger: ledger, providers: providers, clock: clock, configuration: configuration)
        return MeteringFixture(
            directory: directory, ledgerPath: path, clock: clock, ledger: ledger, blockRun: blockRunEmulator,
            worldRouter: worldRouterEmulator, blockRunURL: blockRunURL, worldRouterURL: worldRouterURL, providers: providers, client: client)
    }

    /// Another metered client over the same ledger and emulators, with another catalog (as a
    /// process restarted after the price files changed).
    func client(catalog: Catalog) -> MeteredClient {
        MeteredClient(catalog: catalog, ledger: ledger, providers: providers, clock: clock, configuration: client.configuration)
    }

    /// A team with a monthly budget in micro-dollars.
    func team(_ name: String = "acme", monthly: MicroUSD = 100_000_000) async throws {
        try await ledger.createTeam(name: name)
        try await ledger.setBudget(team: name, BudgetSettings(monthlyLimitMicro: monthly))
    }

    func shutdown() async {
        await blockRun.shutdown()
        await worldRouter.shutdown()
    }

    /// The team's monthly posted and pending amounts.
    func balance(_ team: String = "acme") async throws -> (posted: MicroUSD, pending: MicroUSD) {
        let status = try await ledger.budgetStatus(team: team)
        return (status.monthPostedMicro, status.monthPendingMicro)
    }

    func verified() async throws -> Bool {
        let report = try await ledger.verify()
        if !report.isConsistent { Issue.record("ledger verify: \(report.problems)") }
        return report.isConsistent
    }
}

/// The error a call throws, with its code.
func thrownCode(_ body: () async throws -> some Any) async -> String? {
    do {
        _ = try await body()
        return nil
    } catch let error as any CodedError {
        return error.code
    } catch {
        return "\(type(of: error))"
    }
}

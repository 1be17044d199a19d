import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import NIOCore
import NIOHTTP1
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterSellers
import VideoMeterTesting

let fastPolling = PollPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(20), deadline: .seconds(20))

/// One HTTP answer, with its body parsed as JSON when it is JSON.
struct HTTPAnswer {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A gateway on an ephemeral loopback port in front of both emulators, over a real SQLite file.
final class GatewayFixture: Sendable {
    let directory: URL
    let ledgerPath: String
    let ledger: Ledger
    let upstreams: EmulatedUpstreams
    let gateway: Gateway
    let running: RunningGateway

    var baseURL: String { running.baseURL }
    var blockRun: Emulator { upstreams.blockRun }
    var worldRouter: Emulator { upstreams.worldRouter }
    var xai: Emulator { upstreams.xai }

    static func make(
        blockRun: EmulatorConfiguration = .init(style: .blockrun, latency: .milliseconds(2), pendingCap: 2000),
        worldRouter: EmulatorConfiguration = .init(style: .worldrouter, latency: .milliseconds(30), pendingCap: 2000),
        xai: EmulatorConfiguration = .init(style: .xai, latency: .milliseconds(30), pendingCap: 2000),
        configuration: GatewayConfiguration = .init(port: 0, settleRetryDelay: .milliseconds(50), metering: .init(pollPolicy: fastPolling))
    ) async throws -> GatewayFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-gateway-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("ledger.sqlite").path
        // Runs at the test's instant and ages in real time: settlement waits on real emulators.
        let ledger = try Ledger(path: path, clock: TestClock.runningWallClock())
        // A generous upstream deadline: 500 concurrent calls on a loaded 2-core machine (the whole
        // suite running) took over 10 s each, and a timed-out sync call is, rightly, an unknown
        // outcome that keeps its hold, not what a budget test is about.
        let upstreams = try await EmulatedUpstreams.start(
            blockRun: blockRun, worldRouter: worldRouter, xai: xai, worldRouterKey: "gateway-upstream-key", timeout: .seconds(60), poll: fastPolling)
        let providers = upstreams.providers
        var quiet = Logger(label: "videometer.gateway.test")
        quiet.logLevel = .critical
        let gateway = try Gateway(
            configuration: configuration, catalog: try Catalog.bundled(), ledger: ledger, providers: providers, dialects: Sellers.dialects,
            logger: quiet)
        let running = try await gateway.start()
        return GatewayFixture(
            directory: directory, ledgerPath: path, ledger: ledger, upstreams: upstreams, gateway: gateway, running: running)
    }

    private init(directory: URL, ledgerPath: String, ledger: Ledger, upstreams: EmulatedUpstreams, gateway: Gateway, running: RunningGateway) {
        self.directory = directory
        self.ledgerPath = ledgerPath
        self.ledger = ledger
        self.upstreams = upstreams
        self.gateway = gateway
        self.running = running
    }

    /// A team with a monthly budget (micro-dollars) and a key.
    func team(_ name: String, budgetMicro: MicroUSD) async throws -> String {
        try await ledger.createTeam(name: name)
        try await ledger.setBudget(team: name, BudgetSettings(monthlyLimitMicro: budgetMicro))
        return try await gateway.keys.create(team: name, name: "\(name)-test").key
    }

    func shutdown() async {
        await running.shutdown()
        await upstreams.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    func request(_ method: HTTPMethod, _ path: String, key: String?, body: String? = nil, bytes: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        } else if let bytes {
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        let response = try await testHTTPClient.execute(request, timeout: .seconds(90))
        let collected = try await response.body.collect(upTo: 8 << 20)
        return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: collected))
    }

    func post(_ path: String, key: String?, _ body: String, headers: [(String, String)] = []) async throws -> HTTPAnswer {
        try await request(.POST, path, key: key, body: body, headers: headers)
    }

    func get(_ path: String, key: String?) async throws -> HTTPAnswer {
        try await request(.GET, path, key: key)
    }

    /// Everything the ledger holds about money, to compare before and after a refused request.
    func ledgerSnapshot() async throws -> LedgerSnapshot {
        try await ledger.writer.read { db in
            LedgerSnapshot(
                holds: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold") ?? 0,
                journalEntries: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journalEntry") ?? 0,
                usageEvents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM usageEvent") ?? 0,
                balances: try String.fetchOne(db, sql: "SELECT group_concat(teamID || ':' || scope || ':' || periodKey || ':' || postedMicro || ':' || pendingMicro, ',') FROM balance") ?? "")
        }
    }

    /// Polls `condition` every 10 ms until it holds, for at most `seconds`.
    func waitUntil(seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition not met within \(seconds) s")
    }

    /// The hold behind a gateway task id.
    func hold(taskID: String) async throws -> Hold {
        let holdID = try await ledger.writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT holdID FROM gatewayTask WHERE id = ?", arguments: [taskID])
        }
        return try await ledger.hold(id: try #require(holdID))
    }
}

struct LedgerSnapshot: Equatable {
    var holds: Int
    var journalEntries: Int
    var usageEvents: Int
    var balances: String
}

/// Runs `body` with a fresh fixture and always shuts it down; waits for one of the suite's
/// ``TestSlots`` first.
func withGateway<T>(
    blockRun: EmulatorConfiguration = .init(style: .blockrun, latency: .milliseconds(2), pendingCap: 2000),
    worldRouter: EmulatorConfiguration = .init(style: .worldrouter, latency: .milliseconds(30), pendingCap: 2000),
    xai: EmulatorConfiguration = .init(style: .xai, latency: .milliseconds(30), pendingCap: 2000),
    configuration: GatewayConfiguration = .init(port: 0, settleRetryDelay: .milliseconds(50), metering: .init(pollPolicy: fastPolling)),
    _ body: (GatewayFixture) async throws -> T
) async throws -> T {
    try await TestSlots.servers.withSlot {
        let fixture = try await GatewayFixture.make(blockRun: blockRun, worldRouter: worldRouter, xai: xai, configuration: configuration)
        do {
            let result = try await body(fixture)
            await fixture.shutdown()
            return result
        } catch {
            await fixture.shutdown()
            throw error
        }
    }
}

/// A request for a server the test does not own (a child process): status and JSON body.
struct HTTPClientRequestBuilder {
    var url: String
    var method: HTTPMethod = .GET
    var headers: [(String, String)] = []
    var body: String?

    func send() async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await testHTTPClient.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Data(buffer: collected))
    }

    func status() async throws -> Int { try await send().0 }

    func json() async throws -> (Int, [String: Any]) {
        let (status, data) = try await send()
        return (status, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }
}

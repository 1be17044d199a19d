import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterLedgerPostgres
import VideoMeterSellers
import VideoMeterTesting

/// The gateway on a PostgreSQL ledger whose server goes away under it: calls that would hold
/// money fail closed (503 `ledger_unavailable`, nothing sent upstream), quotes still answer,
/// `/healthz` says so, and service resumes by itself when the server is back.
@Suite("The gateway fails closed on PostgreSQL", .serialized)
struct PostgresGatewayTests {
    static let grokSync = #"{"model": "xai/grok-imagine-video", "prompt": "a neon-lit cyberpunk street at night, camera slowly dollying forward"}"#

    func send(_ base: String, _ method: HTTPMethod, _ path: String, key: String?, body: String? = nil) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await testHTTPClient.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 8 << 20)
        return HTTPAnswer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: collected))
    }

    @Test func aStoppedDatabaseAnswers503AndSendsNothingThenServiceResumesWithoutARestart() async throws {
        guard let server = try await PostgresTestServer.dedicated() else { return }
        defer { server.remove() }
        try await PostgresTestServer.execute("CREATE DATABASE videometer", on: server.configuration)
        var configuration = server.configuration
        configuration.database = "videometer"
        var quietLedger = Logger(label: "videometer.ledger.postgres.test")
        quietLedger.logLevel = .critical
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock(), logger: quietLedger)
        let upstreams = try await EmulatedUpstreams.start(
            blockRun: .init(style: .blockrun, latency: .milliseconds(2), pendingCap: 100),
            worldRouter: .init(style: .worldrouter, latency: .milliseconds(30), pendingCap: 100),
            xai: .init(style: .xai, latency: .milliseconds(30), pendingCap: 100),
            worldRouterKey: "gateway-upstream-key", timeout: .seconds(10), poll: fastPolling)
        var quiet = Logger(label: "videometer.gateway.test")
        quiet.logLevel = .critical
        let gateway = try Gateway(
            configuration: .init(port: 0, settleRetryDelay: .milliseconds(50), metering: .init(pollPolicy: fastPolling)),
            catalog: try Catalog.bundled(), ledger: ledger, providers: upstreams.providers, dialects: Sellers.dialects, logger: quiet)
        let running = try await gateway.start()
        let base = running.baseURL
        defer {
            Task {
                await running.shutdown()
                await upstreams.shutdown()
                await ledger.close()
            }
        }
        try await ledger.createTeam(name: "acme")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 10_000_000))
        let key = try await gateway.keys.create(team: "acme", name: "ci").key

        var answer = try await send(base, .POST, "/v1/videos/generations", key: key, body: Self.grokSync)
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.headers.first(name: "X-VideoMeter-Charged") == "0.420000")
        answer = try await send(base, .GET, "/healthz", key: nil)
        #expect(answer.status == 200)
        #expect(answer.json["status"] as? String == "ok" && answer.json["ledger"] as? String == "ok")
        #expect(await upstreams.blockRun.stats().created == 1)

        try server.stop()
        for _ in 0..<2 {
            answer = try await send(base, .POST, "/v1/videos/generations", key: key, body: Self.grokSync)
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.errorCode == "ledger_unavailable")
            #expect(answer.headers.first(name: "Retry-After") == "5")
        }
        answer = try await send(base, .POST, "/v1/videos/generations", key: key, body: #"{"model": "grok-imagine-video", "prompt": "a kite", "duration": 4, "resolution": "480p"}"#)
        #expect(answer.status == 503 && answer.errorCode == "ledger_unavailable", "\(answer.text)")
        // Nothing reached an upstream while the ledger was away.
        #expect(await upstreams.blockRun.stats().created == 1)
        #expect(await upstreams.worldRouter.stats().created == 0)
        // A quote holds nothing: it still answers, for a key this gateway has seen.
        answer = try await send(base, .POST, "/v1/quotes", key: key, body: Self.grokSync)
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["total_micro"] as? Int == 420_000, "\(answer.text)")
        answer = try await send(base, .GET, "/healthz", key: nil)
        #expect(answer.status == 503)
        #expect(answer.json["status"] as? String == "unavailable" && answer.json["ledger"] as? String == "unavailable")
        answer = try await send(base, .GET, "/v1/budget", key: key)
        #expect(answer.status == 503 && answer.errorCode == "ledger_unavailable")
        answer = try await send(base, .GET, "/metrics", key: nil)
        #expect(answer.status == 200)
        #expect(!answer.text.contains(PostgresTestServer.password))

        // Back, with no restart of the gateway: the pool reconnects by itself.
        try server.start()
        let deadline = ContinuousClock.now + .seconds(30)
        var healthy = false
        while ContinuousClock.now < deadline {
            if try await send(base, .GET, "/healthz", key: nil).status == 200 { healthy = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(healthy)
        answer = try await send(base, .POST, "/v1/videos/generations", key: key, body: Self.grokSync)
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.headers.first(name: "X-VideoMeter-Charged") == "0.420000")
        #expect(await upstreams.blockRun.stats().created == 2)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 840_000)
        #expect(status.monthPendingMicro == 0)
        #expect(try await ledger.verify().problems == [])
    }

    static let grokTask = #"{"model": "grok-imagine-video", "prompt": "A drone flyover of a snowy mountain range at sunrise.", "duration": 6, "resolution": "720p"}"#

    /// Two `serve` processes on one PostgreSQL database, in front of one standalone `videometer
    /// emulate`: a task created through A is read (and settled once) through B; another team's
    /// key gets 403 from both.
    @Test func aTaskCreatedThroughOneGatewayIsReadThroughAnother() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = "postgres://\(configuration.username):\(configuration.password ?? "")@\(configuration.host):\(configuration.port)/\(configuration.database)?sslmode=disable"
        let keys: (acme: String, other: String)
        do {
            let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock())
            for team in ["acme", "other"] {
                try await ledger.createTeam(name: team)
                try await ledger.setBudget(team: team, BudgetSettings(monthlyLimitMicro: 10_000_000))
            }
            let store = try APIKeyStore(ledger: ledger)
            keys = (try await store.create(team: "acme").key, try await store.create(team: "other").key)
            await ledger.close()
        }

        let (emulator, upstream) = try await Self.standaloneEmulator(latencyMs: 300)
        defer { emulator.terminate() }

        let a = try await CrashTests.serve(db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter")
        defer { a.process.terminate() }
        let b = try await CrashTests.serve(db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter")
        defer { b.process.terminate() }

        var create = HTTPClientRequestBuilder(url: a.baseURL + "/v1/videos/generations")
        create.method = .POST
        create.headers = [("Authorization", "Bearer \(keys.acme)"), ("Content-Type", "application/json")]
        create.body = Self.grokTask
        let (status, created) = try await create.json()
        #expect(status == 200, "\(created)")
        let id = try #require(created["id"] as? String)

        func read(_ server: CrashTests.Server, key: String) async throws -> (Int, [String: Any]) {
            var request = HTTPClientRequestBuilder(url: server.baseURL + "/v1/videos/generations/\(id)")
            request.headers = [("Authorization", "Bearer \(key)")]
            return try await request.json()
        }
        // Through B, which did not create it: the same task, until it has succeeded.
        var last: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let (code, json) = try await read(b, key: keys.acme)
            #expect(code == 200, "\(json)")
            last = json
            if json["status"] as? String == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(last["id"] as? String == id)
        #expect(last["status"] as? String == "succeeded", "\(last)")
        #expect((last["metering"] as? [String: Any])?["charged"] as? String == "0.420000")
        // Another team's key: 403 from either gateway.
        for server in [a, b] {
            let (code, json) = try await read(server, key: keys.other)
            #expect(code == 403)
            #expect((json["error"] as? [String: Any])?["code"] as? String == "media_resource_access_denied")
        }
        // Charged once, whichever gateway settled it.
        var budget = HTTPClientRequestBuilder(url: a.baseURL + "/v1/budget")
        budget.headers = [("Authorization", "Bearer \(keys.acme)")]
        let (_, status2) = try await budget.json()
        #expect((status2["monthly"] as? [String: Any])?["posted"] as? String == "0.420000", "\(status2)")
        #expect((status2["monthly"] as? [String: Any])?["pending"] as? String == "0.000000", "\(status2)")
        var stats = HTTPClientRequestBuilder(url: upstream + "/_emulator/stats")
        stats.method = .GET
        let (_, counts) = try await stats.json()
        #expect(counts["created"] as? Int == 1, "\(counts)")
    }

    /// Three `serve` processes with `--max-pending 3` on one PostgreSQL database: eight async
    /// creates for one team racing through all three admit exactly three (the ledger counts the
    /// team's tasks in flight, not each process), the other five are 429 and reach no upstream.
    @Test func thePendingCapHoldsAcrossGateways() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = "postgres://\(configuration.username):\(configuration.password ?? "")@\(configuration.host):\(configuration.port)/\(configuration.database)?sslmode=disable"
        let key: String
        do {
            let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock())
            try await ledger.createTeam(name: "acme")
            try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
            key = try await APIKeyStore(ledger: ledger).create(team: "acme").key
            await ledger.close()
        }
        // The tasks outlive the test: all three admitted stay in flight.
        let (emulator, upstream) = try await Self.standaloneEmulator(latencyMs: 600_000)
        defer { emulator.terminate() }
        var gateways: [CrashTests.Server] = []
        defer { for gateway in gateways { gateway.process.terminate() } }
        for _ in 0..<3 {
            gateways.append(try await CrashTests.serve(
                db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter", arguments: ["--max-pending", "3"]))
        }
        let bases = gateways.map(\.baseURL)
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<8 {
                group.addTask {
                    let answer = try await self.send(bases[index % 3], .POST, "/v1/videos/generations", key: key, body: Self.grokTask)
                    return (answer.status, answer.status == 200 ? nil : answer.errorCode)
                }
            }
            return try await group.reduce(into: [String: Int]()) { counts, answer in
                counts["\(answer.0) \(answer.1 ?? "")", default: 0] += 1
            }
        }
        #expect(answers == ["200 ": 3, "429 too_many_pending_tasks": 5], "\(answers)")
        var stats = HTTPClientRequestBuilder(url: upstream + "/_emulator/stats")
        stats.method = .GET
        let (_, counts) = try await stats.json()
        #expect(counts["created"] as? Int == 3, "\(counts)")
        // The budget holds the three tasks' amount only (0.42 USD each).
        var budget = HTTPClientRequestBuilder(url: bases[0] + "/v1/budget")
        budget.headers = [("Authorization", "Bearer \(key)")]
        let (_, status) = try await budget.json()
        #expect((status["monthly"] as? [String: Any])?["pending"] as? String == "1.260000", "\(status)")
    }

    /// Three `serve` processes (`--reconcile-seconds 1`: leases of one second) on one PostgreSQL
    /// database in front of one standalone `videometer emulate`. The first is SIGKILLed right after
    /// its async creates are answered, with its tasks still running upstream; the two survivors
    /// take its tasks over once its leases lapse and settle every task of all three exactly once:
    /// one charge per task the emulator completed (`/_emulator/stats`), a void per task it failed,
    /// nothing pending, `ledger verify` clean. No client polls: the settlement is the gateways' own.
    @Test func theSurvivorsOfAKilledGatewaySettleEveryTaskExactlyOnce() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = "postgres://\(configuration.username):\(configuration.password ?? "")@\(configuration.host):\(configuration.port)/\(configuration.database)?sslmode=disable"
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock())
        defer { Task { await ledger.close() } }
        try await ledger.createTeam(name: "acme")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        let key = try await APIKeyStore(ledger: ledger).create(team: "acme").key

        // Tasks end 1.5 s after their create, later than the kill; a quarter of them fail upstream
        // (voided, not charged).
        let (emulator, upstream) = try await Self.standaloneEmulator(latencyMs: 1500, arguments: ["--pending-cap", "100", "--fail-rate", "0.25"])
        defer { emulator.terminate() }
        var gateways: [CrashTests.Server] = []
        defer { for gateway in gateways { gateway.process.terminate() } }
        for index in 0..<3 {
            // The first's settler reads its tasks a minute after creating them (its reconcile pass
            // would read them once finished): it dies with all of them open, and what settles them
            // is the survivors' takeover.
            gateways.append(try await CrashTests.serve(
                db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter",
                arguments: index == 0 ? ["--poll-ms", "60000"] : []))
        }
        func create(through gateway: CrashTests.Server, count: Int) async throws -> [String] {
            try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        let answer = try await self.send(gateway.baseURL, .POST, "/v1/videos/generations", key: key, body: Self.grokTask)
                        #expect(answer.status == 200, "\(answer.text)")
                        return answer.json["id"] as? String
                    }
                }
                return try await group.reduce(into: []) { ids, id in if let id { ids.append(id) } }
            }
        }
        let orphaned = try await create(through: gateways[0], count: 8)
        kill(gateways[0].process.processIdentifier, SIGKILL)
        gateways[0].process.waitUntilExit()
        #expect(gateways[0].process.terminationReason == .uncaughtSignal)
        let killedAt = ContinuousClock.now
        #expect(orphaned.count == 8)
        #expect(try await ledger.openHolds().count == 8, "the killed gateway's tasks are still open")
        // More tasks in flight through the survivors while they take the orphans over.
        let survivors = try await create(through: gateways[1], count: 8) + create(through: gateways[2], count: 8)
        #expect(survivors.count == 16)

        try await eventually(seconds: 90) { try await ledger.openHolds().isEmpty }
        let settledIn = killedAt.duration(to: .now)
        print("the survivors settled every task, the killed gateway's included, \(settledIn) after the kill (reconcile interval 1 s, so leases of 1 s)")

        var stats = HTTPClientRequestBuilder(url: upstream + "/_emulator/stats")
        stats.method = .GET
        let (_, counts) = try await stats.json()
        #expect(counts["created"] as? Int == 24, "\(counts)")
        let tasks = try #require(counts["tasks"] as? [String: [String: Any]])
        let completed = tasks.filter { $0.value["status"] as? String == "succeeded" }.map(\.key)
        #expect(counts["completed"] as? Int == completed.count)
        let holds = try await ledger.holds(state: nil)
        #expect(holds.count == 24)
        for taskID in tasks.keys {
            let matching = holds.filter { $0.upstreamTaskID == taskID }
            #expect(matching.count == 1, "task \(taskID) has \(matching.count) holds")
            guard let hold = matching.first else { continue }
            if completed.contains(taskID) {
                #expect(hold.state == .posted && hold.postedMicro == 420_000, "completed task \(taskID): \(hold.state) \(hold.postedMicro)")
            } else {
                #expect(hold.state == .voided && hold.postedMicro == 0, "task \(taskID): \(hold.state)")
            }
        }
        // One usage event per task, one charge per completed task, and nothing else.
        #expect(try await ledger.usageEvents(team: "acme").count == 24)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == MicroUSD(completed.count) * 420_000)
        #expect(status.monthPendingMicro == 0)
        #expect(completed.count > 0 && completed.count < 24, "some tasks succeed, some fail: \(counts)")
        #expect(try await ledger.verify().problems == [])
        // Still two gateways standing, both healthy.
        for gateway in gateways.dropFirst() { #expect(try await CrashTests.plainGet(gateway.baseURL + "/healthz") == 200) }
    }

    /// Three `serve` processes on one PostgreSQL database, 60 sync calls of 0.42 USD racing through
    /// all three for two teams whose budgets fit exactly K calls: exactly K succeed per team, the
    /// rest are 402 `budget_exceeded`, and the ledger holds K x 0.42 USD posted, nothing pending.
    @Test func racingCallsThroughThreeGatewaysChargeExactlyK() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = "postgres://\(configuration.username):\(configuration.password ?? "")@\(configuration.host):\(configuration.port)/\(configuration.database)?sslmode=disable"
        let teams: [(name: String, k: Int)] = [("alpha", 7), ("beta", 11)]
        var keys: [String: String] = [:]
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock())
        defer { Task { await ledger.close() } }
        let store = try APIKeyStore(ledger: ledger)
        for team in teams {
            try await ledger.createTeam(name: team.name)
            try await ledger.setBudget(team: team.name, BudgetSettings(monthlyLimitMicro: MicroUSD(team.k) * 420_000))
            keys[team.name] = try await store.create(team: team.name).key
        }
        // Sync calls go to each gateway's sandboxed BlockRun; the standalone emulator only satisfies `serve`.
        let (emulator, upstream) = try await Self.standaloneEmulator(latencyMs: 10)
        defer { emulator.terminate() }
        var gateways: [CrashTests.Server] = []
        defer { for gateway in gateways { gateway.process.terminate() } }
        for _ in 0..<3 {
            gateways.append(try await CrashTests.serve(
                db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter", arguments: ["--sandbox-latency-ms", "20"]))
        }
        let bases = gateways.map(\.baseURL)
        let answers = try await withThrowingTaskGroup(of: (String, Int, String?).self) { group in
            for index in 0..<60 {
                let team = teams[index % teams.count].name, key = keys[team]!
                group.addTask {
                    let answer = try await self.send(bases[index % 3], .POST, "/v1/videos/generations", key: key, body: Self.grokSync)
                    return (team, answer.status, answer.errorCode)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for team in teams {
            let mine = answers.filter { $0.0 == team.name }
            #expect(mine.filter { $0.1 == 200 }.count == team.k, "\(team.name): \(mine)")
            #expect(mine.filter { $0.1 == 402 && $0.2 == "budget_exceeded" }.count == 30 - team.k, "\(team.name): \(mine)")
            let status = try await ledger.budgetStatus(team: team.name)
            #expect(status.monthPostedMicro == MicroUSD(team.k) * 420_000)
            #expect(status.monthPendingMicro == 0)
        }
        #expect(try await ledger.verify().problems == [])
    }

    /// `videometer emulate` (WorldRouter style) as its own process on a free port, once it answers;
    /// the caller terminates it.
    static func standaloneEmulator(latencyMs: Int, arguments extra: [String] = []) async throws -> (Process, String) {
        let port = try CrashTests.freePort()
        let emulator = Process()
        emulator.executableURL = VideometerProcess.binary
        emulator.arguments = ["emulate", "--style", "worldrouter", "--port", String(port), "--latency-ms", String(latencyMs), "--seed", "5"] + extra
        emulator.environment = VideometerProcess.environment()
        emulator.standardOutput = FileHandle.nullDevice
        emulator.standardError = FileHandle.nullDevice
        try VideometerProcess.launch(emulator)
        let upstream = "http://127.0.0.1:\(port)"
        let started = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < started, (try? await CrashTests.plainGet(upstream + "/_emulator/stats")) != 200 {
            try await Task.sleep(for: .milliseconds(50))
        }
        return (emulator, upstream)
    }
}

/// Two `serve` processes on one PostgreSQL server that is stopped (`-m immediate`, as if it
/// crashed) and started again while clients keep sending sync calls and async creates: calls
/// answer 200 or 503 `ledger_unavailable`, never anything else; a call that was in flight when the
/// server went away is settled once it is back (its charge waits for the ledger instead of being
/// dropped); afterwards every generation the upstreams made is charged exactly once, nothing else
/// is, and `verify` is clean.
@Suite("PostgreSQL restarted under load", .serialized)
struct PostgresRestartTests {
    actor Tally {
        var answers: [String: Int] = [:]
        var okAfterRestart = 0
        var unavailable = 0
        var restarted = false
        var stopped = false
        /// Charged micro-dollars of the sync calls answered 200.
        var syncCharged: [Int64] = []
        var taskIDs: [String] = []

        func record(_ answer: HTTPAnswer, sync: Bool) {
            answers["\(answer.status) \(answer.status == 200 ? "" : answer.errorCode ?? answer.text)", default: 0] += 1
            if answer.status == 503 { unavailable += 1 }
            guard answer.status == 200 else { return }
            if restarted { okAfterRestart += 1 }
            if sync {
                syncCharged.append(PostgresRestartTests.micro(answer.headers.first(name: "X-VideoMeter-Charged") ?? "-1"))
            } else if let id = answer.json["id"] as? String {
                taskIDs.append(id)
            }
        }
        func markRestarted() { restarted = true }
        func stop() { stopped = true }
    }

    /// "0.420000" as micro-dollars, exactly.
    static func micro(_ text: String) -> Int64 {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let whole = Int64(parts[0]), parts[1].count == 6, let fraction = Int64(parts[1]) else { return -1 }
        return whole * 1_000_000 + fraction
    }

    @Test func nothingIsLostWhenTheDatabaseRestartsUnderLoad() async throws {
        guard let server = try await PostgresTestServer.dedicated() else { return }
        defer { server.remove() }
        try await PostgresTestServer.execute("CREATE DATABASE videometer", on: server.configuration)
        var configuration = server.configuration
        configuration.database = "videometer"
        let url = "postgres://\(configuration.username):\(configuration.password ?? "")@\(configuration.host):\(configuration.port)/videometer?sslmode=disable"
        var quiet = Logger(label: "videometer.ledger.postgres.test")
        quiet.logLevel = .critical
        let key: String
        do {
            let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock(), logger: quiet)
            try await ledger.createTeam(name: "acme")
            try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 1_000_000_000))
            key = try await APIKeyStore(ledger: ledger).create(team: "acme").key
            await ledger.close()
        }
        let (emulator, upstream) = try await PostgresGatewayTests.standaloneEmulator(latencyMs: 150)
        defer { emulator.terminate() }
        var gateways: [CrashTests.Server] = []
        defer { for gateway in gateways { gateway.process.terminate() } }
        // Leases (= reconcile intervals) of 10 s outlast the outage: a hold whose commit went
        // unanswered stays leased to the gateway that made it, which releases it as soon as the
        // database is back. (With 1 s leases another gateway's reconciler could take it over first
        // and, not knowing it was never sent, leave it to its deadline: docs/GATEWAY.md.)
        for _ in 0..<2 {
            gateways.append(try await CrashTests.serve(
                db: url, port: try CrashTests.freePort(), upstream: upstream, seller: "worldrouter",
                arguments: ["--sandbox-latency-ms", "100", "--reconcile-seconds", "10"]))
        }
        let bases = gateways.map(\.baseURL)
        let tally = Tally()
        let tests = PostgresGatewayTests()

        // Eight clients through both gateways in turn: four send sync calls (BlockRun, sandboxed in
        // each gateway), four async creates (WorldRouter, the standalone emulator).
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var turn = client
                        let sync = client % 2 == 0
                        while await !tally.stopped {
                            let answer = try await tests.send(
                                bases[turn % 2], .POST, "/v1/videos/generations", key: key,
                                body: sync ? PostgresGatewayTests.grokSync : PostgresGatewayTests.grokTask)
                            await tally.record(answer, sync: sync)
                            // A client that honours Retry-After, briefly.
                            if answer.status == 503 { try await Task.sleep(for: .milliseconds(20)) }
                            turn += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        func waitFor(_ what: String, _ condition: @Sendable () async -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while await !condition() {
                guard ContinuousClock.now < deadline else {
                    await tally.stop()
                    Issue.record("timed out waiting for \(what): \(await tally.answers)")
                    throw CancellationError()
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await waitFor("calls before the stop") { await tally.answers["200 ", default: 0] >= 12 }
        try server.stop()
        // Calls that were in flight wait for the ledger to settle them; new ones fail closed. The
        // outage lasts a moment beyond the first 503s, as a restart would.
        try await waitFor("503s while the server is down") { await tally.unavailable >= 2 }
        try await Task.sleep(for: .milliseconds(300))
        try server.start()
        await tally.markRestarted()
        try await waitFor("calls after the restart") { await tally.okAfterRestart >= 12 }
        await tally.stop()
        try await load.value

        let answers = await tally.answers
        #expect(Set(answers.keys).isSubset(of: ["200 ", "503 ledger_unavailable"]), "\(answers)")
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.runningWallClock(), logger: quiet)
        defer { Task { await ledger.close() } }
        // Every async task settles once its emulator task ends: nothing stays pending.
        do {
            try await waitFor("every hold to settle") { ((try? await ledger.budgetStatus(team: "acme").monthPendingMicro) ?? -1) == 0 }
        } catch {
            let open = (try? await ledger.openHolds()) ?? []
            Issue.record("still open: \(open.map { "#\($0.id) \($0.provider) \($0.callStatus) task=\($0.upstreamTaskID ?? "-")" })")
            throw error
        }

        var stats = HTTPClientRequestBuilder(url: upstream + "/_emulator/stats")
        stats.method = .GET
        let (_, counts) = try await stats.json()
        let tasks = try #require(counts["tasks"] as? [String: [String: Any]])
        let completed = Set(tasks.filter { $0.value["status"] as? String == "succeeded" }.keys)
        #expect(counts["completed"] as? Int == completed.count && completed.count == tasks.count, "\(counts)")
        let posted = try await ledger.holds(state: .posted)
        let postedTasks = posted.filter { $0.provider == "worldrouter" }.compactMap(\.upstreamTaskID)
        // Each task the emulator completed is charged exactly once (no task twice, none left out),
        // and each task a client was given an id for reads back, through either gateway, charged.
        #expect(postedTasks.count == Set(postedTasks).count)
        #expect(Set(postedTasks) == completed)
        let given = await tally.taskIDs
        #expect(given.count <= completed.count)
        for (index, id) in given.enumerated() {
            let read = try await tests.send(bases[index % 2], .GET, "/v1/videos/generations/\(id)", key: key)
            #expect(read.json["status"] as? String == "succeeded", "\(read.text)")
            #expect((read.json["metering"] as? [String: Any])?["charged"] as? String == "0.420000", "\(read.text)")
        }
        #expect(posted.filter { $0.provider == "worldrouter" }.allSatisfy { $0.postedMicro == 420_000 })
        // Each sync call answered 200 is charged what its answer said, and no other sync call is.
        let syncCharged = await tally.syncCharged
        let syncPosted = posted.filter { $0.provider == "blockrun" }
        #expect(syncCharged.allSatisfy { $0 == 420_000 }, "\(syncCharged)")
        #expect(syncPosted.count == syncCharged.count)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == syncCharged.reduce(0, +) + Int64(completed.count) * 420_000)
        #expect(try await ledger.verify().problems == [])
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedgerPostgres
import VideoMeterReports
import VideoMeterTesting
@testable import VideoMeterLedger

/// `LedgerCopy` moves a whole ledger between stores: the copy holds the same rows, ids and all,
/// verifies the same to the micro-dollar and reports the same.
@Suite struct LedgerCopyTests {
    /// Every row of a store, table by table, as a copy reads it.
    static func rows(_ store: any LedgerTransfer) async throws -> [LedgerTable: [[LedgerValue]]] {
        let collected = Rows()
        try await store.exportRows(batchSize: 1000) { table, rows in collected.add(table, rows) }
        return collected.value
    }

    final class Rows: @unchecked Sendable {
        private let lock = NSLock()
        private var rows: [LedgerTable: [[LedgerValue]]] = [:]
        func add(_ table: LedgerTable, _ batch: [[LedgerValue]]) { lock.withLock { rows[table, default: []] += batch } }
        var value: [LedgerTable: [[LedgerValue]]] { lock.withLock { rows } }
    }

    /// The report ledger, plus API keys (one revoked), a gateway task and a stored replay.
    static func source() async throws -> StoreFixture {
        let fixture = try await StoreFixture.make(.sqlite)!
        let ledger = fixture.store as! Ledger
        try await ReportLedger.fill(ledger, clock: fixture.clock)
        let studio = try await ledger.team(named: "studio")
        let key = try await ledger.createAPIKey(team: "studio", keyHash: "hash-ci", prefix: "vm_ci", label: "ci")
        _ = try await ledger.createAPIKey(team: "tokyo", keyHash: "hash-old", prefix: "vm_old", label: nil)
        _ = try await ledger.revokeAPIKey(matching: "vm_old")
        _ = try await ledger.gatewayTaskID(holdID: 1, teamID: studio.id, apiKeyID: key.id, candidate: "vmt_first")
        try await ledger.storeReplay(holdID: 1, responseJSON: #"{"id":"vmt_first","status":"succeeded"}"#)
        return fixture
    }

    /// Asserts that two stores hold the same ledger: rows, verify, budgets, reports.
    static func expectSame(_ one: StoreFixture, _ other: StoreFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let rows = try await Self.rows(one.store)
        #expect(rows == (try await Self.rows(other.store)), sourceLocation: sourceLocation)
        let verify = try await one.store.verify()
        #expect(verify.problems == [], sourceLocation: sourceLocation)
        #expect(verify == (try await other.store.verify()), sourceLocation: sourceLocation)
        other.clock.set(one.clock.now())
        for team in ["studio", "newyork", "tokyo", "paris"] {
            #expect(try await one.store.budgetStatus(team: team) == other.store.budgetStatus(team: team), sourceLocation: sourceLocation)
        }
        for (month, zone) in [("2026-11", nil), ("2026-11", "America/New_York"), ("2026-10", "Europe/Paris")] as [(String, String?)] {
            let a = try await ReportParityTests.rendered(one.store, month: month, timeZone: zone, now: "2026-12-02T00:00:00Z")
            let b = try await ReportParityTests.rendered(other.store, month: month, timeZone: zone, now: "2026-12-02T00:00:00Z")
            #expect(a.texts == b.texts, "\(month) \(zone ?? "own zones")", sourceLocation: sourceLocation)
        }
    }

    @Test func aLedgerCopiedToPostgresAndBackIsTheSameLedger() async throws {
        guard let postgres = try await StoreFixture.make(.postgres) else { return }
        defer { Task { await postgres.close() } }
        let sqlite = try await Self.source()
        // Small batches: every table spans several, the balance's three-column key included.
        let report = try await LedgerCopy.copy(from: sqlite.store, to: postgres.store, batchSize: 4)
        #expect(report.rows[.team] == 5)
        #expect(report.rows[.hold] == 20)
        #expect(report.rows[.usageEvent] == 18)
        #expect(report.rows[.lateSuccess] == 1 && report.rows[.apiKey] == 2 && report.rows[.gatewayTask] == 1 && report.rows[.gatewayReplay] == 1)
        #expect(report.totalRows == (try await Self.rows(sqlite.store)).values.reduce(0) { $0 + $1.count })
        try await Self.expectSame(sqlite, postgres)

        let back = try await StoreFixture.make(.sqlite)!
        try await LedgerCopy.copy(from: postgres.store, to: back.store, batchSize: 7)
        try await Self.expectSame(sqlite, back)

        // The copy moved PostgreSQL's numbering past the ids it wrote: new rows follow on.
        #expect(try await postgres.store.createTeam(name: "after").id == 6)
        postgres.clock.set(ReportLedger.utc("2026-12-03T00:00:00Z"))
        let hold = try await postgres.store.hold(HoldRequest(
            team: "studio", idempotencyKey: "after-copy", fingerprint: "fp", amountMicro: 100_000, timeoutSeconds: 60,
            provider: "blockrun", model: "bytedance/seedance-1.5-pro", resolution: "720p", seconds: 5, catalogVersion: "v",
            quoteJSON: "{}", upstreamCostMicro: 90_000, marginMicro: 10_000))
        #expect(hold.hold.id == 21)
        // An idempotency key copied over is still taken.
        await expectLedgerError("idempotency_key_reused") {
            _ = try await postgres.store.hold(HoldRequest(
                team: "studio", idempotencyKey: "key-1", fingerprint: "other", amountMicro: 100_000, timeoutSeconds: 60,
                provider: "blockrun", model: "bytedance/seedance-1.5-pro", resolution: "720p", seconds: 5, catalogVersion: "v",
                quoteJSON: "{}", upstreamCostMicro: 90_000, marginMicro: 10_000))
        }
        #expect(try await postgres.store.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func aTargetWithDataIsRefusedAndUntouchedUnlessReplaced(_ kind: StoreKind) async throws {
        guard let target = try await StoreFixture.make(kind) else { return }
        defer { Task { await target.close() } }
        let source = try await Self.source()
        try await target.team("other", monthly: 1_000_000)
        _ = try await target.store.hold(request("other-1", team: "other", amount: 200_000))
        let before = try await Self.rows(target.store)

        await #expect(throws: LedgerCopyError.targetNotEmpty(.team)) {
            try await LedgerCopy.copy(from: source.store, to: target.store)
        }
        #expect(try await Self.rows(target.store) == before)

        try await LedgerCopy.copy(from: source.store, to: target.store, replace: true, batchSize: 5)
        try await Self.expectSame(source, target)
        // The journal is append-only again after the replacing copy.
        await #expect(throws: (any Error).self) { try await target.execute("DELETE FROM journalEntry") }
    }

    @Test(arguments: StoreKind.allCases)
    func aSourceWithColumnsTheCopyDoesNotKnowIsRefused(_ kind: StoreKind) async throws {
        guard let source = try await StoreFixture.make(kind) else { return }
        defer { Task { await source.close() } }
        try await source.team("acme")
        try await source.execute("ALTER TABLE hold ADD COLUMN leaseOwner TEXT")
        try await source.execute("CREATE TABLE refundRequest (holdID BIGINT PRIMARY KEY)")
        let target = try await StoreFixture.make(.sqlite)!
        let error = await #expect(throws: LedgerCopyError.self) { try await LedgerCopy.copy(from: source.store, to: target.store) }
        #expect(error?.code == "ledger_copy_unknown_schema")
        #expect(error?.message.contains(kind == .sqlite ? "hold.leaseOwner, refundRequest" : "hold.leaseowner, refundrequest") == true)
        #expect(try await Self.rows(target.store).values.allSatisfy(\.isEmpty))
    }

    @Test func aCopyThatFailsPartWayLeavesTheTargetEmpty() async throws {
        guard let postgres = try await StoreFixture.make(.postgres) else { return }
        defer { Task { await postgres.close() } }
        let sqlite = try await Self.source()
        // SQLite keeps text in an integer column, PostgreSQL refuses it: the last usage event fails
        // on the target after every earlier batch was written in the same transaction.
        try await sqlite.execute("UPDATE usageEvent SET latencyMs = 'soon' WHERE id = (SELECT MAX(id) FROM usageEvent)")
        await #expect(throws: (any Error).self) { try await LedgerCopy.copy(from: sqlite.store, to: postgres.store, batchSize: 3) }
        #expect(try await Self.rows(postgres.store).values.allSatisfy(\.isEmpty))
        #expect(try await postgres.store.teams().isEmpty)
        // Nothing half-written stands in the way of the next copy.
        try await sqlite.execute("UPDATE usageEvent SET latencyMs = 1200 WHERE id = (SELECT MAX(id) FROM usageEvent)")
        try await LedgerCopy.copy(from: sqlite.store, to: postgres.store)
        try await Self.expectSame(sqlite, postgres)
    }

    @Test func theBufferBetweenTheStoresHoldsAtMostTwoBatches() async throws {
        let stream = LedgerRowStream()
        let handed = Counter()
        let producer = Task {
            for index in 0..<10 {
                try await stream.put(.team, [[.integer(Int64(index))]])
                handed.increment()
            }
            stream.finish()
        }
        // Nobody takes: the reader stops after the buffer is full (the put that fills it waits).
        try await eventually { handed.value == 1 }
        var taken: [Int64] = []
        while let batch = try await stream.next() {
            if case .integer(let value) = batch.rows[0][0] { taken.append(value) }
            #expect(handed.value <= taken.count + 2)
        }
        try await producer.value
        #expect(taken == Array(0..<10))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

import Foundation
import Logging
import PostgresNIO
import Testing
import VideoMeter
@testable import VideoMeterLedgerPostgres
import VideoMeterTesting
@testable import VideoMeterLedger

/// What only the PostgreSQL store has: a server to reach, credentials, migrations shared by
/// processes. Each bad input is a clear error that writes nothing.
@Suite struct PostgresLedgerTests {
    @Test func aWrongPasswordIsRefusedWithItsOwnCode() async throws {
        guard var configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        configuration.password = "not-the-password"
        let error = await #expect(throws: PostgresLedgerError.self) {
            _ = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        }
        #expect(error?.code == "ledger_authentication_failed")
        #expect(error?.message.contains("not-the-password") == false)
    }

    @Test func anUnreachableServerIsReportedQuickly() async throws {
        guard try await PostgresTestServer.shared.server() != nil else { return }
        let port = try PostgresTestServer.freePort()
        let configuration = PostgresLedger.Configuration(
            host: "127.0.0.1", port: port, username: "postgres", password: "x", database: "videometer", tls: .disable,
            connectTimeout: .seconds(2))
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresLedgerError.self) {
            _ = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        }
        #expect(error?.code == "ledger_unavailable")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func aDatabaseWrittenByANewerVersionIsRefusedAndLeftAsItWas() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "acme", timeZone: "UTC")
        await ledger.close()
        try await PostgresTestServer.execute(
            "INSERT INTO ledgerMigration (identifier, appliedAt) VALUES ('pg-v99-from-the-future', 0)", on: configuration)
        let error = await #expect(throws: PostgresLedgerError.self) {
            _ = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        }
        #expect(error?.code == "ledger_schema_newer")
        #expect(error?.message.contains("pg-v99-from-the-future") == true)
        // Nothing was written: the migrations and the team are as they were.
        try await PostgresTestServer.execute("DELETE FROM ledgerMigration WHERE identifier = 'pg-v99-from-the-future'", on: configuration)
        let reopened = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        #expect(try await reopened.teams().map(\.name) == ["acme"])
        await reopened.close()
    }

    @Test func severalProcessesMayMigrateOneDatabaseAtOnce() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let ledgers = try await withThrowingTaskGroup(of: PostgresLedger.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock()) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await ledgers[0].createTeam(name: "acme", timeZone: "UTC")
        #expect(try await ledgers[3].team(named: "acme").name == "acme")
        for ledger in ledgers { await ledger.close() }
    }

    /// A write that fails in the database for a reason no rule foresaw (here a trigger the test
    /// adds refuses it) fails alone: its batch runs again with a savepoint per write, every other
    /// hold sent with it is granted, and the connection it failed on is replaced.
    @Test func aWriteTheDatabaseRefusesFailsAloneAndItsBatchIsGranted() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "acme", timeZone: "UTC")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        try await PostgresTestServer.execute("""
            CREATE FUNCTION refuse_marked_hold() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.provider = 'refused-by-the-database' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; RETURN NEW; END $$
            """, on: configuration)
        try await PostgresTestServer.execute(
            "CREATE TRIGGER refuse_marked_hold BEFORE INSERT ON hold FOR EACH ROW EXECUTE FUNCTION refuse_marked_hold()", on: configuration)
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
            for index in 0..<20 {
                var held = request("k\(index)", amount: 1_000_000)
                if index == 7 { held.provider = "refused-by-the-database" }
                group.addTask { (held.idempotencyKey, (try? await ledger.hold(held)) != nil) }
            }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes.filter(\.value).count == 19)
        #expect(outcomes["k7"] == false)
        #expect(try await ledger.hold(idempotencyKey: "k7") == nil)
        #expect(try await ledger.budgetStatus(team: "acme").monthPendingMicro == 19_000_000)
        #expect(try await ledger.verify().problems == [])
        // The ledger goes on writing on a fresh connection.
        _ = try await ledger.hold(request("k20", amount: 1_000_000))
        #expect(try await ledger.budgetStatus(team: "acme").monthPendingMicro == 20_000_000)
        await ledger.close()
    }

    /// A transaction stops watching its connection for a close when it ends. A watch left behind
    /// per transaction (a callback on the pooled connection's close future, which keeps it until
    /// the connection closes, hours later) held every finished transaction's task: a gateway on
    /// PostgreSQL grew by about 12 KB per async task created (10,000 tasks: 123 MB against 18 MB).
    @Test func finishedTransactionsLeaveNothingWatchingTheirConnection() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "acme", timeZone: "UTC")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask { _ = try await ledger.hold(request("w\(index)", amount: 1_000_000)) }
            }
            try await group.waitForAll()
        }
        for _ in 0..<20 { _ = try await ledger.budgetStatus(team: "acme") }
        #expect(try await ledger.budgetStatus(team: "acme").monthPendingMicro == 40_000_000)
        let counts = ledger.closeWatch.counts
        #expect(counts.waiters == 0)
        #expect(counts.connections >= 1 && counts.connections <= configuration.maximumConnections)
        await ledger.close()
    }

    /// The watch still tells every transaction running on a connection that closes, and a
    /// transaction that starts on one already closed at once.
    @Test func aClosingConnectionEndsEveryTransactionWatchingIt() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let logger = Logger(label: "videometer.tests.postgres")
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: configuration.host, port: configuration.port, username: configuration.username,
                                 password: configuration.password, database: configuration.database, tls: .disable),
            id: 1, logger: logger)
        let watch = ConnectionCloseWatch()
        let running = (0..<3).map { index in
            Task {
                try await connection.untilClosed(watch: watch) {
                    // Waits until cancelled: only the close can end the wait.
                    try await Task.sleep(for: .seconds(60))
                    return index
                }
            }
        }
        while watch.counts.waiters < 3 { await Task.yield() }
        try await connection.close()
        for task in running {
            await #expect(throws: PostgresLedgerError.self) { _ = try await task.value }
        }
        #expect(watch.counts.waiters == 0 && watch.counts.connections == 0)
        await #expect(throws: PostgresLedgerError.self) {
            _ = try await connection.untilClosed(watch: watch) { try await Task.sleep(for: .seconds(30)) }
        }
        #expect(watch.counts.waiters == 0)
    }

    /// NUL, which no PostgreSQL text holds, is stored as U+FFFD rather than failing the write.
    @Test func aNulInAHoldIsStoredAsAReplacementCharacter() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let ledger = try await PostgresLedger.open(configuration, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "acme", timeZone: "UTC")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        var held = request("nul", amount: 1_000_000)
        held.provider = "block\u{0}run"
        _ = try await ledger.hold(held)
        #expect(try await ledger.hold(idempotencyKey: "nul")?.provider == "block\u{FFFD}run")
        await ledger.close()
    }

    @Test func aURLIsReadAndABadOneRefused() throws {
        let configuration = try PostgresLedger.Configuration(url: "postgres://meter:p%40ss@db.internal:6543/ledger?sslmode=require")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "meter")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == "ledger")
        #expect(configuration.tls == .require)
        for bad in ["mysql://a@b/c", "postgres://db.internal/ledger", "postgres://a@b", "postgres://a@b/c?sslmode=sometimes"] {
            #expect(throws: PostgresLedgerError.self, "\(bad)") { _ = try PostgresLedger.Configuration(url: bad) }
        }
    }
}

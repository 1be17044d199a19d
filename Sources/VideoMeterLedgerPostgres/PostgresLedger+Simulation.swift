import Foundation
import Logging
import PostgresNIO
import VideoMeter
@_spi(Simulation) import VideoMeterLedger

/// What the simulator (`videometer-sim --ledger postgres://…`) needs of the PostgreSQL store beside
/// the contract: its oracle's raw reads, and a database of its own per seed. Reachable only through
/// `@_spi(Simulation) import`.
@_spi(Simulation) extension PostgresLedger: SimulationObservable {
    @_spi(Simulation) public func simulationStep(
        after lastEntryID: Int64, keys: [String], windows: @escaping @Sendable ([SimulationJournalEntry]) -> Set<SimulationWindow>
    ) async throws -> SimulationStepReading {
        let logger = self.logger
        return try await read { connection in
            let fresh = try await connection.all("""
                SELECT \(unescaped: SimulationJournalEntry.columns) FROM journalEntry WHERE id > \(lastEntryID) ORDER BY id
                """, logger).map(Self.simulationEntry)
            let journalCount = try await connection.first("SELECT COUNT(*) FROM journalEntry", logger)?.int(0) ?? 0
            var holdsByID: [Int64: Hold] = [:]
            for entry in fresh where entry.kind != "hold" && entry.kind != "credit" {
                guard let holdID = entry.holdID else { continue }
                holdsByID[holdID] = try await connection.first(
                    "SELECT \(unescaped: Self.holdColumns) FROM hold WHERE id = \(holdID)", logger).map(Self.hold)
            }
            var balances: [SimulationWindow: SimulationSums] = [:]
            for key in windows(fresh) {
                if let row = try await connection.first("""
                    SELECT postedMicro, pendingMicro FROM balance WHERE teamID = \(key.teamID) AND scope = \(key.scope) AND periodKey = \(key.key)
                    """, logger) {
                    balances[key] = SimulationSums(posted: try row.int64(0), pending: try row.int64(1))
                }
            }
            let totals = try await connection.first("""
                SELECT COUNT(*), COALESCE(SUM(postedMicro), 0)::BIGINT, COALESCE(SUM(pendingMicro), 0)::BIGINT FROM balance
                """, logger)!
            var holdsByKey: [String: Hold] = [:]
            var lateSuccesses = Set<Int64>()
            for key in keys where holdsByKey[key] == nil {
                guard let hold = try await Self.hold(idempotencyKey: key, connection, logger) else { continue }
                holdsByKey[key] = hold
                if try await connection.first("SELECT 1 FROM lateSuccess WHERE holdID = \(hold.id)", logger) != nil {
                    lateSuccesses.insert(hold.id)
                }
            }
            return SimulationStepReading(
                fresh: fresh, journalCount: journalCount, balances: balances, balanceCount: try totals.int(0),
                balanceTotals: SimulationSums(posted: try totals.int64(1), pending: try totals.int64(2)), holdsByID: holdsByID,
                holdsByKey: holdsByKey, lateSuccesses: lateSuccesses)
        }
    }

    @_spi(Simulation) public func simulationBalances() async throws -> [(SimulationWindow, SimulationSums)] {
        let logger = self.logger
        let rows = try await read { connection in
            try await connection.all("SELECT teamID, scope, periodKey, postedMicro, pendingMicro FROM balance", logger).map { row in
                (SimulationWindow(teamID: try row.int64(0), scope: try row.string(1), key: try row.string(2)),
                 SimulationSums(posted: try row.int64(3), pending: try row.int64(4)))
            }
        }
        return rows
    }

    @_spi(Simulation) public func simulationJournal(upTo lastEntryID: Int64) async throws -> [SimulationJournalEntry] {
        let logger = self.logger
        return try await read { connection in
            try await connection.all("""
                SELECT \(unescaped: SimulationJournalEntry.columns) FROM journalEntry WHERE id <= \(lastEntryID) ORDER BY id
                """, logger).map(Self.simulationEntry)
        }
    }

    @_spi(Simulation) public func simulationPollableHolds() async throws -> [Int64] {
        let logger = self.logger
        return try await read { connection in
            try await connection.all(
                "SELECT id FROM hold WHERE state = 'pending' AND upstreamTaskID IS NOT NULL ORDER BY id", logger
            ).map { try $0.int64(0) }
        }
    }

    static func simulationEntry(_ row: Cells) throws -> SimulationJournalEntry {
        SimulationJournalEntry(
            id: try row.int64(0), kind: try row.string(1), teamID: try row.int64(2), holdID: try row.optionalInt64(3),
            amount: try row.int64(4), released: try row.int64(5), month: try row.optionalString(6), day: try row.optionalString(7),
            creditLimit: try row.optionalInt64(8))
    }

    // MARK: - A database per seed

    /// Creates the empty database `name` on the server `configuration` names (connecting to its
    /// database), for one simulated seed: a fresh database starts every identity at 1, so a seed's
    /// hold and entry ids, and with them its output, do not depend on what ran before.
    ///
    /// - Throws: ``PostgresLedgerError`` when the server cannot be reached or refuses the
    ///   credentials; the server's error (with its SQLSTATE) when the user may not create databases.
    @_spi(Simulation) public static func createSimulationDatabase(_ name: String, on configuration: Configuration) async throws {
        try await administer("CREATE DATABASE \(try quoted(name))", on: configuration)
    }

    /// Drops the database `name` made by ``createSimulationDatabase(_:on:)``, ending any session
    /// still connected to it.
    @_spi(Simulation) public static func dropSimulationDatabase(_ name: String, on configuration: Configuration) async throws {
        try await administer("DROP DATABASE IF EXISTS \(try quoted(name)) WITH (FORCE)", on: configuration)
    }

    private static func quoted(_ name: String) throws -> String {
        guard !name.isEmpty, name.count <= 63, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw PostgresLedgerError.invalidURL("'\(name)' is not a database name the simulator makes.")
        }
        return "\"\(name)\""
    }

    private static func administer(_ sql: String, on configuration: Configuration) async throws {
        let logger = Logger(label: "videometer.sim.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try configuration.connection(), id: 0, logger: logger)
        } catch {
            throw PostgresLedgerError.from(error)
        }
        do {
            try await connection.run(PostgresQuery(unsafeSQL: sql), logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            let reading = PostgresLedgerError.from(error)
            if reading is PostgresLedgerError { throw reading }
            if let psql = error as? PSQLError, let state = psql.sqlState {
                throw SimulationDatabaseError(statement: sql, detail: "\(psql.serverInfo?[.message] ?? "") (SQLSTATE \(state))")
            }
            throw SimulationDatabaseError(statement: sql, detail: "\(error)")
        }
    }
}

/// The server refused to create or drop the simulator's database of a seed (most often: the user
/// of `--ledger` may not create databases).
@_spi(Simulation) public struct SimulationDatabaseError: CodedError {
    public let statement: String
    public let detail: String

    public var code: String { "simulation_database_refused" }
    public var message: String {
        "PostgreSQL refused `\(statement)`: \(detail). The simulator runs each seed in a database of its own, which it creates and drops: the --ledger user needs the CREATEDB privilege."
    }
}

import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing
import VideoMeter
import VideoMeterLedgerPostgres
import VideoMeterTesting
@testable import VideoMeterLedger

/// The ledger stores the contract tests run against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }
}

/// One store of `kind` on a fresh database, on a manual clock at the suite's instant, and the means
/// to open a second store on the same database (another pool: another process, as far as the
/// database can tell) and to run raw SQL against it.
final class StoreFixture: Sendable {
    let kind: StoreKind
    let clock: ManualWallClock
    let store: any LedgerStore
    private let sqlitePath: String?
    private let postgres: PostgresLedger.Configuration?

    /// Nil when the kind's server is missing and its cases are skipped (a line says so once).
    static func make(_ kind: StoreKind, at start: Date = instant()) async throws -> StoreFixture? {
        let clock = ManualWallClock(start)
        switch kind {
        case .sqlite:
            let path = try temporaryDirectory().appendingPathComponent("ledger.sqlite").path
            return StoreFixture(kind: kind, clock: clock, store: try Ledger(path: path, clock: clock), sqlitePath: path, postgres: nil)
        case .postgres:
            guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return nil }
            let store = try await PostgresLedger.open(configuration, clock: clock)
            return StoreFixture(kind: kind, clock: clock, store: store, sqlitePath: nil, postgres: configuration)
        }
    }

    private init(kind: StoreKind, clock: ManualWallClock, store: any LedgerStore, sqlitePath: String?, postgres: PostgresLedger.Configuration?) {
        self.kind = kind
        self.clock = clock
        self.store = store
        self.sqlitePath = sqlitePath
        self.postgres = postgres
    }

    /// The SQLite file, for the SQLite kind.
    var sqlitePathForTests: String? { sqlitePath }

    /// Another store on the same database and clock.
    func another() async throws -> any LedgerStore {
        switch kind {
        case .sqlite: return try Ledger(path: sqlitePath!, clock: clock)
        case .postgres: return try await PostgresLedger.open(postgres!, clock: clock)
        }
    }

    /// Ends a store this fixture opened (PostgreSQL: its pool).
    func close(_ store: any LedgerStore) async {
        if let store = store as? PostgresLedger { await store.close() }
    }

    func close() async { await close(store) }

    /// Runs one statement directly on the database, around the store.
    func execute(_ sql: String) async throws {
        switch kind {
        case .sqlite:
            try await (store as! Ledger).writer.write { db in try db.execute(sql: sql) }
        case .postgres:
            try await PostgresTestServer.execute(sql, on: postgres!)
        }
    }

    /// A team with a budget, UTC unless told otherwise; amounts in micro-dollars.
    @discardableResult
    func team(
        _ name: String = "acme", zone: String = "UTC", monthly: MicroUSD = 100_000_000, daily: MicroUSD? = nil,
        credit: MicroUSD? = nil, alerts: [Int]? = nil
    ) async throws -> Team {
        let team = try await store.createTeam(name: name, timeZone: zone)
        try await store.setBudget(team: name, BudgetSettings(
            monthlyLimitMicro: monthly, dailyLimitMicro: daily.map { .some($0) }, creditTopUpMicro: credit, alertThresholds: alerts))
        return team
    }
}

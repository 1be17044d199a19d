import Foundation
import GRDB
import Logging
import VideoMeter

/// A rule the deterministic simulator (`videometer-sim --inject`) breaks on purpose, to prove that
/// its checks can fail.
///
/// Reachable only through `@_spi(Simulation) import`: the shipped `videometer` binary and the
/// gateway never import that SPI, and every public initializer leaves the system without a bug.
@_spi(Simulation) public enum InjectedBug: String, Sendable, CaseIterable {
    /// The ledger posts a hold that is already posted: a terminal task settled twice.
    case doublePost = "double-post"
    /// The ledger grants a hold without checking any limit.
    case ignoreLimit = "ignore-limit"
    /// The metered client leaves the hold of a failed, cancelled or expired task pending.
    case skipVoid = "skip-void"
    /// The metered client does not write the upstream task id before polling.
    case loseTaskID = "lose-task-id"
}

/// The life of one simulated metering process, as its ledger sees it: once dead, every write the
/// process attempts fails with ``SimulatedCrash`` and reaches no database, as if the process had
/// been killed with SIGKILL just before it.
///
/// The simulator kills a process at once (``kill()``) or arms a crash at its n-th next write
/// (``crash(atWrite:)``), so a crash can fall between any two writes of the metering loop.
@_spi(Simulation) public final class ProcessLife: @unchecked Sendable {
    private let lock = NSLock()
    private var dead = false
    private var writesLeft: Int?

    public init() {}

    /// Whether the process has died.
    public var isDead: Bool { lock.withLock { dead } }

    /// Kills the process now.
    public func kill() { lock.withLock { dead = true } }

    /// Kills the process when it attempts its `write`-th next write (1: the very next one), which
    /// does not happen.
    public func crash(atWrite write: Int) {
        precondition(write >= 1, "a crash is armed for a write to come")
        lock.withLock { writesLeft = write }
    }

    /// Takes back an armed crash that has not happened yet.
    public func disarm() { lock.withLock { writesLeft = nil } }

    /// Called before every write (by either store): throws once the process is dead.
    public func admitWrite() throws {
        try lock.withLock {
            if let left = writesLeft {
                if left <= 1 {
                    dead = true
                    writesLeft = nil
                } else {
                    writesLeft = left - 1
                }
            }
            if dead { throw SimulatedCrash() }
        }
    }
}

/// A write refused because the simulated process attempting it has died.
@_spi(Simulation) public struct SimulatedCrash: Error, Equatable, CustomStringConvertible {
    public init() {}
    public var description: String { "the simulated process has crashed" }
}

extension Ledger {
    /// Opens the ledger at `path` for the simulator: `bug` breaks one of the ledger's rules
    /// (``InjectedBug/doublePost`` or ``InjectedBug/ignoreLimit``; the others are the metered
    /// client's), and `life` lets the simulator crash the process that owns this instance.
    @_spi(Simulation) public convenience init(
        path: String, clock: any WallClock, logger: Logger, injecting bug: InjectedBug?, life: ProcessLife?
    ) throws {
        try self.init(path: path, clock: clock, logger: logger, busyTimeout: 30, bug: bug, life: life)
    }

    /// The bug this instance was opened with, if any.
    @_spi(Simulation) public var injectedBug: InjectedBug? { bug }
}

// MARK: - What the simulator's oracle reads

/// A journal entry as the simulator's oracle reads it (its own copy, to prove later that the entry
/// never changed).
@_spi(Simulation) public struct SimulationJournalEntry: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var teamID: Int64
    public var holdID: Int64?
    public var amount: MicroUSD
    public var released: MicroUSD
    public var month: String?
    public var day: String?
    public var creditLimit: MicroUSD?

    public init(
        id: Int64, kind: String, teamID: Int64, holdID: Int64?, amount: MicroUSD, released: MicroUSD, month: String?, day: String?,
        creditLimit: MicroUSD?
    ) {
        self.id = id
        self.kind = kind
        self.teamID = teamID
        self.holdID = holdID
        self.amount = amount
        self.released = released
        self.month = month
        self.day = day
        self.creditLimit = creditLimit
    }
}

/// One balance row's key: a team's month, day or credit window.
@_spi(Simulation) public struct SimulationWindow: Hashable, Comparable, Sendable {
    public var teamID: Int64
    public var scope: String
    public var key: String

    public init(teamID: Int64, scope: String, key: String) {
        self.teamID = teamID
        self.scope = scope
        self.key = key
    }

    public static func < (a: Self, b: Self) -> Bool { (a.teamID, a.scope, a.key) < (b.teamID, b.scope, b.key) }
}

/// A balance row's amounts.
@_spi(Simulation) public struct SimulationSums: Equatable, Sendable {
    public var posted: MicroUSD
    public var pending: MicroUSD

    public init(posted: MicroUSD = 0, pending: MicroUSD = 0) {
        self.posted = posted
        self.pending = pending
    }
}

/// What the oracle reads after a step, in one read transaction (one snapshot).
@_spi(Simulation) public struct SimulationStepReading: Sendable {
    /// The journal entries after the last one seen, by id.
    public var fresh: [SimulationJournalEntry]
    public var journalCount: Int
    /// The balance rows of the windows the fresh entries touch.
    public var balances: [SimulationWindow: SimulationSums]
    public var balanceCount: Int
    public var balanceTotals: SimulationSums
    /// The holds the fresh entries resolve.
    public var holdsByID: [Int64: Hold]
    /// The holds of the keys asked for, and which of them have a late success recorded.
    public var holdsByKey: [String: Hold]
    public var lateSuccesses: Set<Int64>

    public init(
        fresh: [SimulationJournalEntry], journalCount: Int, balances: [SimulationWindow: SimulationSums], balanceCount: Int,
        balanceTotals: SimulationSums, holdsByID: [Int64: Hold], holdsByKey: [String: Hold], lateSuccesses: Set<Int64>
    ) {
        self.fresh = fresh
        self.journalCount = journalCount
        self.balances = balances
        self.balanceCount = balanceCount
        self.balanceTotals = balanceTotals
        self.holdsByID = holdsByID
        self.holdsByKey = holdsByKey
        self.lateSuccesses = lateSuccesses
    }
}

/// A ledger store the simulator can watch: the raw reads its oracle needs, beside the contract.
/// Both stores conform (``Ledger`` here, `PostgresLedger` in its module), so that the SQL stays in
/// the store modules.
@_spi(Simulation) public protocol SimulationObservable: LedgerStore {
    /// Reads, in one snapshot: the journal entries with an id above `lastEntryID`, the journal's
    /// count, the balance rows of the windows `windows` names for the fresh entries, the balance
    /// table's count and totals, the holds the fresh entries resolve (post, void, expire), and the
    /// holds of `keys` with their late-success flags.
    func simulationStep(
        after lastEntryID: Int64, keys: [String], windows: @escaping @Sendable ([SimulationJournalEntry]) -> Set<SimulationWindow>
    ) async throws -> SimulationStepReading
    /// Every balance row.
    func simulationBalances() async throws -> [(SimulationWindow, SimulationSums)]
    /// The journal's entries with an id up to `lastEntryID`, by id.
    func simulationJournal(upTo lastEntryID: Int64) async throws -> [SimulationJournalEntry]
    /// The ids of pending holds with an upstream task id, by id: what a poll can pick.
    func simulationPollableHolds() async throws -> [Int64]
}

extension SimulationJournalEntry {
    /// The columns, in order, that ``init(sqlite:)`` and the PostgreSQL store read.
    @_spi(Simulation) public static let columns =
        "id, kind, teamID, holdID, amountMicro, releasedMicro, periodMonth, periodDay, creditLimitMicro"

    init(row: Row) {
        self.init(
            id: row[0], kind: row[1], teamID: row[2], holdID: row[3], amount: row[4], released: row[5], month: row[6], day: row[7],
            creditLimit: row[8])
    }
}

@_spi(Simulation) extension Ledger: SimulationObservable {
    @_spi(Simulation) public func simulationStep(
        after lastEntryID: Int64, keys: [String], windows: @escaping @Sendable ([SimulationJournalEntry]) -> Set<SimulationWindow>
    ) async throws -> SimulationStepReading {
        try readNow { db in
            let fresh = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT \(SimulationJournalEntry.columns) FROM journalEntry WHERE id > ? ORDER BY id
                """), arguments: [lastEntryID]).map(SimulationJournalEntry.init(row:))
            let journalCount = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM journalEntry")) ?? 0
            var holdsByID: [Int64: Hold] = [:]
            for entry in fresh where entry.kind != "hold" && entry.kind != "credit" {
                guard let holdID = entry.holdID else { continue }
                holdsByID[holdID] = try Self.hold(id: holdID, db)
            }
            let balance = try db.cachedStatement(sql: """
                SELECT postedMicro, pendingMicro FROM balance WHERE teamID = ? AND scope = ? AND periodKey = ?
                """)
            var balances: [SimulationWindow: SimulationSums] = [:]
            for key in windows(fresh) {
                if let row = try Row.fetchOne(balance, arguments: [key.teamID, key.scope, key.key]) {
                    balances[key] = SimulationSums(posted: row[0], pending: row[1])
                }
            }
            let totals = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT COUNT(*), COALESCE(SUM(postedMicro), 0), COALESCE(SUM(pendingMicro), 0) FROM balance
                """))!
            var holdsByKey: [String: Hold] = [:]
            var lateSuccesses = Set<Int64>()
            let byKey = try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE idempotencyKey = ?")
            let late = try db.cachedStatement(sql: "SELECT 1 FROM lateSuccess WHERE holdID = ?")
            for key in keys where holdsByKey[key] == nil {
                guard let hold = try byKey.firstRow([key], Hold.init(columns:)) else { continue }
                holdsByKey[key] = hold
                if try Row.fetchOne(late, arguments: [hold.id]) != nil { lateSuccesses.insert(hold.id) }
            }
            return SimulationStepReading(
                fresh: fresh, journalCount: journalCount, balances: balances, balanceCount: totals[0],
                balanceTotals: SimulationSums(posted: totals[1], pending: totals[2]), holdsByID: holdsByID, holdsByKey: holdsByKey,
                lateSuccesses: lateSuccesses)
        }
    }

    @_spi(Simulation) public func simulationBalances() async throws -> [(SimulationWindow, SimulationSums)] {
        try readNow { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT teamID, scope, periodKey, postedMicro, pendingMicro FROM balance"))
                .map { row in (SimulationWindow(teamID: row[0], scope: row[1], key: row[2]), SimulationSums(posted: row[3], pending: row[4])) }
        }
    }

    @_spi(Simulation) public func simulationJournal(upTo lastEntryID: Int64) async throws -> [SimulationJournalEntry] {
        try readNow { db in
            try Row.fetchAll(db, sql: "SELECT \(SimulationJournalEntry.columns) FROM journalEntry WHERE id <= ? ORDER BY id", arguments: [lastEntryID])
                .map(SimulationJournalEntry.init(row:))
        }
    }

    @_spi(Simulation) public func simulationPollableHolds() async throws -> [Int64] {
        try readNow { db in
            try Int64.fetchAll(db.cachedStatement(sql: "SELECT id FROM hold WHERE state = 'pending' AND upstreamTaskID IS NOT NULL ORDER BY id"))
        }
    }
}

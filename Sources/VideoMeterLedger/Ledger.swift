import Foundation
import GRDB
import Logging
import VideoMeter

/// The ledger: teams, budgets, two-phase holds, the append-only journal, usage events and alerts,
/// in one SQLite file shared safely by several processes.
///
/// Guarantees (the way TigerBeetle lists its transfer guarantees):
/// - A hold is granted only if posted + pending + amount <= every limit that applies (monthly in the
///   team's zone, daily when set, prepaid credit when the team has some), checked in the same
///   `BEGIN IMMEDIATE` transaction that writes it, so concurrent tasks and processes never overspend.
///   A team without a budget is refused (`no_budget`): the ledger fails closed.
/// - A hold resolves exactly once: posted (for at most the held amount, the rest returns), voided,
///   or expired by the sweeper after its deadline. The resolving journal entry is unique per hold.
/// - The journal (`journalEntry`) is append-only; `verify()` recomputes every balance from it.
/// - An acknowledged operation is committed with `synchronous = FULL` in WAL mode: it survives
///   kill -9 and power loss. Concurrent operations share a transaction (group commit), each in its
///   own savepoint, so throughput does not cost durability.
/// - A hold's amount counts in the month and day (team zone) in which it was granted, also when it
///   is posted later.
/// - Soft alerts compare *posted* spend in the month with the monthly limit: one `alert` row (and
///   a log line) per threshold per month, when a posting reaches it.
public final class Ledger: Sendable {
    /// The database, for readers such as reports. Write through the ledger's methods only.
    public let writer: any DatabaseWriter
    /// The clock the ledger stamps, dates and expires with; components that share the ledger use it too.
    public let clock: any WallClock
    let logger: Logger
    let commits: GroupCommit
    let periods = PeriodCache()
    /// A rule broken on purpose by the simulator; nil everywhere else.
    let bug: InjectedBug?

    /// The largest amount or limit the ledger accepts: one billion dollars, far from overflow.
    public static let maximumMicro: MicroUSD = LedgerRules.maximumMicro

    /// Opens (creating and migrating if needed) the ledger at `path`.
    ///
    /// - Parameters:
    ///   - busyTimeout: how long a write waits for another process's transaction, in seconds.
    public convenience init(
        path: String, clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "videometer.ledger"), busyTimeout: TimeInterval = 30
    ) throws {
        try self.init(path: path, clock: clock, logger: logger, busyTimeout: busyTimeout, bug: nil, life: nil)
    }

    init(path: String, clock: any WallClock, logger: Logger, busyTimeout: TimeInterval, bug: InjectedBug?, life: ProcessLife?) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "videometer.ledger"
        configuration.busyMode = .timeout(busyTimeout)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB switches the writer to `synchronous = NORMAL` when it enables WAL, after
        // `prepareDatabase`; an acknowledged commit must be fsynced, so set FULL again on the
        // writer connection (it lives as long as the pool).
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let level = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard level == 2 else { throw DatabaseError(message: "could not set synchronous = FULL (got \(level ?? -1))") }
        }
        // A ledger a newer videometer has migrated may hold rows this one would misread or break
        // a rule of that this one does not know: refused, and left as it is.
        if try pool.read({ db in try LedgerSchema.migrator.hasBeenSuperseded(db) }) {
            throw LedgerSnapshotError.newerSchema(path: path)
        }
        try LedgerSchema.migrator.migrate(pool)
        if bug == .doublePost {
            // The rule "a hold resolves once" has two guards: the state machines and this unique
            // index. The injected bug breaks both, or the second post would only fail.
            try pool.write { db in try db.execute(sql: "DROP INDEX IF EXISTS journalEntry_resolution") }
        }
        self.writer = pool
        self.clock = clock
        self.logger = logger
        self.bug = bug
        self.commits = GroupCommit(writer: pool, life: life, inline: life != nil)
    }

    deinit {
        commits.stop()
    }

    var nowMilliseconds: Int64 { milliseconds(clock.now()) }

    /// Reads in a snapshot of its own. The simulator's ledgers, which commit on the calling job
    /// (``GroupCommit/inline``), read there too: GRDB's async `read` hops to a reader queue and back,
    /// a thread wake-up each way, for every read of every simulated step.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        if commits.inline { return try readNow(body) }
        return try await writer.read(body)
    }

    /// Reads synchronously on the calling thread.
    func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.read(body)
    }

    // MARK: - Teams and budgets

    /// Creates a team; `timeZone` must be an IANA identifier (periods follow it).
    @discardableResult
    public func createTeam(name: String, timeZone: String = "UTC") async throws -> Team {
        let name = try LedgerRules.teamName(name, timeZone: timeZone)
        let now = nowMilliseconds
        return try await commits.perform { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM team WHERE name = ?", arguments: [name]) != nil {
                throw LedgerError.teamAlreadyExists(name)
            }
            try db.execute(sql: "INSERT INTO team (name, timeZone, createdAt) VALUES (?, ?, ?)", arguments: [name, timeZone, now])
            return Team(id: db.lastInsertedRowID, name: name, timeZone: timeZone, createdAt: now)
        }
    }

    /// Every team, by name.
    public func teams() async throws -> [Team] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM team ORDER BY name").map(Self.team(from:))
        }
    }

    /// The team with that name, or `unknown_team`.
    public func team(named name: String) async throws -> Team {
        try await read { db in try Self.team(named: name, db) }
    }

    /// Creates or changes a team's budget; a credit top-up is journaled. Returns the budget.
    @discardableResult
    public func setBudget(team name: String, _ settings: BudgetSettings) async throws -> Budget {
        try LedgerRules.validate(settings)
        let now = nowMilliseconds
        return try await commits.perform { db in
            let team = try Self.team(named: name, db)
            let budget = try LedgerRules.budget(try Self.budget(teamID: team.id, db), teamID: team.id, applying: settings)
            if let topUp = settings.creditTopUpMicro {
                try db.execute(sql: """
                    INSERT INTO journalEntry (kind, teamID, amountMicro, createdAt) VALUES ('credit', ?, ?, ?)
                    """, arguments: [team.id, topUp, now])
            }
            try db.execute(sql: """
                INSERT INTO budget (teamID, monthlyLimitMicro, dailyLimitMicro, creditMicro, alertThresholds, updatedAt)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (teamID) DO UPDATE SET monthlyLimitMicro = excluded.monthlyLimitMicro,
                    dailyLimitMicro = excluded.dailyLimitMicro, creditMicro = excluded.creditMicro,
                    alertThresholds = excluded.alertThresholds, updatedAt = excluded.updatedAt
                """, arguments: [
                    team.id, budget.monthlyLimitMicro, budget.dailyLimitMicro, budget.creditMicro,
                    budget.alertThresholds.map(String.init).joined(separator: ","), now,
                ])
            return budget
        }
    }

    /// The team's budget in its current period: limits, posted, pending, available, alerts.
    public func budgetStatus(team name: String) async throws -> BudgetStatus {
        let now = nowMilliseconds
        return try await read { db in
            let team = try Self.team(named: name, db)
            guard let budget = try Self.budget(teamID: team.id, db) else { throw LedgerError.noBudget(team.name) }
            let period = self.periods.period(at: now, zoneIdentifier: team.timeZone)
            let month = try Self.balance(db, teamID: team.id, scope: "month", key: period.month)
            let day = try Self.balance(db, teamID: team.id, scope: "day", key: period.day)
            let credit = try Self.balance(db, teamID: team.id, scope: "credit", key: "")
            let alerts = try Alert.fetchAll(db, sql: """
                SELECT * FROM alert WHERE teamID = ? AND periodMonth = ? ORDER BY kind DESC, thresholdPercent
                """, arguments: [team.id, period.month])
            let window = ForecastWindows.shared.window(at: now, zoneIdentifier: team.timeZone)
            let forecast = try Self.forecast(
                db, teamID: team.id, window: window, now: now, monthlyLimit: budget.monthlyLimitMicro, postedMicro: month.posted,
                dailyLimit: budget.dailyLimitMicro, dayPostedMicro: day.posted)
            return BudgetStatus(
                team: team, budget: budget, periodMonth: period.month, periodDay: period.day,
                monthEndsAt: period.monthEnd, dayEndsAt: period.dayEnd,
                monthPostedMicro: month.posted, monthPendingMicro: month.pending,
                dayPostedMicro: day.posted, dayPendingMicro: day.pending,
                creditPostedMicro: credit.posted, creditPendingMicro: credit.pending, alerts: alerts,
                forecast: forecast)
        }
    }

    /// Every alert recorded for a team, oldest first.
    public func alerts(team name: String) async throws -> [Alert] {
        try await read { db in
            let team = try Self.team(named: name, db)
            return try Alert.fetchAll(db, sql: "SELECT * FROM alert WHERE teamID = ? ORDER BY id", arguments: [team.id])
        }
    }

    // MARK: - Shared helpers

    static func validate(limit: MicroUSD, what: String) throws {
        try LedgerRules.validate(limit: limit, what: what)
    }

    static func team(from row: Row) -> Team {
        Team(id: row["id"], name: row["name"], timeZone: row["timeZone"], createdAt: row["createdAt"])
    }

    static func team(named name: String, _ db: Database) throws -> Team {
        let statement = try db.cachedStatement(sql: "SELECT id, name, timeZone, createdAt FROM team WHERE name = ?")
        let team = try statement.firstRow([name]) { row in
            Team(id: row.int64(0), name: row.string(1), timeZone: row.string(2), createdAt: row.int64(3))
        }
        guard let team else { throw LedgerError.unknownTeam(name) }
        return team
    }

    static func budget(teamID: Int64, _ db: Database) throws -> Budget? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM budget WHERE teamID = ?")
        guard let row = try Row.fetchOne(statement, arguments: [teamID]) else { return nil }
        let thresholds = AlertRule.thresholds(stored: row["alertThresholds"])
        return Budget(
            teamID: teamID, monthlyLimitMicro: row["monthlyLimitMicro"], dailyLimitMicro: row["dailyLimitMicro"],
            creditMicro: row["creditMicro"], alertThresholds: thresholds)
    }

    static func balance(_ db: Database, teamID: Int64, scope: String, key: String) throws -> (posted: MicroUSD, pending: MicroUSD) {
        let statement = try db.cachedStatement(sql: """
            SELECT postedMicro, pendingMicro FROM balance WHERE teamID = ? AND scope = ? AND periodKey = ?
            """)
        guard let row = try Row.fetchOne(statement, arguments: [teamID, scope, key]) else { return (0, 0) }
        return (row[0], row[1])
    }

    static func addToBalance(_ db: Database, teamID: Int64, scope: String, key: String, posted: MicroUSD, pending: MicroUSD) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO balance (teamID, scope, periodKey, postedMicro, pendingMicro) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (teamID, scope, periodKey) DO UPDATE SET
                postedMicro = postedMicro + excluded.postedMicro, pendingMicro = pendingMicro + excluded.pendingMicro
            """)
        try statement.execute(arguments: [teamID, scope, key, posted, pending])
    }
}

import Foundation
import Logging
import PostgresNIO
import VideoMeter
@_spi(Simulation) import VideoMeterLedger

/// The ledger in one PostgreSQL database that several processes (gateway replicas, CLI users on
/// many hosts) share: the same contract (``LedgerStore``), tables and guarantees as the SQLite
/// ``Ledger``.
///
/// **Atomicity across processes: row locks, in one fixed order.** Every transaction runs at READ
/// COMMITTED. A hold locks its team's `budget` row (`SELECT … FOR UPDATE`) before it reads what the
/// limits have used and writes the `balance` rows, so two holds of one team, in any process, are
/// admitted one after the other against committed sums; holds of different teams do not wait for
/// each other. Resolving a hold locks the `hold` row first (a hold resolves once even when a
/// sweeper and a poster race; the partial unique index `journalEntry_resolution` backs it up),
/// then updates the balances by increments, which cannot raise what is used. Changing a budget
/// locks the `team` row, then the budget. Locks are always taken team row or budget row, then
/// hold row, then balance rows month, day, credit, so operations of one kind never wait for each
/// other in a cycle; where a batch of several operations still deadlocks with another process's
/// batch (PostgreSQL aborts one with SQLSTATE 40P01), or a serialization failure (40001) occurs,
/// the whole transaction is rolled back and run again, up to ``maximumAttempts`` times. No money
/// operation rests on an advisory lock (only migrations take one), so the same SQL runs on
/// PostgreSQL-compatible distributed engines.
///
/// **Durability.** Every connection starts with `synchronous_commit = on`, and opening refuses a
/// server where it is off; a caller is answered only after COMMIT returned.
///
/// **Group commit.** Write operations wait in a queue; one committer per store takes every
/// operation waiting, runs them in one transaction on one connection, commits once, and then
/// answers every caller. Grants and resolutions, the hot path, run set-wise
/// (``PostgresHoldBatch``: a handful of round trips per batch, whatever its size, each decided in
/// Swift before anything is written, so that a refusal touches nothing of the others); every other
/// write runs in its own SAVEPOINT (a refusal rolls back its own savepoint only). Reads go through
/// the pool directly.
///
/// **Lifecycle.** ``open(_:clock:logger:)`` connects once (failing fast with a clear error when the
/// server is unreachable, refuses the credentials, or holds a newer schema), migrates, then starts
/// the connection pool; ``close()`` answers what is queued and stops the pool.
public final class PostgresLedger: LedgerStore {
    public let clock: any WallClock
    let client: PostgresClient
    let logger: Logger
    let commits: PostgresGroupCommit
    let periods: PeriodCache
    /// Grants and resolutions, set-wise (the group commit's money writes, and the sweeper's).
    let holdBatch: PostgresHoldBatch
    private let running: Task<Void, Never>
    /// The simulated process this instance belongs to (`videometer-sim`): once it has died, every
    /// write fails before it reaches the server. Nil everywhere else.
    let life: ProcessLife?

    /// How many times a transaction that PostgreSQL aborted for a deadlock or a serialization
    /// failure is run again before its callers get the error.
    public static let maximumAttempts = 10

    /// How long an operation waits for a connection before `ledger_unavailable`.
    let leaseTimeout: Duration
    /// The transactions running on the pool's connections, failed at once when theirs closes.
    let closeWatch = ConnectionCloseWatch()

    private init(
        client: PostgresClient, clock: any WallClock, logger: Logger, maximumBatch: Int, leaseTimeout: Duration, life: ProcessLife?
    ) {
        self.client = client
        self.life = life
        self.leaseTimeout = leaseTimeout
        self.clock = clock
        self.logger = logger
        self.running = Task { await client.run() }
        let periods = PeriodCache()
        let holdBatch = PostgresHoldBatch(logger: logger, periods: periods)
        self.periods = periods
        self.holdBatch = holdBatch
        self.commits = PostgresGroupCommit(
            client: client, logger: logger, holdBatch: holdBatch, maximumAttempts: Self.maximumAttempts,
            maximumBatch: max(1, maximumBatch), leaseTimeout: leaseTimeout, closeWatch: closeWatch)
    }

    /// Opens the ledger: checks that the server is reachable and durable, applies the migrations
    /// this binary knows (under the migration lock), and starts the pool.
    ///
    /// - Throws: ``PostgresLedgerError`` (`ledger_unavailable`, `ledger_authentication_failed`,
    ///   `ledger_schema_newer`, `ledger_not_durable`); nothing is written then.
    public static func open(
        _ configuration: Configuration, clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "videometer.ledger.postgres")
    ) async throws -> PostgresLedger {
        try await open(configuration, clock: clock, logger: logger, life: nil)
    }

    /// Opens the ledger for one simulated metering process (`videometer-sim`): `life` lets the
    /// simulator crash the process, after which every write of this instance fails with
    /// `SimulatedCrash` before it reaches the server.
    @_spi(Simulation) public static func open(
        _ configuration: Configuration, clock: any WallClock, logger: Logger, life: ProcessLife?
    ) async throws -> PostgresLedger {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try configuration.connection(), id: 0, logger: logger)
        } catch {
            throw PostgresLedgerError.from(error)
        }
        do {
            try await migrate(connection, now: milliseconds(clock.now()), logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw PostgresLedgerError.from(error)
        }
        let client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        return PostgresLedger(client: client, clock: clock, logger: logger, maximumBatch: configuration.maximumBatch,
            leaseTimeout: configuration.leaseTimeout, life: life)
    }

    /// Answers every queued operation, then closes the pool's connections.
    public func close() async {
        await commits.stop()
        running.cancel()
        await running.value
    }

    /// The migration identifiers this binary applies, oldest first.
    public static var knownMigrations: [String] { PostgresSchema.migrations.map(\.identifier) }

    static func migrate(_ connection: PostgresConnection, now: Int64, logger: Logger) async throws {
        let setting = try await connection.first("SHOW synchronous_commit", logger)?.string(0) ?? "unknown"
        guard setting != "off" else { throw PostgresLedgerError.synchronousCommitOff(setting) }
        try await connection.run("BEGIN", logger)
        do {
            try await connection.run("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger)
            try await connection.run("""
                CREATE TABLE IF NOT EXISTS ledgerMigration (identifier TEXT PRIMARY KEY, appliedAt BIGINT NOT NULL)
                """, logger)
            let applied = try await connection.all("SELECT identifier FROM ledgerMigration", logger).map { try $0.string(0) }
            let known = Set(knownMigrations)
            let unknown = applied.filter { !known.contains($0) }.sorted()
            guard unknown.isEmpty else { throw PostgresLedgerError.schemaNewer(unknown) }
            for migration in PostgresSchema.migrations where !applied.contains(migration.identifier) {
                for statement in migration.sql {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger)
                }
                try await connection.run(
                    "INSERT INTO ledgerMigration (identifier, appliedAt) VALUES (\(migration.identifier), \(now))", logger)
                logger.info("ledger migrated", metadata: ["ledger.migration": "\(migration.identifier)"])
            }
            try await connection.run("COMMIT", logger)
        } catch {
            try? await connection.run("ROLLBACK", logger)
            throw error
        }
    }

    var nowMilliseconds: Int64 { milliseconds(clock.now()) }

    /// Runs `body` on a pooled connection inside one REPEATABLE READ, read-only transaction: one
    /// snapshot for reads that must agree with each other.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await connection.untilClosed(watch: self.closeWatch) {
                    try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", self.logger)
                    do {
                        let value = try await body(connection)
                        try await connection.run("COMMIT", self.logger)
                        return value
                    } catch {
                        try? await connection.run("ROLLBACK", self.logger)
                        throw error
                    }
                }
            }
        } catch {
            throw PostgresLedgerError.from(error)
        }
    }

    /// Runs a money write in the next group commit and returns its result once that has committed.
    func write(_ write: HoldWrite) async throws -> HoldWriteResult {
        try life?.admitWrite()
        do {
            return try await commits.perform(write)
        } catch {
            throw PostgresLedgerError.from(error)
        }
    }

    /// Runs `body` in the next group commit and returns its result once that has committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try life?.admitWrite()
        do {
            return try await commits.perform(body)
        } catch {
            throw PostgresLedgerError.from(error)
        }
    }
}

/// Milliseconds since 1970, rounded down: how the ledger stores instants.
func milliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
}

/// A row read by column position.
struct Cells {
    let row: PostgresRandomAccessRow

    func int64(_ index: Int) throws -> Int64 { try row[index].decode(Int64.self) }
    func int(_ index: Int) throws -> Int { Int(try row[index].decode(Int64.self)) }
    func optionalInt64(_ index: Int) throws -> Int64? { try row[index].decode(Int64?.self) }
    func bool(_ index: Int) throws -> Bool { try row[index].decode(Bool.self) }
    func string(_ index: Int) throws -> String { try row[index].decode(String.self) }
    func optionalString(_ index: Int) throws -> String? { try row[index].decode(String?.self) }
}

extension PostgresConnection {
    func all(_ query: PostgresQuery, _ logger: Logger) async throws -> [Cells] {
        try await self.query(query, logger: logger).collect().map { Cells(row: $0.makeRandomAccess()) }
    }

    func first(_ query: PostgresQuery, _ logger: Logger) async throws -> Cells? {
        try await all(query, logger).first
    }

    func run(_ query: PostgresQuery, _ logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }
}

extension PSQLError {
    /// The SQLSTATE the server sent, if it sent one.
    var sqlState: String? { serverInfo?[.sqlState] }
}

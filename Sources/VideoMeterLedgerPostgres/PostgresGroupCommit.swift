import Foundation
import Logging
import PostgresNIO

/// Runs concurrent write operations together, as ``VideoMeterLedger/Ledger``'s group commit does
/// on SQLite: every operation waiting when the committer is free goes into one READ COMMITTED
/// transaction on one pooled connection, and each caller is answered only after that transaction
/// has committed (with `synchronous_commit = on`: durably).
///
/// Two kinds of operation share a batch. The money writes (``HoldWrite``: grants and resolutions,
/// the hot path) run first, all together, through ``PostgresHoldBatch`` in a fixed number of round
/// trips; each is decided in Swift before anything is written, so a refusal is a result that
/// touches nothing of the others and needs no savepoint. Should the batch's statements fail with
/// an error that is not a deadlock or a serialization failure (an error of one write that no rule
/// foresaw), the transaction is rolled back and the batch run again with each money write in a
/// SAVEPOINT of its own, so that error stays with its write. Every other operation (a closure
/// over the connection) then runs in its own SAVEPOINT: a refusal rolls back its own savepoint only.
///
/// When PostgreSQL aborts the transaction for a deadlock (SQLSTATE 40P01) or a serialization
/// failure (40001), or another process took one of the batch's new idempotency keys meanwhile
/// (``PostgresHoldBatch/Conflict``), the whole batch is rolled back and run again, up to
/// `maximumAttempts` times, after a short random pause; operations are closures over the database
/// only, so running one again is safe. Any other failure of the transaction itself (connection
/// lost, COMMIT failed) fails every operation of the batch with that error.
final class PostgresGroupCommit: @unchecked Sendable {
    private let client: PostgresClient
    private let logger: Logger
    private let maximumAttempts: Int
    private let maximumBatch: Int
    private let leaseTimeout: Duration
    private let holdBatch: PostgresHoldBatch
    private let closeWatch: ConnectionCloseWatch
    private let lock = NSLock()
    private var queue: [any PendingPostgresOperation] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var stopped = false
    private var committer: Task<Void, Never>?

    init(
        client: PostgresClient, logger: Logger, holdBatch: PostgresHoldBatch, maximumAttempts: Int, maximumBatch: Int = 512,
        leaseTimeout: Duration = .seconds(2), closeWatch: ConnectionCloseWatch
    ) {
        self.client = client
        self.closeWatch = closeWatch
        self.holdBatch = holdBatch
        self.leaseTimeout = leaseTimeout
        self.logger = logger
        self.maximumAttempts = maximumAttempts
        self.maximumBatch = maximumBatch
        committer = Task { [self] in await self.run() }
    }

    /// Answers what is queued, then ends the committer.
    func stop() async {
        let (waiter, task): (CheckedContinuation<Void, Never>?, Task<Void, Never>?) = lock.withLock {
            stopped = true
            defer { self.waiter = nil }
            return (self.waiter, committer)
        }
        waiter?.resume()
        await task?.value
    }

    /// Runs `operation` in the next transaction and returns its result once that has committed.
    func perform<T: Sendable>(_ operation: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue(PostgresOperation(body: operation, continuation: continuation), continuation)
        }
    }

    /// Runs `write` with the other money writes of the next transaction; returns its result once
    /// that has committed.
    func perform(_ write: HoldWrite) async throws -> HoldWriteResult {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HoldWriteResult, any Error>) in
            enqueue(PendingHoldWrite(write: write, continuation: continuation), continuation)
        }
    }

    private func enqueue<T>(_ pending: any PendingPostgresOperation, _ continuation: CheckedContinuation<T, any Error>) {
        let (accepted, waiter): (Bool, CheckedContinuation<Void, Never>?) = lock.withLock {
            guard !stopped else { return (false, nil) }
            queue.append(pending)
            defer { self.waiter = nil }
            return (true, self.waiter)
        }
        guard accepted else {
            continuation.resume(throwing: PostgresLedgerError.unavailable("the ledger has been closed."))
            return
        }
        waiter?.resume()
    }

    private func nextBatch() async -> [any PendingPostgresOperation]? {
        while true {
            let batch: [any PendingPostgresOperation]? = lock.withLock {
                if queue.isEmpty { return stopped ? [] : nil }
                let count = min(queue.count, maximumBatch)
                defer { queue.removeFirst(count) }
                return Array(queue.prefix(count))
            }
            if let batch { return batch.isEmpty ? nil : batch }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = lock.withLock {
                    if !queue.isEmpty || stopped { return true }
                    waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    private func run() async {
        while let batch = await nextBatch() {
            await commit(batch)
        }
    }

    private func commit(_ batch: [any PendingPostgresOperation]) async {
        let writes = batch.compactMap { $0 as? PendingHoldWrite }
        let others = batch.compactMap { $0 as? any PendingPostgresClosure }
        var attempt = 1
        var isolated = false
        while true {
            let alone = isolated
            do {
                try await client.withConnection(leaseTimeout: leaseTimeout) { connection in
                    // A connection this committer retired may come back from the pool before the
                    // pool has seen it close: take another (nothing was sent).
                    if connection.isClosed { throw RetiredConnection() }
                    do {
                        try await connection.untilClosed(watch: self.closeWatch) {
                            try await connection.run("BEGIN ISOLATION LEVEL READ COMMITTED", self.logger)
                            do {
                                if !writes.isEmpty {
                                    if alone {
                                        for write in writes { try await write.execute(connection, logger: self.logger, batch: self.holdBatch) }
                                    } else {
                                        try await self.runTogether(writes, connection)
                                    }
                                }
                                for operation in others {
                                    try await operation.execute(connection, logger: self.logger)
                                }
                                try await connection.run("COMMIT", self.logger)
                            } catch {
                                try? await connection.run("ROLLBACK", self.logger)
                                throw error
                            }
                        }
                    } catch is IsolateWrites {
                        // A server error no rule foresaw: the batch runs again on a fresh connection.
                        // (Outside `untilClosed`, whose transaction closing the connection would end.)
                        await Self.retire(connection)
                        throw IsolateWrites()
                    }
                    if alone, writes.contains(where: \.failedOnServer) { await Self.retire(connection) }
                }
                for operation in batch { operation.finish(transactionError: nil) }
                return
            } catch let error where Self.isRetryable(error) && attempt < maximumAttempts {
                logger.debug("ledger transaction retried", metadata: [
                    "ledger.sqlstate": "\((error as? PSQLError)?.sqlState ?? "conflict")", "ledger.attempt": "\(attempt)",
                    "ledger.batch": "\(batch.count)",
                ])
                attempt += 1
                try? await Task.sleep(for: .microseconds(Int.random(in: 100...(2_000 * attempt))))
            } catch is IsolateWrites {
                isolated = true
            } catch is RetiredConnection where attempt < maximumAttempts {
                attempt += 1
                try? await Task.sleep(for: .milliseconds(1))
            } catch {
                let error = error is RetiredConnection ? PostgresLedgerError.unavailable("no open connection to the server.") : error
                for operation in batch { operation.finish(transactionError: error) }
                return
            }
        }
    }

    /// The money writes all together; an error that is neither retryable nor the connection's
    /// asks for the batch to run again with a savepoint per write.
    private func runTogether(_ writes: [PendingHoldWrite], _ connection: PostgresConnection) async throws {
        do {
            let results = try await holdBatch.run(writes.map(\.write), connection)
            for (write, result) in zip(writes, results) { write.result = result }
        } catch let error where Self.isRetryable(error) {
            throw error
        } catch let error as PSQLError where error.serverInfo == nil {
            throw error  // the connection's, not a write's
        } catch {
            logger.debug("ledger batch runs again with a savepoint per write", metadata: ["ledger.error": "\(error)"])
            throw IsolateWrites()
        }
    }

    private struct IsolateWrites: Error {}

    /// The pool handed back a connection ``retire(_:)`` closed.
    private struct RetiredConnection: Error, CustomStringConvertible {
        var description: String { "the ledger's database connection was closed after a server error" }
    }

    /// Closes a connection on which the server reported an error no rule foresaw, so that the pool
    /// opens a fresh one. The batch's statements are prepared once per connection, and postgres-nio
    /// keeps a statement whose preparation failed (a lock timeout behind a migration, say) failed
    /// on that connection for good: without this, every later batch on it would fail the same way.
    static func retire(_ connection: PostgresConnection) async {
        try? await connection.close()
    }

    /// Deadlock detected (40P01) and serialization failure (40001): the transaction did nothing
    /// and may simply run again.
    static func isRetryable(_ error: PSQLError) -> Bool {
        error.sqlState == "40001" || error.sqlState == "40P01"
    }

    /// A retryable database error, or another process's hold under a key of the batch.
    static func isRetryable(_ error: any Error) -> Bool {
        if error is PostgresHoldBatch.Conflict { return true }
        return (error as? PSQLError).map(isRetryable) ?? false
    }
}

private protocol PendingPostgresOperation: AnyObject, Sendable {
    /// Answers the caller: with `transactionError` when the transaction failed, else with the
    /// operation's own result.
    func finish(transactionError: (any Error)?)
}

private protocol PendingPostgresClosure: PendingPostgresOperation {
    /// Runs the operation in a savepoint of its own. Throws only what must end the transaction:
    /// a retryable abort, or a savepoint that could not be rolled back.
    func execute(_ connection: PostgresConnection, logger: Logger) async throws
}

private final class PostgresOperation<T: Sendable>: PendingPostgresClosure, @unchecked Sendable {
    let body: @Sendable (PostgresConnection) async throws -> T
    let continuation: CheckedContinuation<T, any Error>
    var result: Result<T, any Error>?

    init(body: @escaping @Sendable (PostgresConnection) async throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func execute(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("SAVEPOINT operation", logger)
        do {
            let value = try await body(connection)
            try await connection.run("RELEASE SAVEPOINT operation", logger)
            result = .success(value)
        } catch let error as PSQLError where PostgresGroupCommit.isRetryable(error) {
            throw error
        } catch {
            result = .failure(error)
            try await connection.run("ROLLBACK TO SAVEPOINT operation", logger)
            try await connection.run("RELEASE SAVEPOINT operation", logger)
        }
    }

    func finish(transactionError: (any Error)?) {
        if let transactionError {
            continuation.resume(throwing: transactionError)
        } else {
            continuation.resume(with: result!)
        }
    }
}

/// A money write waiting for its batch.
private final class PendingHoldWrite: PendingPostgresOperation, @unchecked Sendable {
    let write: HoldWrite
    let continuation: CheckedContinuation<HoldWriteResult, any Error>
    var result: Result<HoldWriteResult, any Error>?

    /// Whether the write, run alone, failed with an error the server reported.
    var failedOnServer: Bool {
        guard case .failure(let error) = result else { return false }
        return (error as? PSQLError)?.serverInfo != nil
    }

    /// How often a write running alone runs again when another process took its key meanwhile.
    static let conflictAttempts = 3

    init(write: HoldWrite, continuation: CheckedContinuation<HoldWriteResult, any Error>) {
        self.write = write
        self.continuation = continuation
    }

    /// Runs the write alone, in a savepoint of its own.
    func execute(_ connection: PostgresConnection, logger: Logger, batch: PostgresHoldBatch) async throws {
        var attempt = 1
        while true {
            try await connection.run("SAVEPOINT operation", logger)
            do {
                result = try await batch.run([write], connection)[0]
                try await connection.run("RELEASE SAVEPOINT operation", logger)
                return
            } catch let error as PSQLError where PostgresGroupCommit.isRetryable(error) {
                throw error
            } catch {
                try await connection.run("ROLLBACK TO SAVEPOINT operation", logger)
                try await connection.run("RELEASE SAVEPOINT operation", logger)
                if error is PostgresHoldBatch.Conflict, attempt < Self.conflictAttempts {
                    attempt += 1
                    continue
                }
                result = .failure(error)
                return
            }
        }
    }

    func finish(transactionError: (any Error)?) {
        if let transactionError {
            continuation.resume(throwing: transactionError)
        } else {
            continuation.resume(with: result!)
        }
    }
}

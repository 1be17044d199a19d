import Foundation
import Logging
import PostgresNIO

/// Runs concurrent write operations together, as ``VideoMeterLedger/Ledger``'s group commit does
/// on SQLite: every operation waiting when the committer is free goes into one READ COMMITTED
/// transaction on one pooled connection, each in its own SAVEPOINT, and each caller is answered
/// only after that transaction has committed (with `synchronous_commit = on`: durably).
///
/// A refusal (a thrown error) rolls back its own savepoint only. When PostgreSQL aborts the
/// transaction for a deadlock (SQLSTATE 40P01) or a serialization failure (40001), the whole batch
/// is rolled back and run again, up to `maximumAttempts` times, after a short random pause;
/// operations are closures over the database only, so running one again is safe. Any other
/// failure of the transaction itself (connection lost, COMMIT failed) fails every operation of the
/// batch with that error.
final class PostgresGroupCommit: @unchecked Sendable {
    private let client: PostgresClient
    private let logger: Logger
    private let maximumAttempts: Int
    private let maximumBatch: Int
    private let leaseTimeout: Duration
    private let lock = NSLock()
    private var queue: [any PendingPostgresOperation] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var stopped = false
    private var committer: Task<Void, Never>?

    init(client: PostgresClient, logger: Logger, maximumAttempts: Int, maximumBatch: Int = 512, leaseTimeout: Duration = .seconds(2)) {
        self.client = client
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
            let pending = PostgresOperation(body: operation, continuation: continuation)
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
        var attempt = 1
        while true {
            do {
                try await client.withConnection(leaseTimeout: leaseTimeout) { connection in
                    try await connection.untilClosed {
                        try await connection.run("BEGIN ISOLATION LEVEL READ COMMITTED", self.logger)
                        do {
                            for operation in batch {
                                try await operation.execute(connection, logger: self.logger)
                            }
                            try await connection.run("COMMIT", self.logger)
                        } catch {
                            try? await connection.run("ROLLBACK", self.logger)
                            throw error
                        }
                    }
                }
                for operation in batch { operation.finish(transactionError: nil) }
                return
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < maximumAttempts {
                logger.debug("ledger transaction retried", metadata: [
                    "ledger.sqlstate": "\(error.sqlState ?? "")", "ledger.attempt": "\(attempt)", "ledger.batch": "\(batch.count)",
                ])
                attempt += 1
                try? await Task.sleep(for: .microseconds(Int.random(in: 100...(2_000 * attempt))))
            } catch {
                for operation in batch { operation.finish(transactionError: error) }
                return
            }
        }
    }

    /// Deadlock detected (40P01) and serialization failure (40001): the transaction did nothing
    /// and may simply run again.
    static func isRetryable(_ error: PSQLError) -> Bool {
        error.sqlState == "40001" || error.sqlState == "40P01"
    }
}

private protocol PendingPostgresOperation: AnyObject, Sendable {
    /// Runs the operation in a savepoint of its own. Throws only what must end the transaction:
    /// a retryable abort, or a savepoint that could not be rolled back.
    func execute(_ connection: PostgresConnection, logger: Logger) async throws
    func finish(transactionError: (any Error)?)
}

private final class PostgresOperation<T: Sendable>: PendingPostgresOperation, @unchecked Sendable {
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

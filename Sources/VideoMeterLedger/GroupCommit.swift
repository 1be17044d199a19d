import Foundation
import GRDB

/// Runs concurrent write operations together: every operation waiting when the writer is free goes
/// into one `BEGIN IMMEDIATE` transaction, each in its own savepoint, and each caller is answered
/// only after that transaction has committed.
///
/// Durability is unchanged: the connection runs with `synchronous = FULL`, so an acknowledged
/// operation has been fsynced to the WAL. A refusal (a thrown error) rolls back its own savepoint
/// only. If the transaction itself fails (disk full, lock timeout), every operation of the batch
/// fails with that error and none of them is applied. Across processes, SQLite's write lock
/// serialises the batches, and each batch reads the state it checks inside its transaction.
final class GroupCommit: @unchecked Sendable {
    private let writer: any DatabaseWriter
    private let condition = NSCondition()
    private var queue: [any PendingOperation] = []
    private var stopped = false
    /// The most operations one transaction carries.
    private let maximumBatch: Int
    /// The simulated process this writer belongs to (the simulator's crash switch); nil in production.
    private let life: ProcessLife?

    /// Whether each operation runs in a transaction of its own on the calling task, with no
    /// committing thread: the simulator's ledgers, whose scheduler runs one job at a time, so a
    /// batch would only ever carry one operation, and crossing to the committing thread and back
    /// was a fifth of the simulator's time. Same transaction, savepoint-free: a refusal rolls the
    /// transaction back, which is what rolling back the savepoint of a batch of one and committing
    /// the rest does.
    let inline: Bool

    /// Starts the committing thread. It blocks in SQLite (lock waits, fsync) instead of a task of the
    /// cooperative pool, and batches whatever arrived while it was busy. `inline` (the simulator):
    /// no thread, see ``inline``.
    init(writer: any DatabaseWriter, maximumBatch: Int = 1024, life: ProcessLife? = nil, inline: Bool = false) {
        self.writer = writer
        self.life = life
        self.maximumBatch = maximumBatch
        self.inline = inline
        guard !inline else { return }
        let thread = Thread { [self] in self.run() }
        thread.name = "videometer.ledger.commit"
        thread.start()
    }

    /// Ends the committing thread once the queue is empty.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Runs `operation` in the next transaction and returns its result once that has committed.
    func perform<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try life?.admitWrite()
        if inline { return try performInline(operation) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Operation(body: operation, continuation: continuation)
            condition.lock()
            queue.append(pending)
            condition.signal()
            condition.unlock()
        }
    }

    private func performInline<T: Sendable>(_ operation: @Sendable (Database) throws -> T) throws -> T {
        try writer.writeWithoutTransaction { db in
            var result: Result<T, any Error>?
            try db.inTransaction(.immediate) {
                result = Result { try operation(db) }
                if case .success = result! { return .commit }
                return .rollback
            }
            return try result!.get()
        }
    }

    /// How many operations the last transaction carried: their callers are likely to come back
    /// with their next operation right after being answered.
    private var lastBatchSize = 0
    /// How long the committer waits for those callers before committing a smaller batch: a small
    /// fraction of one fsync, which is what a bigger batch saves.
    private let linger: TimeInterval = 0.001

    private func nextBatch() -> [any PendingOperation]? {
        condition.lock(); defer { condition.unlock() }
        while queue.isEmpty {
            if stopped { return nil }
            condition.wait()
        }
        let expected = min(lastBatchSize, maximumBatch)
        if queue.count < expected {
            let deadline = Date().addingTimeInterval(linger)
            while queue.count < expected, !stopped, condition.wait(until: deadline) {}
        }
        let count = min(queue.count, maximumBatch)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        lastBatchSize = count
        return batch
    }

    private func run() {
        while let batch = nextBatch() {
            do {
                try writer.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for operation in batch {
                            // An operation whose failure could not be undone leaves partial writes:
                            // the whole batch rolls back and every caller gets the error.
                            if let unusable = operation.execute(db) { throw unusable }
                        }
                        return .commit
                    }
                }
                for operation in batch { operation.finish(transactionError: nil) }
            } catch {
                for operation in batch { operation.finish(transactionError: error) }
            }
        }
    }
}

private protocol PendingOperation: AnyObject, Sendable {
    /// Runs the operation in a savepoint of its own; returns an error when the transaction can no
    /// longer be committed (the savepoint could not be rolled back).
    func execute(_ db: Database) -> (any Error)?
    func finish(transactionError: (any Error)?)
}

private final class Operation<T: Sendable>: PendingOperation, @unchecked Sendable {
    let body: @Sendable (Database) throws -> T
    let continuation: CheckedContinuation<T, any Error>
    var result: Result<T, any Error>?

    init(body: @escaping @Sendable (Database) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func execute(_ db: Database) -> (any Error)? {
        // A savepoint of its own, so that a refusal undoes this operation only. The statements are
        // cached: preparing them afresh for each operation (as `Database.inSavepoint` does) cost a
        // fifth of the commit thread's time.
        do {
            try db.cachedStatement(sql: "SAVEPOINT operation").execute()
        } catch {
            result = .failure(error)
            return error
        }
        do {
            let value = try body(db)
            try db.cachedStatement(sql: "RELEASE SAVEPOINT operation").execute()
            result = .success(value)
            return nil
        } catch {
            result = .failure(error)
            do {
                try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT operation").execute()
                try db.cachedStatement(sql: "RELEASE SAVEPOINT operation").execute()
                return nil
            } catch let rollback {
                return rollback
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

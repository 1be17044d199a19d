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
    private let lock = NSLock()
    private var queue: [any PendingOperation] = []
    private var draining = false
    /// The most operations one transaction carries.
    private let maximumBatch: Int

    init(writer: any DatabaseWriter, maximumBatch: Int = 1024) {
        self.writer = writer
        self.maximumBatch = maximumBatch
    }

    /// Runs `operation` in the next transaction and returns its result once that has committed.
    func perform<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Operation(body: operation, continuation: continuation)
            lock.lock()
            queue.append(pending)
            let startDrain = !draining
            draining = true
            lock.unlock()
            if startDrain {
                Task { await self.drain() }
            }
        }
    }

    private func nextBatch() -> [any PendingOperation] {
        lock.lock(); defer { lock.unlock() }
        if queue.isEmpty {
            draining = false
            return []
        }
        let count = min(queue.count, maximumBatch)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        return batch
    }

    private func drain() async {
        while true {
            let batch = nextBatch()
            if batch.isEmpty { return }
            do {
                try await writer.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for operation in batch {
                            operation.execute(db)
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
    func execute(_ db: Database)
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

    func execute(_ db: Database) {
        do {
            var value: T?
            try db.inSavepoint {
                value = try body(db)
                return .commit
            }
            result = .success(value!)
        } catch {
            result = .failure(error)
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

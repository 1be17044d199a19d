import Foundation
import PostgresNIO

extension PostgresClient {
    /// Runs `body` on a pooled connection, or throws `ledger_unavailable` when the pool hands none
    /// over within `timeout`.
    ///
    /// While the server cannot be reached the pool keeps retrying its connections in the
    /// background and would hold a request for up to a minute; the ledger fails fast instead, so
    /// a caller that would hold money is told at once and nothing is sent upstream. `body` starts
    /// only if the connection came in time: a transaction is never cut short by this deadline.
    func withConnection<T: Sendable>(
        leaseTimeout timeout: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let race = LeaseRace()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.withConnection { connection in
                    guard race.claim(.leased) else { throw PostgresLedgerError.unavailable("no connection to the server within \(timeout).") }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                guard race.claim(.timedOut) else {
                    // The body runs: wait for it (this task is cancelled when it ends).
                    try await Task.sleep(for: .seconds(86_400 * 365))
                    return nil
                }
                throw PostgresLedgerError.unavailable("no connection to the server within \(timeout).")
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw PostgresLedgerError.unavailable("the connection pool has stopped.")
        }
    }
}

/// Who came first: the pool's connection or the lease deadline.
private final class LeaseRace: @unchecked Sendable {
    enum Winner { case leased, timedOut }
    private let lock = NSLock()
    private var winner: Winner?

    /// Whether `side` is first (and so wins).
    func claim(_ side: Winner) -> Bool {
        lock.withLock {
            guard winner == nil else { return false }
            winner = side
            return true
        }
    }
}

import Foundation
import PostgresNIO
import VideoMeter

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

extension PostgresConnection {
    /// Runs `body` (queries on this connection), or throws `ledger_unavailable` as soon as the
    /// connection closes, whichever comes first.
    ///
    /// PostgresNIO hands a query to the channel with no promise for the write itself: once the
    /// server has gone away and the channel's pipeline is torn down, a query written then is never
    /// answered, and a transaction running when the server stopped would wait for ever (seen with
    /// `pg_ctl stop -m immediate` under load: the group committer, and every write behind it, hung
    /// until the gateway restarted). The body runs in a task of its own so that the wait can end
    /// without it; the closed connection goes back to the pool, which discards it.
    func untilClosed<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            // Resumed by whichever comes first; the other finds nil.
            let waiting = Locked<CheckedContinuation<T, any Error>?>(continuation)
            let resume: @Sendable (Result<T, any Error>) -> Void = { result in
                waiting.withLock { pending in defer { pending = nil }; return pending }?.resume(with: result)
            }
            let work = Task {
                do { resume(.success(try await body())) } catch { resume(.failure(error)) }
            }
            closeFuture.whenComplete { _ in
                resume(.failure(PostgresLedgerError.unavailable("the connection to the server was lost.")))
                work.cancel()
            }
        }
    }
}

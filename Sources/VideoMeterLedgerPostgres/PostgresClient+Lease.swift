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
    func untilClosed<T: Sendable>(
        watch: ConnectionCloseWatch, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            // Resumed by whichever comes first; the other finds nil.
            let waiting = Locked<CheckedContinuation<T, any Error>?>(continuation)
            let resume: @Sendable (Result<T, any Error>) -> Void = { result in
                waiting.withLock { pending in defer { pending = nil }; return pending }?.resume(with: result)
            }
            let work = Locked<Task<Void, Never>?>(nil)
            let token = watch.watch(self) {
                resume(.failure(PostgresLedgerError.unavailable("the connection to the server was lost.")))
                work.withLock { $0 }?.cancel()
            }
            work.withLock { task in
                task = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    watch.unwatch(token)
                    resume(result)
                }
            }
        }
    }
}

/// Who waits on each open connection, told together when it closes: one `closeFuture` callback
/// per connection, not one per query. A future never drops a callback before it completes, and a
/// pooled connection lives for hours, so a callback per query kept every finished query's task
/// (about 6 KB with its captures) alive until the connection closed: the gateway's memory grew
/// with every ledger call (measured: 10,000 async tasks created through a PostgreSQL gateway
/// took 120 MB more than through a SQLite one).
/// One per ledger (its pool's connections).
final class ConnectionCloseWatch: Sendable {

    struct Token: Sendable {
        fileprivate let connection: ObjectIdentifier
        fileprivate let id: UInt64
    }

    private struct Watched {
        weak var connection: PostgresConnection?
        let generation: UInt64
        var waiters: [UInt64: @Sendable () -> Void] = [:]
    }

    private struct State {
        var next: UInt64 = 0
        var watched: [ObjectIdentifier: Watched] = [:]
    }

    private let state = Locked(State())

    /// Calls `onClose` when `connection` closes (at once, on its event loop, if it has closed
    /// already), unless ``unwatch(_:)`` comes first.
    func watch(_ connection: PostgresConnection, onClose: @escaping @Sendable () -> Void) -> Token {
        let key = ObjectIdentifier(connection)
        let (token, newGeneration) = state.withLock { state -> (Token, UInt64?) in
            state.next += 1
            var newGeneration: UInt64?
            // Another connection may have had this address before: a watch is only reused for
            // the very same connection.
            if state.watched[key]?.connection !== connection {
                state.watched[key] = Watched(connection: connection, generation: state.next)
                newGeneration = state.next
            }
            state.watched[key]!.waiters[state.next] = onClose
            return (Token(connection: key, id: state.next), newGeneration)
        }
        if let newGeneration {
            connection.closeFuture.whenComplete { [self] _ in closed(key, generation: newGeneration) }
        }
        return token
    }

    /// Forgets a watch whose work has ended.
    func unwatch(_ token: Token) {
        state.withLock { state in _ = state.watched[token.connection]?.waiters.removeValue(forKey: token.id) }
    }

    /// How many calls wait on open connections, and on how many connections (for tests).
    var counts: (waiters: Int, connections: Int) {
        state.withLock { state in (state.watched.values.reduce(0) { $0 + $1.waiters.count }, state.watched.count) }
    }

    private func closed(_ key: ObjectIdentifier, generation: UInt64) {
        let waiters = state.withLock { state -> [@Sendable () -> Void] in
            guard let watched = state.watched[key], watched.generation == generation else { return [] }
            state.watched[key] = nil
            return Array(watched.waiters.values)
        }
        for waiter in waiters { waiter() }
    }
}

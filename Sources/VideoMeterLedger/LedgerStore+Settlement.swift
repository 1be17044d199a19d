/// Who polls an open async task right now: a lease held in the ledger by one owner (a gateway
/// process) until `expiresAt`.
public struct SettlementLease: Sendable, Equatable {
    public var holdID: Int64
    /// The owner's id (one per process, e.g. `host-pid-random`).
    public var owner: String
    /// Milliseconds since 1970, by the store's clock.
    public var expiresAt: Int64

    public init(holdID: Int64, owner: String, expiresAt: Int64) {
        self.holdID = holdID
        self.owner = owner
        self.expiresAt = expiresAt
    }
}

extension SettlementLease {
    /// The lease a hold takes on its own call, in the hold's transaction (``HoldRequest/settlementLease``):
    /// owned by `owner` until the store's now + `duration`.
    public struct Claim: Sendable, Equatable {
        public var owner: String
        public var duration: Duration

        public init(owner: String, duration: Duration) {
            self.owner = owner
            self.duration = duration
        }
    }
}

/// Settlement leases: each open async task is polled by one process at a time. A lease names its
/// owner and expires; the owner renews it while it polls, and gives it up once the hold is
/// settled. When the owner dies, its leases expire and another process claims them. Settlement
/// itself stays exactly once through the hold's single resolution: a lease decides who polls
/// (and who may treat a call as abandoned), not who may post.
///
/// Every conforming store guarantees:
/// - at any instant at most one owner holds a live lease on a hold: a claim succeeds only on a
///   hold that is pending and whose lease is absent, expired (`expiresAt <= now`) or the
///   claimer's own, checked and written in one atomic statement (SQLite: the writer transaction;
///   PostgreSQL: `INSERT … ON CONFLICT DO UPDATE … WHERE`, which locks the lease row, so racing
///   claims from several processes see each other's result);
/// - times are the store's clock (hosts sharing a PostgreSQL ledger need clocks synchronised well
///   within a lease's duration);
/// - a hold granted with ``HoldRequest/settlementLease`` is leased to that owner from the commit
///   that creates it: no instant exists at which another process could claim it first;
/// - a lease on a hold that is no longer pending is inert (never claimed, never renewed):
///   resolving a hold does not touch its lease (no extra statement on the settlement path);
///   ``renewLeases(owner:duration:)`` deletes the owner's such leases, and any owner's that have
///   expired, so the table holds about one row per open leased call.
public protocol SettlementLeaseStore: Sendable {
    /// Claims, or renews, the lease on each listed hold that is pending and free, expired or
    /// already `owner`'s, until now + `duration`; returns the ids `owner` holds afterwards.
    func claimLeases(holdIDs: [Int64], owner: String, duration: Duration) async throws -> Set<Int64>
    /// Extends every live lease `owner` holds on a pending hold to now + `duration`; returns their
    /// hold ids (a lease that expired meanwhile, even if not yet taken, is not renewed: claim it).
    /// Deletes `owner`'s leases on holds that are no longer pending, and every expired lease on such
    /// a hold (a dead owner's).
    func renewLeases(owner: String, duration: Duration) async throws -> Set<Int64>
    /// Gives up `owner`'s leases on these holds (another owner's are left alone).
    func releaseLeases(holdIDs: [Int64], owner: String) async throws
    /// The lease on a hold, live or expired, if any.
    func lease(holdID: Int64) async throws -> SettlementLease?
}

extension Duration {
    /// Whole milliseconds, at least 1.
    public var leaseMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

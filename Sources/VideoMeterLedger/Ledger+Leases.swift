import GRDB

extension Ledger {
    public func claimLeases(holdIDs: [Int64], owner: String, duration: Duration) async throws -> Set<Int64> {
        let now = nowMilliseconds
        let expiresAt = now + duration.leaseMilliseconds
        return try await commits.perform { db in
            // One conditional upsert per hold, in the writer transaction every process takes in turn.
            let claim = try db.cachedStatement(sql: """
                INSERT INTO settlementLease (holdID, owner, expiresAt)
                SELECT id, ?, ? FROM hold WHERE id = ? AND state = 'pending'
                ON CONFLICT (holdID) DO UPDATE SET owner = excluded.owner, expiresAt = excluded.expiresAt
                WHERE settlementLease.owner = excluded.owner OR settlementLease.expiresAt <= ?
                """)
            var claimed = Set<Int64>()
            for holdID in Set(holdIDs).sorted() {
                try claim.execute(arguments: [owner, expiresAt, holdID, now])
                if db.changesCount > 0 { claimed.insert(holdID) }
            }
            return claimed
        }
    }

    public func renewLeases(owner: String, duration: Duration) async throws -> Set<Int64> {
        let now = nowMilliseconds
        let expiresAt = now + duration.leaseMilliseconds
        return try await commits.perform { db in
            // The owner's leases on settled holds, and any dead owner's once expired: resolution
            // leaves leases alone, renewals clear them.
            try db.execute(sql: """
                DELETE FROM settlementLease WHERE (owner = ? OR expiresAt <= ?)
                    AND EXISTS (SELECT 1 FROM hold WHERE hold.id = settlementLease.holdID AND hold.state <> 'pending')
                """, arguments: [owner, now])
            try db.execute(sql: "UPDATE settlementLease SET expiresAt = ? WHERE owner = ? AND expiresAt > ?", arguments: [expiresAt, owner, now])
            return Set(try Int64.fetchAll(db, sql: "SELECT holdID FROM settlementLease WHERE owner = ? AND expiresAt = ?", arguments: [owner, expiresAt]))
        }
    }

    /// Leases a hold being granted to its caller, in the grant's own transaction (``HoldRequest/settlementLease``).
    static func takeLease(_ claim: SettlementLease.Claim, holdID: Int64, now: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO settlementLease (holdID, owner, expiresAt) VALUES (?, ?, ?)")
            .execute(arguments: [holdID, claim.owner, now + claim.duration.leaseMilliseconds])
    }

    public func releaseLeases(holdIDs: [Int64], owner: String) async throws {
        guard !holdIDs.isEmpty else { return }
        try await commits.perform { db in
            let release = try db.cachedStatement(sql: "DELETE FROM settlementLease WHERE holdID = ? AND owner = ?")
            for holdID in holdIDs { try release.execute(arguments: [holdID, owner]) }
        }
    }

    public func lease(holdID: Int64) async throws -> SettlementLease? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT holdID, owner, expiresAt FROM settlementLease WHERE holdID = ?", arguments: [holdID]).map {
                SettlementLease(holdID: $0[0], owner: $0[1], expiresAt: $0[2])
            }
        }
    }
}

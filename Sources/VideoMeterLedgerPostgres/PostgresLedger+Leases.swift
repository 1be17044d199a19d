import PostgresNIO
import VideoMeterLedger

extension PostgresLedger {
    public func claimLeases(holdIDs: [Int64], owner: String, duration: Duration) async throws -> Set<Int64> {
        let ids = Set(holdIDs).sorted()
        guard !ids.isEmpty else { return [] }
        let now = nowMilliseconds
        let expiresAt = now + duration.leaseMilliseconds
        return try await write { connection in
            // The upsert locks each lease row (in hold id order, as every claim does); a racing
            // claim from another process waits, then finds the row taken and live, and skips it.
            Set(try await connection.all("""
                INSERT INTO settlementLease (holdID, owner, expiresAt)
                SELECT id, \(owner), \(expiresAt) FROM hold WHERE id = ANY(\(ids)) AND state = 'pending' ORDER BY id
                ON CONFLICT (holdID) DO UPDATE SET owner = excluded.owner, expiresAt = excluded.expiresAt
                WHERE settlementLease.owner = excluded.owner OR settlementLease.expiresAt <= \(now)
                RETURNING holdID
                """, self.logger).map { try $0.int64(0) })
        }
    }

    public func renewLeases(owner: String, duration: Duration) async throws -> Set<Int64> {
        let now = nowMilliseconds
        let expiresAt = now + duration.leaseMilliseconds
        return try await write { connection in
            // The owner's leases on settled holds, and any dead owner's once expired: resolution
            // leaves leases alone, renewals clear them.
            try await connection.run("""
                DELETE FROM settlementLease l USING hold h
                WHERE (l.owner = \(owner) OR l.expiresAt <= \(now)) AND h.id = l.holdID AND h.state <> 'pending'
                """, self.logger)
            return Set(try await connection.all("""
                UPDATE settlementLease SET expiresAt = \(expiresAt) WHERE owner = \(owner) AND expiresAt > \(now) RETURNING holdID
                """, self.logger).map { try $0.int64(0) })
        }
    }

    public func releaseLeases(holdIDs: [Int64], owner: String) async throws {
        guard !holdIDs.isEmpty else { return }
        try await write { connection in
            try await connection.run("DELETE FROM settlementLease WHERE holdID = ANY(\(holdIDs)) AND owner = \(owner)", self.logger)
        }
    }

    public func lease(holdID: Int64) async throws -> SettlementLease? {
        try await read { connection in
            try await connection.first("SELECT holdID, owner, expiresAt FROM settlementLease WHERE holdID = \(holdID)", self.logger).map {
                SettlementLease(holdID: try $0.int64(0), owner: try $0.string(1), expiresAt: try $0.int64(2))
            }
        }
    }
}

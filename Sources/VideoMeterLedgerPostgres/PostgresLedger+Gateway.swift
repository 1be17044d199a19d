import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

/// The gateway's records (``GatewayLedgerStore``) in PostgreSQL: tables `apiKey`, `gatewayTask`,
/// `gatewayReplay` of migration `pg-v1-ledger`, with the SQLite ledger's semantics. The first
/// stored task id and replay win through `ON CONFLICT DO NOTHING` on their unique keys, so two
/// gateways racing for one hold agree.
extension PostgresLedger {
    public func createAPIKey(team name: String, keyHash: String, prefix: String, label: String?) async throws -> APIKeyRecord {
        let now = nowMilliseconds
        return try await write { connection in
            let team = try await Self.team(named: name, connection, self.logger)
            guard let row = try await connection.first("""
                INSERT INTO apiKey (keyHash, prefix, teamID, name, createdAt) VALUES (\(keyHash), \(prefix), \(team.id), \(label), \(now))
                RETURNING id
                """, self.logger)
            else { throw LedgerError.unknownTeam(name) }
            return APIKeyRecord(
                id: try row.int64(0), keyHash: keyHash, prefix: prefix, teamID: team.id, team: team.name, name: label, createdAt: now)
        }
    }

    public func apiKeys(team name: String?) async throws -> [APIKeyRecord] {
        try await read { connection in
            var teamID: Int64?
            if let name { teamID = try await Self.team(named: name, connection, self.logger).id }
            return try await connection.all("""
                SELECT \(unescaped: Self.apiKeyColumns) FROM apiKey JOIN team ON team.id = apiKey.teamID
                WHERE \(teamID)::BIGINT IS NULL OR apiKey.teamID = \(teamID) ORDER BY apiKey.id
                """, self.logger).map(Self.apiKey)
        }
    }

    public func apiKey(hash: String) async throws -> APIKeyRecord? {
        try await read { connection in
            try await connection.first("""
                SELECT \(unescaped: Self.apiKeyColumns) FROM apiKey JOIN team ON team.id = apiKey.teamID WHERE apiKey.keyHash = \(hash)
                """, self.logger).map(Self.apiKey)
        }
    }

    public func revokeAPIKey(matching text: String) async throws -> APIKeyRecord? {
        let now = nowMilliseconds
        return try await write { connection in
            let matches = try await connection.all("""
                SELECT id FROM apiKey WHERE id::TEXT = \(text) OR prefix = \(text) OR name = \(text) FOR UPDATE
                """, self.logger).map { try $0.int64(0) }
            guard matches.count == 1 else { return nil }
            try await connection.run("""
                UPDATE apiKey SET revokedAt = \(now) WHERE id = \(matches[0]) AND revokedAt IS NULL
                """, self.logger)
            return try await connection.first("""
                SELECT \(unescaped: Self.apiKeyColumns) FROM apiKey JOIN team ON team.id = apiKey.teamID WHERE apiKey.id = \(matches[0])
                """, self.logger).map(Self.apiKey)
        }
    }

    public func gatewayTaskID(holdID: Int64, teamID: Int64, apiKeyID: Int64?, candidate: String) async throws -> String {
        let now = nowMilliseconds
        return try await write { connection in
            // At READ COMMITTED, a concurrent insert for the same hold makes this one wait for it
            // and then do nothing; the SELECT, a new statement, sees the row that won.
            try await connection.run("""
                INSERT INTO gatewayTask (id, holdID, teamID, apiKeyID, createdAt) VALUES (\(candidate), \(holdID), \(teamID), \(apiKeyID), \(now))
                ON CONFLICT DO NOTHING
                """, self.logger)
            return try await connection.first("SELECT id FROM gatewayTask WHERE holdID = \(holdID)", self.logger)?.string(0) ?? candidate
        }
    }

    public func gatewayTask(id: String) async throws -> GatewayTaskRecord? {
        try await read { connection in
            try await connection.first("SELECT holdID, teamID FROM gatewayTask WHERE id = \(id)", self.logger).map {
                GatewayTaskRecord(holdID: try $0.int64(0), teamID: try $0.int64(1))
            }
        }
    }

    public func storeReplay(holdID: Int64, responseJSON: String) async throws {
        let now = nowMilliseconds
        try await write { connection in
            try await connection.run("""
                INSERT INTO gatewayReplay (holdID, responseJSON, createdAt) VALUES (\(holdID), \(responseJSON), \(now)) ON CONFLICT DO NOTHING
                """, self.logger)
        }
    }

    public func replay(holdID: Int64) async throws -> String? {
        try await read { connection in
            try await connection.first("SELECT responseJSON FROM gatewayReplay WHERE holdID = \(holdID)", self.logger)?.string(0)
        }
    }

    public func teamName(id: Int64) async throws -> String {
        try await read { connection in
            guard let row = try await connection.first("SELECT name FROM team WHERE id = \(id)", self.logger) else {
                throw LedgerError.unknownTeam("#\(id)")
            }
            return try row.string(0)
        }
    }

    public func pendingHoldCount() async throws -> Int {
        try await read { connection in
            try await connection.first("SELECT COUNT(*)::BIGINT FROM hold WHERE state = 'pending'", self.logger)?.int(0) ?? 0
        }
    }

    public func ping() async throws {
        try await read { connection in _ = try await connection.first("SELECT 1::BIGINT", self.logger) }
    }

    static let apiKeyColumns = "apiKey.id, apiKey.keyHash, apiKey.prefix, apiKey.teamID, team.name, apiKey.name, apiKey.createdAt, apiKey.revokedAt"

    static func apiKey(_ row: Cells) throws -> APIKeyRecord {
        APIKeyRecord(
            id: try row.int64(0), keyHash: try row.string(1), prefix: try row.string(2), teamID: try row.int64(3), team: try row.string(4),
            name: try row.optionalString(5), createdAt: try row.int64(6), revokedAt: try row.optionalInt64(7))
    }
}

import Foundation
import GRDB
import VideoMeter

/// What the gateway keeps in the ledger beside the money: team API keys, the task ids it hands to
/// clients, and the answers of idempotent sync calls. The gateway asks for these by meaning and
/// never sees the database (tables `apiKey`, `gatewayTask`, `gatewayReplay`, migration
/// `v1-gateway`: docs/LEDGER.md).
extension Ledger {
    /// Stores a new key's hash for `team`; returns the stored key.
    public func createAPIKey(team name: String, keyHash: String, prefix: String, label: String?) async throws -> APIKeyRecord {
        let team = try await team(named: name)
        let now = nowMilliseconds
        let id = try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO apiKey (keyHash, prefix, teamID, name, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [keyHash, prefix, team.id, label, now])
            return db.lastInsertedRowID
        }
        return APIKeyRecord(id: id, keyHash: keyHash, prefix: prefix, teamID: team.id, team: team.name, name: label, createdAt: now)
    }

    /// Every key (of one team, when given), oldest first.
    public func apiKeys(team name: String?) async throws -> [APIKeyRecord] {
        var teamID: Int64?
        if let name { teamID = try await team(named: name).id }
        return try await read { [teamID] db in
            try Row.fetchAll(db, sql: """
                SELECT apiKey.*, team.name AS teamName FROM apiKey JOIN team ON team.id = apiKey.teamID
                WHERE (? IS NULL OR apiKey.teamID = ?) ORDER BY apiKey.id
                """, arguments: [teamID, teamID]).map(Self.apiKey)
        }
    }

    /// The key with that hash, revoked or not.
    public func apiKey(hash: String) async throws -> APIKeyRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: """
                SELECT apiKey.*, team.name AS teamName FROM apiKey JOIN team ON team.id = apiKey.teamID WHERE apiKey.keyHash = ?
                """, arguments: [hash]).map(Self.apiKey)
        }
    }

    /// Revokes the one key whose id, prefix or label is `text` (revoking twice keeps the first
    /// time); `nil`, changing nothing, when no single key matches.
    public func revokeAPIKey(matching text: String) async throws -> APIKeyRecord? {
        let now = nowMilliseconds
        let id: Int64? = try await writer.write { db in
            let matches = try Int64.fetchAll(
                db, sql: "SELECT id FROM apiKey WHERE CAST(id AS TEXT) = ? OR prefix = ? OR name = ?", arguments: [text, text, text])
            guard matches.count == 1 else { return nil }
            try db.execute(sql: "UPDATE apiKey SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL", arguments: [now, matches[0]])
            return matches[0]
        }
        guard let id else { return nil }
        return try await apiKeys().first { $0.id == id }
    }

    /// The gateway's task id for the call held under `holdID`: `candidate`, stored now, or the one
    /// stored first.
    public func gatewayTaskID(holdID: Int64, teamID: Int64, apiKeyID: Int64?, candidate: String) async throws -> String {
        let now = nowMilliseconds
        return try await writer.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO gatewayTask (id, holdID, teamID, apiKeyID, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [candidate, holdID, teamID, apiKeyID, now])
            return try String.fetchOne(db, sql: "SELECT id FROM gatewayTask WHERE holdID = ?", arguments: [holdID]) ?? candidate
        }
    }

    /// The hold and the owning team of a gateway task id.
    public func gatewayTask(id: String) async throws -> GatewayTaskRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT holdID, teamID FROM gatewayTask WHERE id = ?", arguments: [id]).map { GatewayTaskRecord(holdID: $0["holdID"], teamID: $0["teamID"]) }
        }
    }

    /// Keeps the answer of an idempotent sync call, for a replay of its key (the first answer stays).
    public func storeReplay(holdID: Int64, responseJSON: String) async throws {
        let now = nowMilliseconds
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO gatewayReplay (holdID, responseJSON, createdAt) VALUES (?, ?, ?)",
                arguments: [holdID, responseJSON, now])
        }
    }

    /// The stored answer of the sync call held under `holdID`, if any.
    public func replay(holdID: Int64) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT responseJSON FROM gatewayReplay WHERE holdID = ?", arguments: [holdID])
        }
    }

    /// How many holds are pending (the gateway's `holds_open` gauge).
    public func pendingHoldCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold WHERE state = 'pending'") ?? 0 }
    }

    /// Answers once the database does (`/healthz`).
    public func ping() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    private static func apiKey(_ row: Row) -> APIKeyRecord {
        APIKeyRecord(
            id: row["id"], keyHash: row["keyHash"], prefix: row["prefix"], teamID: row["teamID"], team: row["teamName"], name: row["name"],
            createdAt: row["createdAt"], revokedAt: row["revokedAt"])
    }
}

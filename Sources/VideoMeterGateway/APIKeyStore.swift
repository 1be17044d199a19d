import Crypto
import Foundation
import GRDB
import VideoMeter
import VideoMeterLedger

/// A team's API key as listed: never the key itself, only its first characters.
public struct APIKeyInfo: Sendable, Equatable, Codable {
    public var id: Int64
    public var prefix: String
    public var team: String
    public var name: String?
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var revokedAt: Int64?

    public var isRevoked: Bool { revokedAt != nil }

    enum CodingKeys: String, CodingKey {
        case id, prefix, team, name
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }
}

/// Who is calling: the team a key belongs to, and the key's label for the reports.
public struct CallerIdentity: Sendable, Equatable {
    public var keyID: Int64
    public var teamID: Int64
    public var team: String
    /// The key's label, else its prefix (reports list callers by it).
    public var caller: String
}

/// Team API keys, stored in the ledger's database as SHA-256 hashes.
///
/// A key is `vmk_` followed by 43 base64url characters (32 bytes from the system's secure random
/// generator), so a hash without salt is safe: the key space cannot be searched. Lookups go by
/// hash, and the stored hash is then compared with the computed one in constant time.
/// Authentication results are cached for ``cacheLifetime``: a revoked key stops working within it.
public final class APIKeyStore: Sendable {
    let ledger: Ledger
    let cache = Locked<[String: (identity: CallerIdentity?, at: AnyClock.Instant)]>([:])
    let clock: AnyClock
    public let cacheLifetime: Duration

    /// - Parameter clock: what the cache lifetime is measured on.
    public init(ledger: Ledger, cacheLifetime: Duration = .seconds(1), clock: AnyClock = .continuous) throws {
        self.ledger = ledger
        self.clock = clock
        self.cacheLifetime = cacheLifetime
        try GatewaySchema.migrate(ledger)
    }

    /// Creates a key for `team` and returns it: the only time the key is ever seen.
    public func create(team: String, name: String? = nil) async throws -> (key: String, info: APIKeyInfo) {
        let team = try await ledger.team(named: team)
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let key = "vmk_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let hash = Self.hash(key)
        let prefix = String(key.prefix(12))
        let label = name?.trimmingCharacters(in: .whitespacesAndNewlines)
        let now = Int64(ledger.clock.now().timeIntervalSince1970 * 1000)
        let id = try await ledger.writer.write { db in
            try db.execute(
                sql: "INSERT INTO apiKey (keyHash, prefix, teamID, name, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [hash, prefix, team.id, label?.isEmpty == false ? label : nil, now])
            return db.lastInsertedRowID
        }
        return (key, APIKeyInfo(id: id, prefix: prefix, team: team.name, name: label?.isEmpty == false ? label : nil, createdAt: now))
    }

    /// Every key (of one team, when given), oldest first.
    public func list(team: String? = nil) async throws -> [APIKeyInfo] {
        var teamID: Int64?
        if let team { teamID = try await ledger.team(named: team).id }
        return try await ledger.writer.read { [teamID] db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT apiKey.*, team.name AS teamName FROM apiKey JOIN team ON team.id = apiKey.teamID
                WHERE (? IS NULL OR apiKey.teamID = ?) ORDER BY apiKey.id
                """, arguments: [teamID, teamID])
            return rows.map { row in
                APIKeyInfo(id: row["id"], prefix: row["prefix"], team: row["teamName"], name: row["name"], createdAt: row["createdAt"], revokedAt: row["revokedAt"])
            }
        }
    }

    /// Revokes the key with that id, prefix or label (when only one key has it); returns it.
    /// Revoking twice keeps the first time.
    public func revoke(_ idOrPrefix: String) async throws -> APIKeyInfo {
        let now = Int64(ledger.clock.now().timeIntervalSince1970 * 1000)
        let id: Int64? = try await ledger.writer.write { db in
            let matches = try Int64.fetchAll(db, sql: "SELECT id FROM apiKey WHERE CAST(id AS TEXT) = ? OR prefix = ? OR name = ?", arguments: [idOrPrefix, idOrPrefix, idOrPrefix])
            guard matches.count == 1 else { return nil }
            try db.execute(sql: "UPDATE apiKey SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL", arguments: [now, matches[0]])
            return matches[0]
        }
        guard let id, let info = try await list().first(where: { $0.id == id }) else { throw APIKeyError.unknownKey(idOrPrefix) }
        cache.withLock { $0.removeAll() }
        return info
    }

    /// The caller a presented key stands for, or `nil` when the key is unknown or revoked.
    public func authenticate(_ key: String) async throws -> CallerIdentity? {
        guard key.hasPrefix("vmk_"), key.utf8.count == 47 else { return nil }
        let hash = Self.hash(key)
        let now = clock.now
        if let cached = cache.withLock({ $0[hash] }), cached.at.duration(to: now) < cacheLifetime {
            return cached.identity
        }
        let identity: CallerIdentity? = try await ledger.writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT apiKey.id, apiKey.keyHash, apiKey.prefix, apiKey.name, apiKey.teamID, apiKey.revokedAt, team.name AS teamName
                FROM apiKey JOIN team ON team.id = apiKey.teamID WHERE apiKey.keyHash = ?
                """, arguments: [hash])
            else { return nil }
            guard Self.constantTimeEqual(row["keyHash"], hash), (row["revokedAt"] as Int64?) == nil else { return nil }
            let name: String? = row["name"]
            return CallerIdentity(keyID: row["id"], teamID: row["teamID"], team: row["teamName"], caller: name ?? row["prefix"])
        }
        cache.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[hash] = (identity, now)
        }
        return identity
    }

    static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two strings in time that depends on their length only, not on where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// Why a key operation failed.
public struct APIKeyError: CodedError, Equatable {
    public let code: String
    public let message: String

    public static func unknownKey(_ text: String) -> APIKeyError {
        APIKeyError(code: "unknown_key", message: "No single key has id, prefix or label '\(text.prefix(60))'; `videometer keys list` shows them.")
    }
}

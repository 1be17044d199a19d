import Crypto
import Foundation
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

    init(_ record: APIKeyRecord) {
        self.init(id: record.id, prefix: record.prefix, team: record.team, name: record.name, createdAt: record.createdAt, revokedAt: record.revokedAt)
    }

    public init(id: Int64, prefix: String, team: String, name: String?, createdAt: Int64, revokedAt: Int64? = nil) {
        self.id = id
        self.prefix = prefix
        self.team = team
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

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
/// While the ledger's database cannot be reached, a key keeps the last answer this store had for
/// it (a key never seen then gets `ledger_unavailable`).
public final class APIKeyStore: Sendable {
    let ledger: any LedgerStore
    let cache = Locked<[String: (identity: CallerIdentity?, at: AnyClock.Instant)]>([:])
    /// The database readings of keys in flight, by key hash.
    let lookups = Locked<[String: Task<CallerIdentity?, any Error>]>([:])
    let clock: AnyClock
    public let cacheLifetime: Duration

    /// - Parameter clock: what the cache lifetime is measured on.
    public init(ledger: any LedgerStore, cacheLifetime: Duration = .seconds(1), clock: AnyClock = .continuous) throws {
        self.ledger = ledger
        self.clock = clock
        self.cacheLifetime = cacheLifetime
    }

    /// Creates a key for `team` and returns it: the only time the key is ever seen.
    public func create(team: String, name: String? = nil) async throws -> (key: String, info: APIKeyInfo) {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let key = "vmk_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let label = name?.trimmingCharacters(in: .whitespacesAndNewlines)
        let record = try await ledger.createAPIKey(
            team: team, keyHash: Self.hash(key), prefix: String(key.prefix(12)), label: label?.isEmpty == false ? label : nil)
        return (key, APIKeyInfo(record))
    }

    /// Every key (of one team, when given), oldest first.
    public func list(team: String? = nil) async throws -> [APIKeyInfo] {
        try await ledger.apiKeys(team: team).map(APIKeyInfo.init)
    }

    /// Revokes the key with that id, prefix or label (when only one key has it); returns it.
    /// Revoking twice keeps the first time.
    public func revoke(_ idOrPrefix: String) async throws -> APIKeyInfo {
        guard let record = try await ledger.revokeAPIKey(matching: idOrPrefix) else { throw APIKeyError.unknownKey(idOrPrefix) }
        cache.withLock { $0.removeAll() }
        return APIKeyInfo(record)
    }

    /// The caller a presented key stands for, or `nil` when the key is unknown or revoked.
    public func authenticate(_ key: String) async throws -> CallerIdentity? {
        guard key.hasPrefix("vmk_"), key.utf8.count == 47 else { return nil }
        let hash = Self.hash(key)
        let now = clock.now
        if let cached = cache.withLock({ $0[hash] }), cached.at.duration(to: now) < cacheLifetime {
            return cached.identity
        }
        // One reading per key at a time: the requests that find the entry expired while it is
        // being read again wait for that reading instead of each asking the database. Its answer
        // is stamped with the time the reading started, so it is never served longer after the
        // database was read than the cache lifetime allows.
        let (reading, started) = lookups.withLock { lookups -> (Task<CallerIdentity?, any Error>, Bool) in
            if let running = lookups[hash] { return (running, false) }
            let task = Task { try await self.lookUp(hash: hash, at: now) }
            lookups[hash] = task
            return (task, true)
        }
        defer { if started { lookups.withLock { _ = $0.removeValue(forKey: hash) } } }
        return try await reading.value
    }

    /// Reads the key from the ledger and caches the answer as of `now`.
    private func lookUp(hash: String, at now: AnyClock.Instant) async throws -> CallerIdentity? {
        let found: APIKeyRecord?
        do {
            found = try await ledger.apiKey(hash: hash)
        } catch let error where error.isLedgerUnavailable {
            // The database is down: a key seen before keeps its last answer (nothing can be
            // revoked meanwhile), so quotes still answer; money routes fail closed at the hold.
            if let cached = cache.withLock({ $0[hash] }) { return cached.identity }
            throw error
        }
        var identity: CallerIdentity?
        if let record = found, Self.constantTimeEqual(record.keyHash, hash), record.revokedAt == nil {
            identity = CallerIdentity(keyID: record.id, teamID: record.teamID, team: record.team, caller: record.name ?? record.prefix)
        }
        cache.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[hash] = (identity, now)
        }
        return identity
    }

    static func hash(_ key: String) -> String {
        Hex.encode(SHA256.hash(data: Data(key.utf8)))
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

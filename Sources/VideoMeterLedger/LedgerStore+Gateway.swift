import VideoMeter

/// A team API key as the ledger stores it: its SHA-256 hash, never the key.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: Int64
    public var keyHash: String
    public var prefix: String
    public var teamID: Int64
    public var team: String
    public var name: String?
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var revokedAt: Int64?

    public init(
        id: Int64, keyHash: String, prefix: String, teamID: Int64, team: String, name: String?, createdAt: Int64, revokedAt: Int64? = nil
    ) {
        self.id = id
        self.keyHash = keyHash
        self.prefix = prefix
        self.teamID = teamID
        self.team = team
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A task id the gateway handed to a client, and whose it is.
public struct GatewayTaskRecord: Sendable, Equatable {
    public var holdID: Int64
    public var teamID: Int64

    public init(holdID: Int64, teamID: Int64) {
        self.holdID = holdID
        self.teamID = teamID
    }
}

/// What the gateway keeps in the ledger beside the money: team API keys (hashes only), the task
/// ids it hands to clients, and the stored answers of idempotent sync calls; and what it asks the
/// ledger for its gauges and health. Part of the ledger's contract (``LedgerStore`` refines it),
/// so every gateway on one database sees the same keys, tasks and replays.
///
/// Every conforming store guarantees:
/// - a key's hash is unique; a revoked key stays listed with the time it was first revoked;
/// - a hold has at most one gateway task id, the first stored (``gatewayTaskID(holdID:teamID:apiKeyID:candidate:)``
///   returns that one to every later caller, in any process), and a task id names one hold;
/// - a sync call's stored answer is the first stored; it is never replaced;
/// - when the database cannot be reached, every operation (of this facet and of ``LedgerStore``)
///   throws a ``VideoMeter/CodedError`` whose code is ``ledgerUnavailableCode`` instead of waiting
///   for it, and the store serves again by itself once the database answers.
public protocol GatewayLedgerStore: Sendable {
    /// Stores a new key's hash for the team named `team`; returns the stored key, or `unknown_team`.
    func createAPIKey(team: String, keyHash: String, prefix: String, label: String?) async throws -> APIKeyRecord
    /// Every key (of the team named `team`, when given), oldest first.
    func apiKeys(team: String?) async throws -> [APIKeyRecord]
    /// The key with that hash, revoked or not.
    func apiKey(hash: String) async throws -> APIKeyRecord?
    /// Revokes the one key whose id, prefix or label is `text` (revoking twice keeps the first
    /// time); `nil`, changing nothing, when no single key matches.
    func revokeAPIKey(matching text: String) async throws -> APIKeyRecord?

    /// The gateway's task id for the call held under `holdID`: `candidate`, stored now, or the one
    /// stored first.
    func gatewayTaskID(holdID: Int64, teamID: Int64, apiKeyID: Int64?, candidate: String) async throws -> String
    /// The hold and the owning team of a gateway task id.
    func gatewayTask(id: String) async throws -> GatewayTaskRecord?
    /// Keeps the answer of an idempotent sync call, for a replay of its key (the first answer stays).
    func storeReplay(holdID: Int64, responseJSON: String) async throws
    /// The stored answer of the sync call held under `holdID`, if any.
    func replay(holdID: Int64) async throws -> String?

    /// The name of the team with that id, or `unknown_team`.
    func teamName(id: Int64) async throws -> String
    /// How many holds are pending, of every team (the gateway's `holds_open` gauge).
    func pendingHoldCount() async throws -> Int
    /// Answers once the database does (`/healthz`); throws when it cannot be reached.
    func ping() async throws
}

/// The code of the error a store throws when its database cannot be reached (the gateway answers
/// 503 with it and sends nothing upstream).
public let ledgerUnavailableCode = "ledger_unavailable"

extension GatewayLedgerStore {
    /// Every key, oldest first.
    public func apiKeys() async throws -> [APIKeyRecord] {
        try await apiKeys(team: nil)
    }
}

extension Error {
    /// Whether this error says that the ledger's database cannot be reached (rather than that the
    /// ledger refused something).
    public var isLedgerUnavailable: Bool {
        (self as? any CodedError)?.code == ledgerUnavailableCode
    }
}

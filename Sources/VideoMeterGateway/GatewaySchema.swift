import GRDB
import VideoMeterLedger

/// The gateway's tables, in the ledger's database, under migrations of their own (the ledger's
/// `v1-ledger` is never touched; GRDB ignores identifiers a migrator does not know).
///
/// - `apiKey`: one row per key: `keyHash` (SHA-256 of the key, hex, unique), a display `prefix`,
///   the team, a label, creation and revocation times. The key itself is never stored.
/// - `gatewayTask`: the task id the gateway gave a client for an async call, the hold it maps to
///   and the team that owns it (`GET /v1/videos/generations/{id}` is owner-scoped by it).
/// - `gatewayReplay`: the response of a sync call made with an `Idempotency-Key`, returned again
///   for the same key.
enum GatewaySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-gateway") { db in
            try db.execute(sql: """
                CREATE TABLE apiKey (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    keyHash TEXT NOT NULL UNIQUE,
                    prefix TEXT NOT NULL,
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    name TEXT,
                    createdAt INTEGER NOT NULL,
                    revokedAt INTEGER
                );

                CREATE TABLE gatewayTask (
                    id TEXT PRIMARY KEY,
                    holdID INTEGER NOT NULL UNIQUE REFERENCES hold(id),
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    apiKeyID INTEGER REFERENCES apiKey(id),
                    createdAt INTEGER NOT NULL
                );

                CREATE TABLE gatewayReplay (
                    holdID INTEGER PRIMARY KEY REFERENCES hold(id),
                    responseJSON TEXT NOT NULL,
                    createdAt INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }

    /// Creates or updates the gateway's tables in the ledger's database.
    static func migrate(_ ledger: Ledger) throws {
        try migrator.migrate(ledger.writer)
    }
}

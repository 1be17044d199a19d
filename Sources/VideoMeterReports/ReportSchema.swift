import GRDB

/// The reports' own additions to the ledger database: additive migrations under identifiers of
/// their own, applied after the ledger's migrator has run (GRDB tolerates identifiers another
/// migrator applied).
///
/// - `usageEvent_team_created`: an index on `usageEvent(teamID, createdAt)`. A call counts in the
///   period in which its hold was granted (`createdAt`), exactly as the ledger's budgets count it.
/// - `holdCaller`: the API key label or caller that asked for a hold, one row per hold, for the
///   "top callers" table. The gateway records it with ``ReportSchema/recordCaller(_:holdID:in:)``;
///   usage without a row is reported as `(unattributed)`.
public enum ReportSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("reports-v1") { db in
            try db.execute(sql: """
                CREATE INDEX IF NOT EXISTS usageEvent_team_created ON usageEvent(teamID, createdAt);
                CREATE TABLE IF NOT EXISTS holdCaller (
                    holdID INTEGER PRIMARY KEY REFERENCES hold(id),
                    caller TEXT NOT NULL
                );
                """)
        }
        return migrator
    }

    /// Applies the reports' migrations to a ledger database (the ledger's own must have run).
    public static func migrate(_ writer: any DatabaseWriter) throws {
        try migrator.migrate(writer)
    }

    /// Records which key or caller asked for a hold; the first record for a hold wins.
    public static func recordCaller(_ caller: String, holdID: Int64, in writer: any DatabaseWriter) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO holdCaller (holdID, caller) VALUES (?, ?)", arguments: [holdID, caller])
        }
    }
}

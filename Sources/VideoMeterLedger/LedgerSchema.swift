import GRDB

/// The ledger's migrations: plain SQL under identifiers that never change once shipped.
///
/// Tables (singular camelCase, amounts INTEGER micro-dollars, times INTEGER milliseconds since 1970):
/// - `team`: name (unique), IANA `timeZone`.
/// - `budget`: one per team; `monthlyLimitMicro`, `dailyLimitMicro` (NULL: none), `creditMicro`
///   (all prepaid credit added; NULL: no credit limit), `alertThresholds` ("50,80,100").
/// - `hold`: the metered call's record: key, fingerprint, amount, state, call status, quote snapshot,
///   upstream ids, the team's `periodMonth`/`periodDay` at grant time.
/// - `journalEntry`: append-only (triggers refuse UPDATE and DELETE); `hold`, `post`, `void`,
///   `expire`, `credit` rows; a unique partial index lets a hold resolve once.
/// - `balance`: posted and pending sums per team and period (`month`, `day`, `credit`), derived
///   from the journal in the same transaction; `verify` recomputes them.
/// - `usageEvent`: one row per finished call, for reports.
/// - `alert`: one row per team, month and threshold.
/// - `lateSuccess`: tasks that succeeded after their hold was voided or expired.
///
/// `v2-caller`: `hold.caller` and `usageEvent.caller` (who asked: an API key's label, a user name)
/// for the reports' top callers, `hold.billedSeconds` (the seconds a posted call was charged for), and the index the monthly reports read by (`usageEvent(teamID,
/// createdAt)`: a call counts in the period its hold was granted in), so reports never write. The
/// usage event's other indexes served no query and cost a page write each per settlement: dropped.
///
/// `v3-report-indexes`: covering indexes that let the monthly report stream a team's month from
/// the ledger's own period stamps instead of sorting it (a month of a million calls reports in about
/// a second instead of fifteen); three more index writes per settled call.
enum LedgerSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger") { db in
            try db.execute(sql: """
                CREATE TABLE team (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    timeZone TEXT NOT NULL DEFAULT 'UTC',
                    createdAt INTEGER NOT NULL
                );

                CREATE TABLE budget (
                    teamID INTEGER PRIMARY KEY REFERENCES team(id),
                    monthlyLimitMicro INTEGER NOT NULL CHECK (monthlyLimitMicro >= 0),
                    dailyLimitMicro INTEGER CHECK (dailyLimitMicro IS NULL OR dailyLimitMicro >= 0),
                    creditMicro INTEGER CHECK (creditMicro IS NULL OR creditMicro >= 0),
                    alertThresholds TEXT NOT NULL DEFAULT '50,80,100',
                    updatedAt INTEGER NOT NULL
                );

                CREATE TABLE hold (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    idempotencyKey TEXT NOT NULL UNIQUE,
                    fingerprint TEXT NOT NULL,
                    amountMicro INTEGER NOT NULL CHECK (amountMicro > 0),
                    postedMicro INTEGER NOT NULL DEFAULT 0 CHECK (postedMicro >= 0 AND postedMicro <= amountMicro),
                    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
                    callStatus TEXT NOT NULL DEFAULT 'held',
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    resolution TEXT NOT NULL,
                    seconds INTEGER NOT NULL,
                    imageCount INTEGER NOT NULL DEFAULT 0,
                    catalogVersion TEXT NOT NULL,
                    quoteJSON TEXT NOT NULL,
                    upstreamCostMicro INTEGER NOT NULL,
                    marginMicro INTEGER NOT NULL,
                    upstreamTaskID TEXT,
                    upstreamRequestID TEXT,
                    periodMonth TEXT NOT NULL,
                    periodDay TEXT NOT NULL,
                    countsAgainstCredit INTEGER NOT NULL,
                    createdAt INTEGER NOT NULL,
                    deadline INTEGER NOT NULL,
                    submittedAt INTEGER,
                    resolvedAt INTEGER
                );
                CREATE INDEX hold_pending_deadline ON hold(deadline) WHERE state = 'pending';
                CREATE INDEX hold_team_created ON hold(teamID, createdAt);

                CREATE TABLE journalEntry (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL CHECK (kind IN ('hold', 'post', 'void', 'expire', 'credit')),
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    holdID INTEGER REFERENCES hold(id),
                    idempotencyKey TEXT,
                    amountMicro INTEGER NOT NULL CHECK (amountMicro >= 0),
                    releasedMicro INTEGER NOT NULL DEFAULT 0 CHECK (releasedMicro >= 0),
                    periodMonth TEXT,
                    periodDay TEXT,
                    monthlyLimitMicro INTEGER,
                    dailyLimitMicro INTEGER,
                    creditLimitMicro INTEGER,
                    catalogVersion TEXT,
                    upstreamCostMicro INTEGER,
                    marginMicro INTEGER,
                    upstreamTaskID TEXT,
                    upstreamRequestID TEXT,
                    createdAt INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX journalEntry_grant ON journalEntry(holdID) WHERE kind = 'hold';
                CREATE UNIQUE INDEX journalEntry_resolution ON journalEntry(holdID) WHERE kind IN ('post', 'void', 'expire');
                CREATE INDEX journalEntry_team ON journalEntry(teamID, id);
                CREATE TRIGGER journalEntry_appendOnly_update BEFORE UPDATE ON journalEntry
                    BEGIN SELECT RAISE(ABORT, 'journalEntry is append-only'); END;
                CREATE TRIGGER journalEntry_appendOnly_delete BEFORE DELETE ON journalEntry
                    BEGIN SELECT RAISE(ABORT, 'journalEntry is append-only'); END;

                CREATE TABLE balance (
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    scope TEXT NOT NULL CHECK (scope IN ('month', 'day', 'credit')),
                    periodKey TEXT NOT NULL,
                    postedMicro INTEGER NOT NULL DEFAULT 0,
                    pendingMicro INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (teamID, scope, periodKey)
                ) WITHOUT ROWID;

                CREATE TABLE usageEvent (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    holdID INTEGER NOT NULL UNIQUE REFERENCES hold(id),
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    idempotencyKey TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    resolution TEXT NOT NULL,
                    seconds INTEGER NOT NULL,
                    billedSeconds INTEGER,
                    imageCount INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('posted', 'voided', 'expired')),
                    heldMicro INTEGER NOT NULL,
                    chargedMicro INTEGER NOT NULL,
                    upstreamCostMicro INTEGER NOT NULL,
                    marginMicro INTEGER NOT NULL,
                    catalogVersion TEXT NOT NULL,
                    latencyMs INTEGER,
                    upstreamTaskID TEXT,
                    upstreamRequestID TEXT,
                    periodMonth TEXT NOT NULL,
                    periodDay TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    finishedAt INTEGER NOT NULL
                );
                CREATE INDEX usageEvent_team_finished ON usageEvent(teamID, finishedAt);
                CREATE INDEX usageEvent_team_month ON usageEvent(teamID, periodMonth);
                CREATE INDEX usageEvent_finished ON usageEvent(finishedAt);

                CREATE TABLE alert (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    periodMonth TEXT NOT NULL,
                    thresholdPercent INTEGER NOT NULL,
                    limitMicro INTEGER NOT NULL,
                    spentMicro INTEGER NOT NULL,
                    holdID INTEGER REFERENCES hold(id),
                    createdAt INTEGER NOT NULL,
                    UNIQUE (teamID, periodMonth, thresholdPercent)
                );

                CREATE TABLE lateSuccess (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    holdID INTEGER NOT NULL UNIQUE REFERENCES hold(id),
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    holdState TEXT NOT NULL,
                    amountMicro INTEGER NOT NULL CHECK (amountMicro >= 0),
                    upstreamTaskID TEXT,
                    upstreamRequestID TEXT,
                    note TEXT,
                    detectedAt INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-caller") { db in
            try db.execute(sql: """
                ALTER TABLE hold ADD COLUMN caller TEXT;
                ALTER TABLE hold ADD COLUMN billedSeconds INTEGER;
                ALTER TABLE usageEvent ADD COLUMN caller TEXT;
                CREATE INDEX IF NOT EXISTS usageEvent_team_created ON usageEvent(teamID, createdAt);
                DROP INDEX usageEvent_team_finished;
                DROP INDEX usageEvent_team_month;
                DROP INDEX usageEvent_finished;
                """)
        }
        migrator.registerMigration("v3-report-indexes") { db in
            try db.execute(sql: """
                CREATE INDEX IF NOT EXISTS usageEvent_report ON usageEvent(teamID, periodMonth, periodDay, provider, model,
                    resolution, status, catalogVersion, outcome, chargedMicro, upstreamCostMicro, billedSeconds, seconds);
                CREATE INDEX IF NOT EXISTS usageEvent_report_caller ON usageEvent(teamID, periodMonth, caller, chargedMicro);
                CREATE INDEX IF NOT EXISTS journalEntry_report ON journalEntry(teamID, periodMonth, kind, amountMicro);
                """)
        }
        // Every amount split by the quote's lines (ChargeSplit): the flat fee gets a column of its
        // own. Rows written before stay as written (flatFeeMicro 0; a post's margin then was
        // charged - upstream cost, flat fee included): history is never edited.
        migrator.registerMigration("v4-flat-fee") { db in
            try db.execute(sql: """
                ALTER TABLE hold ADD COLUMN flatFeeMicro INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE journalEntry ADD COLUMN flatFeeMicro INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE usageEvent ADD COLUMN flatFeeMicro INTEGER NOT NULL DEFAULT 0;
                """)
        }
        // What the seller said a call cost it (xAI's usage.cost_in_usd_ticks, 10^-10 USD), beside
        // what VideoMeter computed; and the delivered video's URL, so a settled task is answered
        // from the ledger rather than by asking the upstream again.
        migrator.registerMigration("v5-seller-cost") { db in
            try db.execute(sql: """
                ALTER TABLE hold ADD COLUMN sellerCostTicks INTEGER;
                ALTER TABLE hold ADD COLUMN videoURL TEXT;
                ALTER TABLE usageEvent ADD COLUMN sellerCostTicks INTEGER;
                CREATE INDEX usageEvent_seller_cost ON usageEvent(teamID, periodMonth, createdAt, provider, outcome,
                    sellerCostTicks, upstreamCostMicro) WHERE sellerCostTicks IS NOT NULL;
                """)
        }
        // The gateway's tables (API key hashes, the task ids it hands out, the answers of idempotent
        // sync calls). The identifier is the one the gateway registered them under before the
        // ledger owned them, so ledgers that have them are not migrated again.
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
        // Re-pricing (`videometer reprice`) reads a month of charged calls grouped by what prices
        // them; this index holds those columns in that order, so the month streams from it
        // without touching the table (a million calls in well under a second).
        migrator.registerMigration("v6-reprice-index") { db in
            try db.execute(sql: """
                CREATE INDEX usageEvent_reprice ON usageEvent(periodMonth, outcome, teamID, provider, model, resolution,
                    imageCount, catalogVersion, billedSeconds, seconds, chargedMicro);
                """)
        }
        // A forecast alert (`projected_overrun`) beside the threshold alerts: the table gains a
        // kind, the projection that raised it, and a uniqueness per kind. SQLite cannot change a
        // table's constraints in place, so the rows move to a new table, ids and all.
        migrator.registerMigration("v7-forecast-alert") { db in
            try db.execute(sql: """
                CREATE TABLE alert_v7 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    teamID INTEGER NOT NULL REFERENCES team(id),
                    periodMonth TEXT NOT NULL,
                    kind TEXT NOT NULL DEFAULT 'threshold' CHECK (kind IN ('threshold', 'projected_overrun')),
                    thresholdPercent INTEGER NOT NULL,
                    limitMicro INTEGER NOT NULL,
                    spentMicro INTEGER NOT NULL,
                    projectedMicro INTEGER,
                    holdID INTEGER REFERENCES hold(id),
                    createdAt INTEGER NOT NULL,
                    UNIQUE (teamID, periodMonth, kind, thresholdPercent)
                );
                INSERT INTO alert_v7 (id, teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, holdID, createdAt)
                    SELECT id, teamID, periodMonth, 'threshold', thresholdPercent, limitMicro, spentMicro, holdID, createdAt FROM alert;
                DROP TABLE alert;
                ALTER TABLE alert_v7 RENAME TO alert;
                """)
        }
        // A report in another time zone than the teams' own (`report --timezone`) selects a month
        // by grant instant, not by the ledger's month stamps. These two indexes replace the plain
        // `(teamID, createdAt)` ones with the same prefix, carrying the columns that report reads,
        // so it reads them alone (UsageFold; the holds' posted amounts) instead of a million rows.
        migrator.registerMigration("v8-instant-indexes") { db in
            try db.execute(sql: """
                CREATE INDEX usageEvent_instants ON usageEvent(teamID, createdAt, provider, model, resolution, status,
                    catalogVersion, outcome, chargedMicro, upstreamCostMicro, billedSeconds, seconds, caller);
                DROP INDEX usageEvent_team_created;
                CREATE INDEX hold_team_created_posted ON hold(teamID, createdAt, postedMicro);
                DROP INDEX hold_team_created;
                """)
        }
        // The per-team cap on async tasks in flight is counted in the ledger (every process on the
        // file sees the same count): `hold.asyncCall` marks an async call's hold, and a partial
        // index finds a team's pending ones. Holds granted before this migration carry no mark; a
        // pending one with an upstream task id is an async task (a sync call records none), so it
        // counts from now on.
        migrator.registerMigration("v9-async-cap") { db in
            try db.execute(sql: """
                ALTER TABLE hold ADD COLUMN asyncCall INTEGER NOT NULL DEFAULT 0 CHECK (asyncCall IN (0, 1));
                UPDATE hold SET asyncCall = 1 WHERE state = 'pending' AND upstreamTaskID IS NOT NULL;
                CREATE INDEX hold_team_pending_async ON hold(teamID) WHERE state = 'pending' AND asyncCall = 1;
                """)
        }
        // Settlement leases (``SettlementLeaseStore``): who polls an open async task, until when.
        migrator.registerMigration("v10-settlement-lease") { db in
            try db.execute(sql: """
                CREATE TABLE settlementLease (
                    holdID INTEGER PRIMARY KEY REFERENCES hold(id),
                    owner TEXT NOT NULL,
                    expiresAt INTEGER NOT NULL
                );
                CREATE INDEX settlementLease_owner ON settlementLease(owner);
                """)
        }
        // Reconciliation looks again at recently expired holds with a task upstream
        // (``LedgerStore/expiredHoldsToRecheck(resolvedSince:)``): found by index, not by reading
        // every expired hold the ledger has ever had.
        migrator.registerMigration("v11-expired-recheck") { db in
            try db.execute(sql: """
                CREATE INDEX hold_expired_task ON hold(resolvedAt) WHERE state = 'expired' AND upstreamTaskID IS NOT NULL;
                """)
        }
        return migrator
    }
}

import PostgresNIO
import VideoMeterLedger

extension PostgresLedger {
    /// Recomputes every balance from the journal and checks every invariant (``LedgerAudit``), in
    /// one REPEATABLE READ snapshot: the same checks, in the same words, as the SQLite ledger's.
    public func verify() async throws -> VerifyReport {
        try await read { connection in
            var audit = LedgerAudit()
            let entries = try await connection.query("""
                SELECT id, kind, teamID, holdID, amountMicro, releasedMicro, periodMonth, periodDay, monthlyLimitMicro,
                    dailyLimitMicro, creditLimitMicro, createdAt
                FROM journalEntry ORDER BY id
                """, logger: self.logger)
            for try await entry in entries {
                let row = Cells(row: entry.makeRandomAccess())
                audit.journal(LedgerAudit.JournalRow(
                    id: try row.int64(0), kind: try row.string(1), teamID: try row.int64(2), holdID: try row.optionalInt64(3),
                    amountMicro: try row.int64(4), releasedMicro: try row.int64(5), periodMonth: try row.optionalString(6),
                    periodDay: try row.optionalString(7), monthlyLimitMicro: try row.optionalInt64(8),
                    dailyLimitMicro: try row.optionalInt64(9), creditLimitMicro: try row.optionalInt64(10), createdAt: try row.int64(11)))
            }
            let balances = try await connection.all(
                "SELECT teamID, scope, periodKey, postedMicro, pendingMicro FROM balance", self.logger
            ).map { row in
                LedgerAudit.BalanceRow(
                    teamID: try row.int64(0), scope: try row.string(1), periodKey: try row.string(2), postedMicro: try row.int64(3),
                    pendingMicro: try row.int64(4))
            }
            let usage = try await connection.all(
                "SELECT holdID, teamID, heldMicro, chargedMicro, outcome FROM usageEvent", self.logger
            ).map { row in
                LedgerAudit.UsageRow(
                    holdID: try row.int64(0), teamID: try row.int64(1), heldMicro: try row.int64(2), chargedMicro: try row.int64(3),
                    outcome: try row.string(4))
            }
            var zones: [Int64: String] = [:]
            for row in try await connection.all("SELECT id, timeZone FROM team", self.logger) { zones[try row.int64(0)] = try row.string(1) }
            let holds = try await connection.all("""
                SELECT id, teamID, amountMicro, postedMicro, state, periodMonth, periodDay, countsAgainstCredit FROM hold
                """, self.logger).map { row in
                LedgerAudit.HoldRow(
                    id: try row.int64(0), teamID: try row.int64(1), amountMicro: try row.int64(2), postedMicro: try row.int64(3),
                    state: try row.string(4), periodMonth: try row.string(5), periodDay: try row.string(6),
                    countsAgainstCredit: try row.bool(7))
            }
            let budgets = try await connection.all("SELECT teamID, creditMicro FROM budget", self.logger).map { row in
                LedgerAudit.BudgetRow(teamID: try row.int64(0), creditMicro: try row.optionalInt64(1))
            }
            let alerts = try await connection.all("""
                SELECT id, teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro FROM alert
                """, self.logger).map { row in
                LedgerAudit.AlertRow(
                    id: try row.int64(0), teamID: try row.int64(1), periodMonth: try row.string(2), kind: try row.string(3),
                    thresholdPercent: try row.int64(4), limitMicro: try row.int64(5), spentMicro: try row.int64(6),
                    projectedMicro: try row.optionalInt64(7))
            }
            return audit.report(balances: balances, holds: holds, usageEvents: usage, teamZones: zones, budgets: budgets, alerts: alerts)
        }
    }
}

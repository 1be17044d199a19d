import Foundation
import GRDB
import VideoMeter

/// What ``Ledger/verify()`` found: counts, and one sentence per problem (empty when consistent).
public struct VerifyReport: Sendable, Equatable {
    public var journalEntries: Int
    public var holds: Int
    public var usageEvents: Int
    public var problems: [String]

    public init(
        journalEntries: Int, holds: Int, usageEvents: Int, problems: [String]
    ) {
        self.journalEntries = journalEntries
        self.holds = holds
        self.usageEvents = usageEvents
        self.problems = problems
    }

    public var isConsistent: Bool { problems.isEmpty }
}

extension Ledger {
    /// Recomputes every balance from the journal and checks every invariant, in one read snapshot:
    ///
    /// - each hold has exactly one `hold` entry and at most one resolving entry, after it;
    /// - a post is for at most the held amount, and posted + released equals the held amount;
    /// - replaying the journal in order, every hold fit every limit recorded with it at grant time
    ///   (monthly, daily, and the credit, which must equal the credit added so far);
    /// - the `balance` rows equal the sums recomputed from the journal (posted and pending, per
    ///   team and month, day and credit);
    /// - each hold row's team, periods, credit flag, state and posted amount match its journal
    ///   entries, and its periods are the month and day of its grant in the team's time zone;
    /// - a hold is resolved by an entry of the team that was granted it;
    /// - each resolved hold has exactly one usage event, of the same team, with the same held and
    ///   charged amounts and outcome; a pending hold has none;
    /// - each budget's credit equals the sum of its `credit` entries;
    /// - each threshold alert's spent amount reached its threshold of its limit; each
    ///   `projected_overrun` alert's projection passed the limit.
    public func verify() async throws -> VerifyReport {
        try await read { db in try Self.verify(db) }
    }

    static func verify(_ db: Database) throws -> VerifyReport {
        var audit = LedgerAudit()
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM journalEntry ORDER BY id")
        while let row = try cursor.next() {
            audit.journal(LedgerAudit.JournalRow(
                id: row["id"], kind: row["kind"], teamID: row["teamID"], holdID: row["holdID"], amountMicro: row["amountMicro"],
                releasedMicro: row["releasedMicro"], periodMonth: row["periodMonth"], periodDay: row["periodDay"],
                monthlyLimitMicro: row["monthlyLimitMicro"], dailyLimitMicro: row["dailyLimitMicro"],
                creditLimitMicro: row["creditLimitMicro"], createdAt: row["createdAt"]))
        }
        let balances = try Row.fetchAll(db, sql: "SELECT * FROM balance").map {
            LedgerAudit.BalanceRow(
                teamID: $0["teamID"], scope: $0["scope"], periodKey: $0["periodKey"], postedMicro: $0["postedMicro"],
                pendingMicro: $0["pendingMicro"])
        }
        let usage = try Row.fetchAll(db, sql: "SELECT holdID, teamID, heldMicro, chargedMicro, outcome FROM usageEvent").map {
            LedgerAudit.UsageRow(
                holdID: $0["holdID"], teamID: $0["teamID"], heldMicro: $0["heldMicro"], chargedMicro: $0["chargedMicro"],
                outcome: $0["outcome"])
        }
        var zones: [Int64: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, timeZone FROM team") { zones[row["id"]] = row["timeZone"] }
        let holds = try Row.fetchAll(db, sql: """
            SELECT id, teamID, amountMicro, postedMicro, state, periodMonth, periodDay, countsAgainstCredit FROM hold
            """).map {
            LedgerAudit.HoldRow(
                id: $0["id"], teamID: $0["teamID"], amountMicro: $0["amountMicro"], postedMicro: $0["postedMicro"], state: $0["state"],
                periodMonth: $0["periodMonth"], periodDay: $0["periodDay"], countsAgainstCredit: $0["countsAgainstCredit"])
        }
        let budgets = try Row.fetchAll(db, sql: "SELECT teamID, creditMicro FROM budget").map {
            LedgerAudit.BudgetRow(teamID: $0["teamID"], creditMicro: $0["creditMicro"])
        }
        let alerts = try Row.fetchAll(
            db, sql: "SELECT id, teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro FROM alert"
        ).map {
            LedgerAudit.AlertRow(
                id: $0["id"], teamID: $0["teamID"], periodMonth: $0["periodMonth"], kind: $0["kind"],
                thresholdPercent: $0["thresholdPercent"], limitMicro: $0["limitMicro"], spentMicro: $0["spentMicro"],
                projectedMicro: $0["projectedMicro"])
        }
        return audit.report(balances: balances, holds: holds, usageEvents: usage, teamZones: zones, budgets: budgets, alerts: alerts)
    }
}

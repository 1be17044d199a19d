import Foundation
import GRDB
import VideoMeter

extension Ledger {
    public func monthlyUsage(_ request: MonthlyUsageRequest, detail: (@Sendable (UsageDetailRow) throws -> Void)?) async throws -> MonthlyUsage {
        try await read { db in try ReportQueries.monthlyUsage(db, request, detail: detail) }
    }

    public func chargedCalls(_ selection: UsageSelection, team: String?) async throws -> [ChargedCalls] {
        try await read { db in try ReportQueries.chargedCalls(db, selection, team: team) }
    }

    /// Every SQL statement ``monthlyUsage(_:detail:)`` runs for `request`, with the arguments
    /// written in as literals, in the order it runs them: what the benchmark hands to the `sqlite3`
    /// shell as its baseline.
    public func reportSQL(_ request: MonthlyUsageRequest) async throws -> [String] {
        try await read { db in
            var statements = [ReportQueries.inline(ReportQueries.teamsSQL, [request.team.databaseValue, request.team.databaseValue])]
            for group in try ReportQueries.plans(db, request) {
                statements += ReportQueries.statements(group).map { ReportQueries.inline($0.sql, $0.arguments) }
            }
            return statements
        }
    }

    /// Indexes in the order of the report's groups, so that SQLite streams a month's groups from the
    /// index instead of reading every row and sorting it. Migration `v3-report-indexes` creates
    /// them; the benchmark and the tests drop and recreate them to measure and check the difference.
    public static let reportStreamingIndexesSQL = """
        CREATE INDEX IF NOT EXISTS usageEvent_report ON usageEvent(teamID, periodMonth, periodDay, provider, model,
            resolution, status, catalogVersion, outcome, chargedMicro, upstreamCostMicro, billedSeconds, seconds);
        CREATE INDEX IF NOT EXISTS usageEvent_report_caller ON usageEvent(teamID, periodMonth, caller, chargedMicro);
        CREATE INDEX IF NOT EXISTS journalEntry_report ON journalEntry(teamID, periodMonth, kind, amountMicro);
        """
}

extension LedgerSnapshot: LedgerReporting {
    public func monthlyUsage(_ request: MonthlyUsageRequest, detail: (@Sendable (UsageDetailRow) throws -> Void)?) async throws -> MonthlyUsage {
        try await reader.read { db in try ReportQueries.monthlyUsage(db, request, detail: detail) }
    }

    public func chargedCalls(_ selection: UsageSelection, team: String?) async throws -> [ChargedCalls] {
        try await reader.read { db in try ReportQueries.chargedCalls(db, selection, team: team) }
    }
}

/// The SQLite ledger's report queries: SQLite groups and sums the usage events; Swift only merges
/// grouped rows. Each runs inside its caller's read transaction (one snapshot).
enum ReportQueries {
    /// A group of ``MonthlyUsage`` and how its statements select rows.
    struct Plan {
        var group: MonthlyUsage.Group
        /// The ledger has ``Ledger/reportStreamingIndexesSQL``: select by the stamps alone, which
        /// those indexes stream. Without them the stamp-selected statements also bound the grant
        /// instants (the month's instants widened by 26 hours, more than any two zones differ),
        /// so SQLite reads the month through `(teamID, createdAt)` rather than each team's history.
        var streams: Bool
        var period: LocalMonth { group.period }
        var usesLedgerPeriods: Bool { group.byLedgerStamps }
        var placeholders: String { Array(repeating: "?", count: group.teams.count).joined(separator: ",") }
    }

    /// The teams of the report (one by name, or all when the name is NULL) and their budgets.
    static let teamsSQL = """
        SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro, b.alertThresholds
        FROM team t LEFT JOIN budget b ON b.teamID = t.id
        WHERE ? IS NULL OR t.name = ?
        ORDER BY t.name
        """

    static func plans(_ db: Database, _ request: MonthlyUsageRequest) throws -> [Plan] {
        let teams = try Row.fetchAll(db, sql: teamsSQL, arguments: [request.team, request.team]).map { row in
            MonthlyUsage.TeamBudget(
                id: row["id"], name: row["name"], timeZone: row["timeZone"], monthlyLimitMicro: row["monthlyLimitMicro"],
                dailyLimitMicro: row["dailyLimitMicro"], creditMicro: row["creditMicro"],
                thresholds: MonthlyUsage.thresholds(row["alertThresholds"]))
        }
        if let team = request.team, teams.isEmpty { throw LedgerError.unknownTeam(team) }
        let streams = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM sqlite_master
            WHERE type = 'index' AND name IN ('usageEvent_report', 'usageEvent_report_caller', 'journalEntry_report')
            """) == 3
        return MonthlyUsage.groups(teams, request).map { Plan(group: $0, streams: streams) }
    }

    static func monthlyUsage(_ db: Database, _ request: MonthlyUsageRequest, detail: ((UsageDetailRow) throws -> Void)?) throws -> MonthlyUsage {
        let plans = try plans(db, request)
        var groups: [MonthlyUsage.Group] = []
        for plan in plans {
            groups.append(try read(db, plan))
        }
        if let detail {
            for plan in plans { try usageDetail(db, plan, detail) }
        }
        return MonthlyUsage(groups: groups)
    }

    /// The SQL expression giving the local day (0-based) of `column`; plain division when every day
    /// of the month is 24 hours long, a search over the day boundaries when daylight saving time
    /// makes one 23 or 25 hours.
    static func dayExpression(_ column: String, _ period: LocalMonth) -> String {
        if period.days.allSatisfy({ $0.end - $0.start == 86_400 }) {
            return "((\(column) - \(period.start * 1000)) / 86400000)"
        }
        let branches = period.days.dropLast().enumerated().map { index, day in
            "WHEN \(column) < \(day.end * 1000) THEN \(index)"
        }
        return "(CASE \(branches.joined(separator: " ")) ELSE \(period.days.count - 1) END)"
    }

    /// The main aggregate: usage grouped by team, local day, provider, model, resolution, status,
    /// catalog version and outcome. Without a zone the grouping columns come in the order of the
    /// ledger's stamps (`teamID, periodMonth, periodDay, ...`), so that an index in that order can
    /// stream the groups instead of sorting a month of rows. (With a zone, ``UsageFold`` reads the
    /// month instead; this statement is what the benchmark compares it with.)
    static func usageAggregateSQL(_ plan: Plan) -> String {
        if plan.usesLedgerPeriods {
            return """
                SELECT teamID, provider, model, resolution, status, catalogVersion, outcome, periodDay AS day,
                    COUNT(*) AS requests, SUM(COALESCE(billedSeconds, seconds)) AS seconds,
                    SUM(chargedMicro) AS charged, SUM(upstreamCostMicro) AS upstreamCost
                FROM usageEvent
                WHERE teamID IN (\(plan.placeholders)) AND \(selection(plan))
                GROUP BY teamID, periodDay, provider, model, resolution, status, catalogVersion, outcome
                """
        }
        return """
            SELECT teamID, provider, model, resolution, status, catalogVersion, outcome, \(dayExpression("createdAt", plan.period)) AS day,
                COUNT(*) AS requests, SUM(COALESCE(billedSeconds, seconds)) AS seconds,
                SUM(chargedMicro) AS charged, SUM(upstreamCostMicro) AS upstreamCost
            FROM usageEvent
            WHERE teamID IN (\(plan.placeholders)) AND createdAt >= ? AND createdAt < ?
            GROUP BY teamID, provider, model, resolution, status, catalogVersion, outcome, day
            """
    }

    /// How the statements select a group's period, for the table `alias` (`+` before each column
    /// keeps SQLite off the column's indexes): the ledger's month stamp, bounded by the grant
    /// instants unless the ledger has the streaming indexes; with a zone, the instants alone.
    static func selection(_ plan: Plan, _ alias: String = "", unindexed: Bool = false) -> String {
        let column = { (name: String) in (unindexed ? "+" : "") + (alias.isEmpty ? "" : alias + ".") + name }
        let instants = "\(column("createdAt")) >= ? AND \(column("createdAt")) < ?"
        guard plan.usesLedgerPeriods else { return instants }
        return plan.streams ? "\(column("periodMonth")) = ?" : "\(column("periodMonth")) = ? AND \(instants)"
    }

    /// How far the instants of a team's month can lie outside those of the group's zone: more than
    /// the 26 hours between UTC-12 and UTC+14.
    static let stampMarginMilliseconds: Int64 = 26 * 3_600_000 + 1

    /// The arguments of ``selection(_:_:unindexed:)`` after the team ids.
    static func periodValues(_ plan: Plan) -> [DatabaseValue] {
        let month = plan.period.text.databaseValue
        let instants = plan.usesLedgerPeriods
            ? [plan.period.startMilliseconds - stampMarginMilliseconds, plan.period.endMilliseconds + stampMarginMilliseconds]
            : [plan.period.startMilliseconds, plan.period.endMilliseconds]
        let values = !plan.usesLedgerPeriods ? instants.map(\.databaseValue)
            : plan.streams ? [month] : [month] + instants.map(\.databaseValue)
        return plan.group.teamIDs.map(\.databaseValue) + values
    }

    /// The arguments of the statements over the budget month: team ids, `YYYY-MM`.
    static func monthValues(_ plan: Plan) -> [DatabaseValue] {
        plan.group.teamIDs.map(\.databaseValue) + [plan.period.text.databaseValue]
    }

    /// The ledger's own charged figure, independent of the usage events the lines come from: the
    /// posted journal entries of the holds granted in the period.
    static func ledgerTotalSQL(_ plan: Plan) -> String {
        if !plan.usesLedgerPeriods {
            // By grant instant: the posted amounts the holds record (each set in the transaction
            // that journals its post; `verify` checks the two agree), read from the covering
            // index `hold_team_created_posted` (v8) rather than joining a million journal entries.
            return """
                SELECT teamID, SUM(postedMicro)
                FROM hold
                WHERE teamID IN (\(plan.placeholders)) AND createdAt >= ? AND createdAt < ?
                GROUP BY teamID
                """
        }
        if plan.streams {
            return """
                SELECT teamID, SUM(amountMicro)
                FROM journalEntry
                WHERE teamID IN (\(plan.placeholders)) AND periodMonth = ? AND kind = 'post'
                GROUP BY teamID
                """
        }
        return """
            SELECT h.teamID, SUM(j.amountMicro)
            FROM hold h JOIN journalEntry j ON j.holdID = h.id AND j.kind IN ('post', 'void', 'expire')
            WHERE h.teamID IN (\(plan.placeholders)) AND \(selection(plan, "h"))
                AND h.state = 'posted' AND j.kind = 'post'
            GROUP BY h.teamID
            """
    }

    /// Spend per caller (the label the hold recorded: a gateway key's label, `generate --caller`).
    static func callersSQL(_ plan: Plan) -> String {
        """
        SELECT teamID, caller, COUNT(*), SUM(chargedMicro)
        FROM usageEvent
        WHERE teamID IN (\(plan.placeholders)) AND \(selection(plan))
        GROUP BY teamID, caller
        """
    }

    /// Per team and seller, the costs the seller reported (v5), beside the computed upstream cost of
    /// the charged calls. Read from the partial index of usage events that carry a reported cost.
    static func sellerCostsSQL(_ plan: Plan) -> String {
        """
        SELECT teamID, provider, COUNT(*),
            SUM(CASE WHEN outcome = 'posted' THEN 0 ELSE sellerCostTicks END),
            SUM(CASE WHEN outcome = 'posted' THEN sellerCostTicks ELSE 0 END),
            SUM(CASE WHEN outcome = 'posted' THEN upstreamCostMicro ELSE 0 END)
        FROM usageEvent INDEXED BY usageEvent_seller_cost
        WHERE sellerCostTicks IS NOT NULL AND teamID IN (\(plan.placeholders)) AND \(selection(plan))
        GROUP BY teamID, provider
        """
    }

    /// Holds still pending that were granted in the period. `+` keeps SQLite on the small partial
    /// index of pending holds.
    static func openHoldsSQL(_ plan: Plan) -> String {
        """
        SELECT id, teamID, idempotencyKey, provider, model, resolution, catalogVersion, amountMicro, createdAt,
            callStatus, upstreamTaskID, periodDay
        FROM hold
        WHERE state = 'pending' AND +teamID IN (\(plan.placeholders))
            AND \(selection(plan, unindexed: true))
        ORDER BY createdAt, id
        """
    }

    /// Late successes of holds granted in the period. `CROSS JOIN` keeps the (small) lateSuccess
    /// table outside: SQLite would otherwise walk every hold of the month to find none.
    static func lateSuccessSQL(_ plan: Plan) -> String {
        """
        SELECT l.holdID, l.teamID, h.idempotencyKey, h.provider, h.model, l.amountMicro, h.createdAt
        FROM lateSuccess l CROSS JOIN hold h ON h.id = l.holdID
        WHERE l.teamID IN (\(plan.placeholders))
            AND \(selection(plan, "h"))
        ORDER BY h.createdAt, l.holdID
        """
    }

    /// Alerts and budget use of each team's own budget month (its time zone, as the ledger counts
    /// them), whatever zone the usage is reported in.
    static func alertsSQL(_ plan: Plan) -> String {
        """
        SELECT teamID, thresholdPercent, createdAt, spentMicro FROM alert
        WHERE teamID IN (\(plan.placeholders)) AND periodMonth = ? AND kind = 'threshold'
        ORDER BY thresholdPercent, teamID
        """
    }

    static func budgetBalanceSQL(_ plan: Plan) -> String {
        """
        SELECT teamID, postedMicro, pendingMicro FROM balance
        WHERE teamID IN (\(plan.placeholders)) AND scope = 'month' AND periodKey = ?
        """
    }

    /// Every statement one group runs, with its arguments.
    static func statements(_ plan: Plan) -> [(sql: String, arguments: [DatabaseValue])] {
        let period = periodValues(plan)
        let month = monthValues(plan)
        return [
            (usageAggregateSQL(plan), period), (ledgerTotalSQL(plan), period), (callersSQL(plan), period),
            (openHoldsSQL(plan), period), (lateSuccessSQL(plan), period), (alertsSQL(plan), month),
            (budgetBalanceSQL(plan), month), (sellerCostsSQL(plan), period),
        ]
    }

    static func read(_ db: Database, _ plan: Plan) throws -> MonthlyUsage.Group {
        var group = plan.group
        let period = plan.period
        let window = StatementArguments(periodValues(plan))
        let monthArguments = StatementArguments(monthValues(plan))
        if plan.usesLedgerPeriods {
            group.usage = try Row.fetchAll(db, sql: usageAggregateSQL(plan), arguments: window).map { row in
                MonthlyUsage.Usage(
                    teamID: row[0], provider: row[1], model: row[2], resolution: row[3], status: row[4], catalogVersion: row[5],
                    outcome: row[6], day: period.dayIndex(date: row[7]), requests: row[8], seconds: row[9],
                    chargedMicro: row[10], upstreamCostMicro: row[11])
            }
            group.callers = try Row.fetchAll(db, sql: callersSQL(plan), arguments: window).map { row in
                MonthlyUsage.CallerUsage(teamID: row[0], caller: row[1], requests: row[2], chargedMicro: row[3])
            }
        } else {
            // Another zone's days: one pass over the month in time order (UsageFold) instead of
            // SQL sorting a month of rows by an expression of their instant.
            let fold = try UsageFold.run(
                db, teamIDs: group.teamIDs, start: period.startMilliseconds, end: period.endMilliseconds,
                dayEnds: period.days.map { $0.end * 1000 })
            group.usage = fold.usage.map { key, sums in
                MonthlyUsage.Usage(
                    teamID: key.teamID, provider: key.provider, model: key.model, resolution: key.resolution, status: key.status,
                    catalogVersion: key.catalogVersion, outcome: key.outcome, day: key.day, requests: sums.requests,
                    seconds: sums.seconds, chargedMicro: sums.chargedMicro, upstreamCostMicro: sums.upstreamCostMicro)
            }
            group.callers = fold.callers.map { key, sums in
                MonthlyUsage.CallerUsage(teamID: key.teamID, caller: key.caller, requests: sums.requests, chargedMicro: sums.chargedMicro)
            }
        }
        group.ledgerChargedMicro = try Row.fetchAll(db, sql: ledgerTotalSQL(plan), arguments: window)
            .reduce(into: [Int64: MicroUSD]()) { $0[$1[0]] = $1[1] }
        group.sellerCosts = try Row.fetchAll(db, sql: sellerCostsSQL(plan), arguments: window).map { row in
            MonthlyUsage.SellerCosts(
                teamID: row[0], provider: row[1], calls: row[2], absorbedTicks: row[3], reportedChargedTicks: row[4],
                computedChargedMicro: row[5])
        }
        group.openHolds = try Row.fetchAll(db, sql: openHoldsSQL(plan), arguments: window).map { row in
            let createdAt: Int64 = row[8]
            return MonthlyUsage.OpenHold(
                holdID: row[0], teamID: row[1], idempotencyKey: row[2], provider: row[3], model: row[4], resolution: row[5],
                catalogVersion: row[6], amountMicro: row[7], createdAt: createdAt, callStatus: row[9], upstreamTaskID: row[10],
                day: plan.usesLedgerPeriods ? period.dayIndex(date: row[11]) : period.dayIndex(of: createdAt / 1000) ?? 0)
        }
        group.lateSuccesses = try Row.fetchAll(db, sql: lateSuccessSQL(plan), arguments: window).map { row in
            MonthlyUsage.LateSuccessItem(
                holdID: row[0], teamID: row[1], idempotencyKey: row[2], provider: row[3], model: row[4], amountMicro: row[5],
                createdAt: row[6])
        }
        group.alerts = try Row.fetchAll(db, sql: alertsSQL(plan), arguments: monthArguments).map { row in
            MonthlyUsage.ThresholdAlert(teamID: row[0], thresholdPercent: row[1], createdAt: row[2], spentMicro: row[3])
        }
        group.balances = try Row.fetchAll(db, sql: budgetBalanceSQL(plan), arguments: monthArguments)
            .reduce(into: [Int64: MonthlyUsage.MonthBalance]()) { $0[$1[0]] = MonthlyUsage.MonthBalance(postedMicro: $1[1], pendingMicro: $1[2]) }
        return group
    }

    /// Streams the usage events of `plan`, oldest first, to `write`.
    static func usageDetail(_ db: Database, _ plan: Plan, _ write: (UsageDetailRow) throws -> Void) throws {
        let period = plan.period
        let names = Dictionary(uniqueKeysWithValues: plan.group.teams.map { ($0.id, $0.name) })
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT u.id, u.holdID, u.teamID, u.createdAt, u.finishedAt, u.caller, u.idempotencyKey,
                u.provider, u.model, u.resolution, u.seconds, u.billedSeconds, u.status, u.outcome, u.heldMicro,
                u.chargedMicro, u.upstreamCostMicro, u.marginMicro, u.catalogVersion, u.latencyMs,
                u.upstreamTaskID, u.upstreamRequestID, u.periodDay
            FROM usageEvent u
            WHERE u.teamID IN (\(plan.placeholders))
                AND \(selection(plan, "u"))
            ORDER BY u.createdAt, u.id
            """, arguments: StatementArguments(periodValues(plan)))
        while let row = try cursor.next() {
            let createdAt: Int64 = row[3]
            try write(UsageDetailRow(
                id: row[0], holdID: row[1], teamID: row[2], team: names[row[2]] ?? "", createdAt: createdAt, finishedAt: row[4],
                localDate: plan.usesLedgerPeriods ? row[22] : period.dayIndex(of: createdAt / 1000).map { period.days[$0].date } ?? "",
                caller: row[5], idempotencyKey: row[6], provider: row[7], model: row[8], resolution: row[9], seconds: row[10],
                billedSeconds: row[11], status: row[12], outcome: row[13], heldMicro: row[14], chargedMicro: row[15],
                upstreamCostMicro: row[16], marginMicro: row[17], catalogVersion: row[18], latencyMs: row[19],
                upstreamTaskID: row[20], upstreamRequestID: row[21]))
        }
    }

    /// The charged calls of `selection`, grouped by what prices them.
    static func chargedCalls(_ db: Database, _ selection: UsageSelection, team: String?) throws -> [ChargedCalls] {
        var teamID: Int64?
        if let team { teamID = try Ledger.team(named: team, db).id }
        let names = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, name FROM team").map { ($0[0] as Int64, $0[1] as String) })
        let sql: String
        let arguments: StatementArguments
        switch selection {
        case .budgetMonth(let month):
            // Streams from usageEvent_reprice (v6): month, outcome, team and the grouping columns.
            sql = """
                SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                    COUNT(*), SUM(chargedMicro)
                FROM usageEvent INDEXED BY usageEvent_reprice
                WHERE periodMonth = ?1 AND outcome = 'posted' AND (?2 IS NULL OR teamID = ?2)
                GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                """
            arguments = [month, teamID]
        case .instants(let start, let end):
            sql = """
                SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                    COUNT(*), SUM(chargedMicro)
                FROM usageEvent
                WHERE createdAt >= ?1 AND createdAt < ?2 AND outcome = 'posted' AND (?3 IS NULL OR teamID = ?3)
                GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                """
            arguments = [start, end, teamID]
        }
        var groups: [(teamID: Int64, calls: ChargedCalls)] = []
        let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        while let row = try rows.next() {
            let id: Int64 = row[0]
            groups.append((id, ChargedCalls(
                team: names[id] ?? "#\(id)", provider: row[1], model: row[2], resolution: row[3], seconds: row[6] ?? row[7],
                imageCount: row[4], catalogVersion: row[5], calls: row[8], chargedMicro: row[9])))
        }
        return ChargedCalls.merged(groups)
    }

    /// `sql` with each `?` replaced by the next argument as an SQL literal.
    static func inline(_ sql: String, _ arguments: [DatabaseValue]) -> String {
        var remaining = arguments[...]
        var text = ""
        for character in sql {
            guard character == "?", let value = remaining.popFirst() else {
                text.append(character)
                continue
            }
            switch value.storage {
            case .null: text += "NULL"
            case .int64(let number): text += String(number)
            case .double(let number): text += "\(number)"
            case .string(let string): text += "'" + string.replacingOccurrences(of: "'", with: "''") + "'"
            case .blob: preconditionFailure("the report binds no blobs")
            }
        }
        precondition(remaining.isEmpty, "more arguments than placeholders")
        return text
    }
}

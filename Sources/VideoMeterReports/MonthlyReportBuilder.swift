import Foundation
import GRDB
import VideoMeter
import VideoMeterLedger

/// Builds monthly reports from a ledger database with aggregate SQL queries: SQLite groups and
/// sums the usage events; Swift only merges the grouped rows into report sections.
///
/// A call counts in the month in which its hold was granted (`usageEvent.createdAt`), in the team's
/// time zone unless another is given — the rule the ledger's budgets use — so a team's charged total
/// equals the ledger's posted total for the same period. The builder checks that against the
/// journal (``TeamReport/ledgerChargedMicro``) on every run.
///
/// Every query of one report (and of its `--detail` rows) runs in one read transaction, so the
/// report is a consistent snapshot of a live ledger: a hold settling meanwhile is either wholly in
/// it or wholly out. The builder never writes.
public struct MonthlyReportBuilder: Sendable {
    /// The ledger database (read only).
    public let reader: any DatabaseReader
    /// How many callers each team's "top callers" table keeps.
    public var topCallerLimit = 10
    /// The display scale and rounding rule of each price list, for the invoice statements. Price
    /// lists missing here are invoiced at ``InvoiceRounding/fallback`` and the invoice says so.
    public var invoiceRoundings: InvoiceRoundings
    /// Stamps a report's generation time.
    public let clock: any WallClock

    /// Reads `reader`, a ledger database migrated by ``Ledger``.
    public init(reader: any DatabaseReader, invoiceRoundings: InvoiceRoundings = InvoiceRoundings(), clock: any WallClock = SystemWallClock()) {
        self.reader = reader
        self.invoiceRoundings = invoiceRoundings
        self.clock = clock
    }

    /// Reads `writer`, a ledger database migrated by ``Ledger`` (the reports never write to it).
    public init(writer: any DatabaseWriter, invoiceRoundings: InvoiceRoundings = InvoiceRoundings(), clock: any WallClock = SystemWallClock()) throws {
        self.init(reader: writer, invoiceRoundings: invoiceRoundings, clock: clock)
    }

    /// Reads `ledger`'s database, on the ledger's clock.
    public init(ledger: Ledger, invoiceRoundings: InvoiceRoundings = InvoiceRoundings()) throws {
        self.init(reader: ledger.writer, invoiceRoundings: invoiceRoundings, clock: ledger.clock)
    }

    /// A team as the report needs it.
    struct TeamRow: Sendable {
        var id: Int64
        var name: String
        var timeZone: String
        var limits: (monthly: MicroUSD, daily: MicroUSD?, credit: MicroUSD?, thresholds: [Int])?
    }

    /// Teams whose month starts and ends at the same instants, queried together.
    struct PeriodGroup: Sendable {
        var period: ReportPeriod
        /// The zone as the team or `--timezone` names it (Foundation calls UTC "GMT").
        var zoneName: String
        var teams: [TeamRow]
        /// `true` without `--timezone`: the teams' own months, as the ledger stamped every hold, usage
        /// event and journal entry (`periodMonth`, `periodDay`), select the rows; with `--timezone`,
        /// the period's instants do (`createdAt`), and the local day is computed in SQL.
        var usesLedgerPeriods: Bool
        /// The ledger has ``MonthlyReportBuilder/streamingIndexesSQL``: select by the stamps alone,
        /// which those indexes stream. Without them the stamp-selected statements also bound the
        /// grant instants (the month's instants widened by 26 hours, more than any two zones differ),
        /// so SQLite reads the month through `(teamID, createdAt)` rather than each team's history.
        var streams: Bool
        var startMilliseconds: Int64 { period.start * 1000 }
        var endMilliseconds: Int64 { period.end * 1000 }
        var teamIDs: [Int64] { teams.map(\.id) }
        var placeholders: String { Array(repeating: "?", count: teams.count).joined(separator: ",") }
    }

    /// Builds the report for `month`, for one team or (when `team` is nil) for every team.
    ///
    /// - Parameters:
    ///   - timeZone: an IANA identifier to use for every team instead of each team's own zone.
    ///   - now: stamped on the report as its generation time (the builder's clock unless given).
    ///   - detail: when given, receives the per-call usage CSV (``writeUsageDetail(month:team:timeZone:_:)``)
    ///     in chunks, read in the same transaction as the report.
    /// - Throws: ``ReportError`` `unknown_team`, `invalid_time_zone`.
    public func build(
        month: ReportMonth, team: String? = nil, timeZone: String? = nil, now: Date? = nil,
        detail: (@Sendable (String) throws -> Void)? = nil
    ) async throws -> MonthlyReport {
        let override = try timeZone.map { identifier throws(ReportError) in try ReportPeriod.timeZone(named: identifier) }
        let roundings = invoiceRoundings
        let limit = topCallerLimit
        let generatedAt = Int64((now ?? clock.now()).timeIntervalSince1970.rounded(.down))
        var sections = try await reader.read { db in
            let groups = try Self.periodGroups(db, month: month, team: team, override: override, overrideName: timeZone)
            var sections: [TeamReport] = []
            for group in groups {
                sections += try Self.sections(
                    db, group, roundings: roundings, topCallerLimit: limit, overridden: timeZone != nil, now: generatedAt)
            }
            if let detail { try Self.writeUsageDetail(db, groups, detail) }
            return sections
        }
        sections.sort { $0.team < $1.team }
        return MonthlyReport(
            month: month, timeZoneOverride: timeZone, generatedAt: generatedAt,
            teams: sections, topCallerLimit: topCallerLimit
        )
    }

    /// The teams of the report (one by name, or all when the name is NULL) and their budgets.
    static let teamsSQL = """
        SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro, b.alertThresholds
        FROM team t LEFT JOIN budget b ON b.teamID = t.id
        WHERE ? IS NULL OR t.name = ?
        ORDER BY t.name
        """

    static func periodGroups(_ db: Database, month: ReportMonth, team: String?, override: TimeZone?, overrideName: String?) throws -> [PeriodGroup] {
        let teams = try Row.fetchAll(db, sql: teamsSQL, arguments: [team, team])
        .map { row in
            let limit: MicroUSD? = row["monthlyLimitMicro"]
            let thresholds: String = row["alertThresholds"] ?? ""
            return TeamRow(
                id: row["id"], name: row["name"], timeZone: row["timeZone"],
                limits: limit.map {
                    ($0, row["dailyLimitMicro"], row["creditMicro"],
                     thresholds.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
                }
            )
        }
        if let team, teams.isEmpty { throw ReportError.unknownTeam(team) }
        let streams = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM sqlite_master
            WHERE type = 'index' AND name IN ('usageEvent_report', 'usageEvent_report_caller', 'journalEntry_report')
            """) == 3
        var groups: [String: PeriodGroup] = [:]
        var order: [String] = []
        for row in teams {
            let zone = override ?? TimeZone(identifier: row.timeZone) ?? TimeZone(identifier: "UTC")!
            let zoneName = overrideName ?? row.timeZone
            let period = ReportPeriod(month: month, timeZone: zone)
            let key = "\(period.start)-\(period.end)-\(zoneName)"
            if groups[key] == nil {
                groups[key] = PeriodGroup(period: period, zoneName: zoneName, teams: [], usesLedgerPeriods: override == nil, streams: streams)
                order.append(key)
            }
            groups[key]!.teams.append(row)
        }
        return order.map { groups[$0]! }
    }

    /// The SQL expression giving the local day (0-based) of `column`; plain division when every day
    /// of the month is 24 hours long, a search over the day boundaries when daylight saving time
    /// makes one 23 or 25 hours.
    static func dayExpression(_ column: String, _ period: ReportPeriod) -> String {
        if period.days.allSatisfy({ $0.end - $0.start == 86_400 }) {
            return "((\(column) - \(period.start * 1000)) / 86400000)"
        }
        let branches = period.days.dropLast().enumerated().map { index, day in
            "WHEN \(column) < \(day.end * 1000) THEN \(index)"
        }
        return "(CASE \(branches.joined(separator: " ")) ELSE \(period.days.count - 1) END)"
    }

    /// The main aggregate: usage grouped by team, local day, provider, model, resolution, status,
    /// catalog version and outcome. Without `--timezone` the grouping columns come in the order of
    /// the ledger's stamps (`teamID, periodMonth, periodDay, ...`), so that an index in that order
    /// can stream the groups instead of sorting a month of rows.
    static func usageAggregateSQL(_ group: PeriodGroup) -> String {
        if group.usesLedgerPeriods {
            return """
                SELECT teamID, provider, model, resolution, status, catalogVersion, outcome, periodDay AS day,
                    COUNT(*) AS requests, SUM(COALESCE(billedSeconds, seconds)) AS seconds,
                    SUM(chargedMicro) AS charged, SUM(upstreamCostMicro) AS upstreamCost
                FROM usageEvent
                WHERE teamID IN (\(group.placeholders)) AND \(selection(group))
                GROUP BY teamID, periodDay, provider, model, resolution, status, catalogVersion, outcome
                """
        }
        return """
            SELECT teamID, provider, model, resolution, status, catalogVersion, outcome, \(dayExpression("createdAt", group.period)) AS day,
                COUNT(*) AS requests, SUM(COALESCE(billedSeconds, seconds)) AS seconds,
                SUM(chargedMicro) AS charged, SUM(upstreamCostMicro) AS upstreamCost
            FROM usageEvent
            WHERE teamID IN (\(group.placeholders)) AND createdAt >= ? AND createdAt < ?
            GROUP BY teamID, provider, model, resolution, status, catalogVersion, outcome, day
            """
    }

    /// How the statements select a group's period, for the table `alias` (`+` before each column
    /// keeps SQLite off the column's indexes): the ledger's month stamp, bounded by the grant
    /// instants unless the ledger has the streaming indexes; with `--timezone`, the instants alone.
    static func selection(_ group: PeriodGroup, _ alias: String = "", unindexed: Bool = false) -> String {
        let column = { (name: String) in (unindexed ? "+" : "") + (alias.isEmpty ? "" : alias + ".") + name }
        let instants = "\(column("createdAt")) >= ? AND \(column("createdAt")) < ?"
        guard group.usesLedgerPeriods else { return instants }
        return group.streams ? "\(column("periodMonth")) = ?" : "\(column("periodMonth")) = ? AND \(instants)"
    }

    /// How far the instants of a team's month can lie outside those of the group's zone: more than
    /// the 26 hours between UTC-12 and UTC+14.
    static let stampMarginMilliseconds: Int64 = 26 * 3_600_000 + 1

    /// The arguments of ``selection(_:_:unindexed:)`` after the team ids.
    static func periodValues(_ group: PeriodGroup) -> [DatabaseValue] {
        let month = group.period.month.description.databaseValue
        let instants = group.usesLedgerPeriods
            ? [group.startMilliseconds - stampMarginMilliseconds, group.endMilliseconds + stampMarginMilliseconds]
            : [group.startMilliseconds, group.endMilliseconds]
        let values = !group.usesLedgerPeriods ? instants.map(\.databaseValue)
            : group.streams ? [month] : [month] + instants.map(\.databaseValue)
        return group.teamIDs.map(\.databaseValue) + values
    }

    /// The arguments of the statements over the budget month: team ids, `YYYY-MM`.
    static func monthValues(_ group: PeriodGroup) -> [DatabaseValue] {
        group.teamIDs.map(\.databaseValue) + [group.period.month.description.databaseValue]
    }

    static func arguments(_ group: PeriodGroup) -> StatementArguments {
        StatementArguments(periodValues(group))
    }

    struct AggregateRow: Sendable {
        var teamID: Int64, provider: String, model: String, resolution: String, status: String, catalogVersion: String
        var day: Int, requests: Int64, posted: Int64, seconds: Int64, charged: MicroUSD, upstreamCost: MicroUSD
    }

    /// The ledger's own charged figure, independent of the usage events the lines come from: the
    /// posted journal entries of the holds granted in the period.
    static func ledgerTotalSQL(_ group: PeriodGroup) -> String {
        if !group.usesLedgerPeriods {
            // By grant instant: the posted amounts the holds record (each set in the transaction
            // that journals its post; `verify` checks the two agree), read from the covering
            // index `hold_team_created_posted` (v8) rather than joining a million journal entries.
            return """
                SELECT teamID, SUM(postedMicro)
                FROM hold
                WHERE teamID IN (\(group.placeholders)) AND createdAt >= ? AND createdAt < ?
                GROUP BY teamID
                """
        }
        if group.usesLedgerPeriods && group.streams {
            return """
                SELECT teamID, SUM(amountMicro)
                FROM journalEntry
                WHERE teamID IN (\(group.placeholders)) AND periodMonth = ? AND kind = 'post'
                GROUP BY teamID
                """
        }
        return """
            SELECT h.teamID, SUM(j.amountMicro)
            FROM hold h JOIN journalEntry j ON j.holdID = h.id AND j.kind IN ('post', 'void', 'expire')
            WHERE h.teamID IN (\(group.placeholders)) AND \(selection(group, "h"))
                AND h.state = 'posted' AND j.kind = 'post'
            GROUP BY h.teamID
            """
    }

    /// Spend per caller (the label the hold recorded: a gateway key's label, `generate --caller`).
    static func callersSQL(_ group: PeriodGroup) -> String {
        """
        SELECT teamID, COALESCE(caller, '(unattributed)'), COUNT(*), SUM(chargedMicro)
        FROM usageEvent
        WHERE teamID IN (\(group.placeholders)) AND \(selection(group))
        GROUP BY teamID, caller
        """
    }

    /// Per team and seller, the costs the seller reported (v5), beside the computed upstream cost of
    /// the charged calls. Read from the partial index of usage events that carry a reported cost.
    static func sellerCostsSQL(_ group: PeriodGroup) -> String {
        """
        SELECT teamID, provider, COUNT(*),
            SUM(CASE WHEN outcome = 'posted' THEN 0 ELSE sellerCostTicks END),
            SUM(CASE WHEN outcome = 'posted' THEN sellerCostTicks ELSE 0 END),
            SUM(CASE WHEN outcome = 'posted' THEN upstreamCostMicro ELSE 0 END)
        FROM usageEvent INDEXED BY usageEvent_seller_cost
        WHERE sellerCostTicks IS NOT NULL AND teamID IN (\(group.placeholders)) AND \(selection(group))
        GROUP BY teamID, provider
        """
    }

    /// Holds still pending that were granted in the period. `+` keeps SQLite on the small partial
    /// index of pending holds.
    static func openHoldsSQL(_ group: PeriodGroup) -> String {
        """
        SELECT id, teamID, idempotencyKey, provider, model, resolution, catalogVersion, amountMicro, createdAt,
            callStatus, upstreamTaskID, periodDay
        FROM hold
        WHERE state = 'pending' AND +teamID IN (\(group.placeholders))
            AND \(selection(group, unindexed: true))
        ORDER BY createdAt, id
        """
    }

    /// Late successes of holds granted in the period. `CROSS JOIN` keeps the (small) lateSuccess
    /// table outside: SQLite would otherwise walk every hold of the month to find none.
    static func lateSuccessSQL(_ group: PeriodGroup) -> String {
        """
        SELECT l.holdID, l.teamID, h.idempotencyKey, h.provider, h.model, l.amountMicro, h.createdAt
        FROM lateSuccess l CROSS JOIN hold h ON h.id = l.holdID
        WHERE l.teamID IN (\(group.placeholders))
            AND \(selection(group, "h"))
        ORDER BY h.createdAt, l.holdID
        """
    }

    /// Alerts and budget use of each team's own budget month (its time zone, as the ledger counts
    /// them), whatever zone the usage is reported in.
    static func alertsSQL(_ group: PeriodGroup) -> String {
        """
        SELECT teamID, thresholdPercent, createdAt, spentMicro FROM alert
        WHERE teamID IN (\(group.placeholders)) AND periodMonth = ? AND kind = 'threshold'
        ORDER BY thresholdPercent
        """
    }

    static func budgetBalanceSQL(_ group: PeriodGroup) -> String {
        """
        SELECT teamID, postedMicro, pendingMicro FROM balance
        WHERE teamID IN (\(group.placeholders)) AND scope = 'month' AND periodKey = ?
        """
    }

    /// Every statement one group of a report runs, with its arguments: what the benchmark hands to
    /// the `sqlite3` shell as the baseline.
    static func statements(_ group: PeriodGroup) -> [(sql: String, arguments: [DatabaseValue])] {
        let period = periodValues(group)
        let month = monthValues(group)
        return [
            (usageAggregateSQL(group), period), (ledgerTotalSQL(group), period), (callersSQL(group), period),
            (openHoldsSQL(group), period), (lateSuccessSQL(group), period), (alertsSQL(group), month),
            (budgetBalanceSQL(group), month), (sellerCostsSQL(group), period),
        ]
    }

    /// Indexes in the order of the report's groups, so that SQLite streams a month's groups from the
    /// index instead of reading every row and sorting it (with them a report over a million usage
    /// events takes a fifth of the time or less; see docs/REPORTS.md, Speed). They belong in the
    /// ledger's migrations, which the reports never write to; the benchmark creates them to measure
    /// the difference.
    public static let streamingIndexesSQL = """
        CREATE INDEX IF NOT EXISTS usageEvent_report ON usageEvent(teamID, periodMonth, periodDay, provider, model,
            resolution, status, catalogVersion, outcome, chargedMicro, upstreamCostMicro, billedSeconds, seconds);
        CREATE INDEX IF NOT EXISTS usageEvent_report_caller ON usageEvent(teamID, periodMonth, caller, chargedMicro);
        CREATE INDEX IF NOT EXISTS journalEntry_report ON journalEntry(teamID, periodMonth, kind, amountMicro);
        """

    /// The index of a local day (`YYYY-MM-DD`) in the period; a day outside it (a team whose zone
    /// changed after the call) goes to the nearest end.
    static func dayIndex(_ date: String, _ indices: [String: Int], _ period: ReportPeriod) -> Int {
        indices[date] ?? (date < period.days[0].date ? 0 : period.days.count - 1)
    }

    static func sections(
        _ db: Database, _ group: PeriodGroup, roundings: InvoiceRoundings, topCallerLimit: Int, overridden: Bool, now: Int64
    ) throws -> [TeamReport] {
        let window = arguments(group)
        let month = group.period.month.description
        let monthArguments = StatementArguments(monthValues(group))
        let period = group.period
        let dayIndices = Dictionary(uniqueKeysWithValues: period.days.enumerated().map { ($1.date, $0) })
        var rows: [AggregateRow]
        let callerRows: [(Int64, String, Int64, MicroUSD)]
        if group.usesLedgerPeriods {
            rows = try Row.fetchAll(db, sql: usageAggregateSQL(group), arguments: window).map { row in
                let posted = (row[6] as String) == "posted"
                let requests: Int64 = row[8]
                return AggregateRow(
                    teamID: row[0], provider: row[1], model: row[2], resolution: row[3], status: row[4], catalogVersion: row[5],
                    day: dayIndex(row[7], dayIndices, period),
                    requests: requests, posted: posted ? requests : 0, seconds: posted ? row[9] : 0,
                    charged: row[10], upstreamCost: row[11]
                )
            }
            callerRows = try Row.fetchAll(db, sql: callersSQL(group), arguments: window)
                .map { row -> (Int64, String, Int64, MicroUSD) in (row[0], row[1], row[2], row[3]) }
        } else {
            // Another zone's days: one pass over the month in time order (UsageFold) instead of
            // SQL sorting a month of rows by an expression of their instant.
            let fold = try UsageFold.run(
                db, teamIDs: group.teamIDs, start: group.startMilliseconds, end: group.endMilliseconds,
                dayEnds: period.days.map { $0.end * 1000 })
            rows = fold.usage.map { key, sums in
                let posted = key.outcome == "posted"
                return AggregateRow(
                    teamID: key.teamID, provider: key.provider, model: key.model, resolution: key.resolution, status: key.status,
                    catalogVersion: key.catalogVersion, day: key.day, requests: sums.requests, posted: posted ? sums.requests : 0,
                    seconds: posted ? sums.seconds : 0, charged: sums.chargedMicro, upstreamCost: sums.upstreamCostMicro)
            }
            callerRows = fold.callers.map { key, sums in
                (key.teamID, key.caller ?? "(unattributed)", sums.requests, sums.chargedMicro)
            }
        }
        let totals = try Row.fetchAll(db, sql: ledgerTotalSQL(group), arguments: window)
            .reduce(into: [Int64: MicroUSD]()) { $0[$1[0]] = $1[1] }
        var sellerCosts: [Int64: [SellerCost]] = [:]
        for row in try Row.fetchAll(db, sql: sellerCostsSQL(group), arguments: window) {
            let teamID: Int64 = row[0]
            sellerCosts[teamID, default: []].append(SellerCost(
                provider: row[1], calls: row[2], absorbedTicks: row[3], reportedChargedTicks: row[4], computedChargedMicro: row[5]))
        }
        var items: [(Int64, OpenItem)] = []
        for row in try Row.fetchAll(db, sql: openHoldsSQL(group), arguments: window) {
            let teamID: Int64 = row[1]
            let createdAt: Int64 = row[8]
            let status: String = row[9]
            let taskID: String? = row[10]
            // Sent, and no answer recorded: the outcome is unknown until reconciled or expired.
            let unknown = status == "unknown" || (status == "submitted" && taskID == nil)
            items.append((teamID, OpenItem(
                kind: unknown ? .unknown : .openHold, team: "", holdID: row[0], idempotencyKey: row[2],
                provider: row[3], model: row[4], amountMicro: row[7], createdAt: createdAt / 1000
            )))
            if unknown {
                // Counted among the requests as `unknown`: uncharged, still held.
                rows.append(AggregateRow(
                    teamID: teamID, provider: row[3], model: row[4], resolution: row[5], status: UsageOutcome.unknown.rawValue,
                    catalogVersion: row[6],
                    day: group.usesLedgerPeriods ? dayIndex(row[11], dayIndices, period) : period.dayIndex(of: createdAt / 1000) ?? 0,
                    requests: 1, posted: 0, seconds: 0, charged: 0, upstreamCost: 0
                ))
            }
        }
        for row in try Row.fetchAll(db, sql: lateSuccessSQL(group), arguments: window) {
            items.append((row[1], OpenItem(
                kind: .lateSuccess, team: "", holdID: row[0], idempotencyKey: row[2], provider: row[3],
                model: row[4], amountMicro: row[5], createdAt: (row[6] as Int64) / 1000
            )))
        }
        let alertRows = try Row.fetchAll(db, sql: alertsSQL(group), arguments: monthArguments)
            .map { row -> (Int64, Int, Int64, MicroUSD) in (row[0], row[1], row[2], row[3]) }
        let balances = try Row.fetchAll(db, sql: budgetBalanceSQL(group), arguments: monthArguments)
            .reduce(into: [Int64: (MicroUSD, MicroUSD)]()) { $0[$1[0]] = ($1[1], $1[2]) }

        let rowsByTeam = Dictionary(grouping: rows, by: \.teamID)
        let callersByTeam = Dictionary(grouping: callerRows, by: \.0)
        let itemsByTeam = Dictionary(grouping: items, by: \.0)
        let alertsByTeam = Dictionary(grouping: alertRows, by: \.0)
        return group.teams.map { team in
            var lines: [String: UsageLine] = [:]
            var dayCharged = Array(repeating: MicroUSD(0), count: period.days.count)
            var dayRequests = Array(repeating: Int64(0), count: period.days.count)
            var versions: [String: CatalogVersionUse] = [:]
            for row in rowsByTeam[team.id] ?? [] {
                let key = "\(row.provider)\u{1F}\(row.model)\u{1F}\(row.resolution)"
                var line = lines[key] ?? UsageLine(
                    provider: row.provider, model: row.model, resolution: row.resolution, outcomes: OutcomeCounts(),
                    seconds: 0, chargedMicro: 0, upstreamCostMicro: 0, marginMicro: 0
                )
                line.outcomes[UsageOutcome(ledgerStatus: row.status)] += row.requests
                line.seconds += row.seconds
                line.chargedMicro += row.charged
                line.upstreamCostMicro += row.upstreamCost
                // The ledger records each call's margin as charged - upstream cost.
                line.marginMicro += row.charged - row.upstreamCost
                line.postedRequests += row.posted
                line.chargedByVersion[row.catalogVersion, default: 0] += row.charged
                lines[key] = line
                let day = min(max(row.day, 0), dayCharged.count - 1)
                dayCharged[day] += row.charged
                dayRequests[day] += row.requests
                var version = versions[row.catalogVersion] ?? CatalogVersionUse(version: row.catalogVersion, requests: 0, chargedMicro: 0)
                version.requests += row.requests
                version.chargedMicro += row.charged
                versions[row.catalogVersion] = version
            }
            let balance = balances[team.id] ?? (0, 0)
            var note: String?
            if overridden && team.timeZone != group.zoneName {
                note = "Usage, daily spend and the invoice are counted in \(month) in \(group.zoneName) (--timezone); "
                    + "the budget and its alerts are the team's budget month, \(month) in \(team.timeZone), as the ledger counts them."
            }
            var section = TeamReport(
                team: team.name,
                timeZone: group.zoneName,
                periodStart: period.start,
                periodEnd: period.end,
                lines: lines.values.sorted(by: UsageLine.bySpend),
                daily: period.days.enumerated().map {
                    DailySpend(date: $1.date, requests: dayRequests[$0], chargedMicro: dayCharged[$0])
                },
                budget: team.limits.map {
                    BudgetUse(
                        monthlyLimitMicro: $0.monthly, dailyLimitMicro: $0.daily, creditMicro: $0.credit, thresholds: $0.thresholds,
                        month: month, timeZone: team.timeZone, postedMicro: balance.0, pendingMicro: balance.1
                    )
                },
                alerts: (alertsByTeam[team.id] ?? []).map {
                    AlertCrossed(team: team.name, thresholdPercent: $0.1, recordedAt: $0.2 / 1000, spentMicro: $0.3)
                },
                topCallers: Array((callersByTeam[team.id] ?? []).map {
                    CallerSpend(team: team.name, caller: $0.1, requests: $0.2, chargedMicro: $0.3)
                }.sorted(by: CallerSpend.bySpend).prefix(topCallerLimit)),
                openItems: (itemsByTeam[team.id] ?? []).map { var item = $0.1; item.team = team.name; return item },
                catalogVersions: versions.values.sorted { $0.version < $1.version },
                ledgerChargedMicro: totals[team.id] ?? 0,
                invoiceRoundings: roundings,
                note: note
            )
            section.sellerCosts = (sellerCosts[team.id] ?? []).sorted { $0.provider < $1.provider }
            if let today = period.dayIndex(of: now) {
                // The month is in progress: project it from the last seven local days of its spend.
                let first = max(0, today - (BudgetForecast.windowDays - 1))
                let forecast = BudgetForecast(
                    now: now * 1000, monthEnd: period.end * 1000, windowStart: period.days[first].start * 1000,
                    postedMicro: dayCharged[...today].reduce(0, +), windowPostedMicro: dayCharged[first...today].reduce(0, +),
                    monthlyLimitMicro: team.limits?.monthly)
                section.forecast = forecast
                section.forecastToday = today
                section.forecastExhaustedOn = forecast.monthlyExhaustedAt
                    .flatMap { period.dayIndex(of: $0 / 1000) }.map { period.days[$0].date }
            }
            return section
        }
    }
}

extension MonthlyReportBuilder {
    /// Every SQL statement ``build(month:team:timeZone:now:detail:)`` runs for these arguments, with
    /// the arguments written in as literals, in the order the report runs them: what the benchmark
    /// hands to the `sqlite3` shell as its baseline.
    public func inlineSQL(month: ReportMonth, team: String? = nil, timeZone: String? = nil) async throws -> [String] {
        let override = try timeZone.map { identifier throws(ReportError) in try ReportPeriod.timeZone(named: identifier) }
        return try await reader.read { db in
            var statements = [Self.inline(Self.teamsSQL, [team.databaseValue, team.databaseValue])]
            for group in try Self.periodGroups(db, month: month, team: team, override: override, overrideName: timeZone) {
                statements += Self.statements(group).map { Self.inline($0.sql, $0.arguments) }
            }
            return statements
        }
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

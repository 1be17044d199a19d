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
public struct MonthlyReportBuilder: Sendable {
    /// The ledger database (a `DatabasePool` lets the queries of one report run concurrently).
    public let reader: any DatabaseWriter
    /// How many callers each team's "top callers" table keeps.
    public var topCallerLimit = 10

    /// Reads `writer`, a ledger database migrated by ``Ledger`` (the reports never write to it).
    public init(writer: any DatabaseWriter) throws {
        self.reader = writer
    }

    public init(ledger: Ledger) throws {
        try self.init(writer: ledger.writer)
    }

    /// A team as the report needs it.
    struct TeamRow: Sendable {
        var id: Int64
        var name: String
        var timeZone: String
        var budget: BudgetUse?
    }

    /// Teams whose month starts and ends at the same instants, queried together.
    struct PeriodGroup: Sendable {
        var period: ReportPeriod
        /// The zone as the team or `--timezone` names it (Foundation calls UTC "GMT").
        var zoneName: String
        var teams: [TeamRow]
        var startMilliseconds: Int64 { period.start * 1000 }
        var endMilliseconds: Int64 { period.end * 1000 }
        var teamIDs: [Int64] { teams.map(\.id) }
        var placeholders: String { Array(repeating: "?", count: teams.count).joined(separator: ",") }
    }

    /// Builds the report for `month`, for one team or (when `team` is nil) for every team.
    ///
    /// - Parameters:
    ///   - timeZone: an IANA identifier to use for every team instead of each team's own zone.
    ///   - now: stamped on the report as its generation time.
    /// - Throws: ``ReportError`` `unknown_team`, `invalid_time_zone`.
    public func build(month: ReportMonth, team: String? = nil, timeZone: String? = nil, now: Date = Date()) async throws -> MonthlyReport {
        let groups = try await periodGroups(month: month, team: team, timeZone: timeZone)
        var sections: [TeamReport] = []
        for group in groups {
            sections += try await build(group)
        }
        sections.sort { $0.team < $1.team }
        return MonthlyReport(
            month: month, timeZoneOverride: timeZone, generatedAt: Int64(now.timeIntervalSince1970.rounded(.down)),
            teams: sections, topCallerLimit: topCallerLimit
        )
    }

    func periodGroups(month: ReportMonth, team: String?, timeZone: String?) async throws -> [PeriodGroup] {
        let override = try timeZone.map { identifier throws(ReportError) in try ReportPeriod.timeZone(named: identifier) }
        let teams = try await reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro, b.alertThresholds
                FROM team t LEFT JOIN budget b ON b.teamID = t.id
                WHERE ? IS NULL OR t.name = ?
                ORDER BY t.name
                """, arguments: [team, team])
            .map { row in
                let limit: MicroUSD? = row["monthlyLimitMicro"]
                let thresholds: String = row["alertThresholds"] ?? ""
                return TeamRow(
                    id: row["id"], name: row["name"], timeZone: row["timeZone"],
                    budget: limit.map {
                        BudgetUse(
                            monthlyLimitMicro: $0, dailyLimitMicro: row["dailyLimitMicro"], creditMicro: row["creditMicro"],
                            thresholds: thresholds.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                        )
                    }
                )
            }
        }
        if let team, teams.isEmpty { throw ReportError.unknownTeam(team) }
        var groups: [String: PeriodGroup] = [:]
        var order: [String] = []
        for row in teams {
            let zone = override ?? TimeZone(identifier: row.timeZone) ?? TimeZone(identifier: "UTC")!
            let period = ReportPeriod(month: month, timeZone: zone)
            let key = "\(period.start)-\(period.end)-\(timeZone ?? row.timeZone)"
            if groups[key] == nil {
                groups[key] = PeriodGroup(period: period, zoneName: timeZone ?? row.timeZone, teams: [])
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

    /// The main aggregate: usage grouped by team, provider, model, resolution, status, catalog
    /// version and local day. Also what the benchmark runs through the `sqlite3` shell.
    static func usageAggregateSQL(_ group: PeriodGroup) -> String {
        """
        SELECT teamID, provider, model, resolution, status, catalogVersion, \(dayExpression("createdAt", group.period)) AS day,
            COUNT(*) AS requests,
            SUM(CASE WHEN outcome = 'posted' THEN COALESCE(billedSeconds, seconds) ELSE 0 END) AS seconds,
            SUM(chargedMicro) AS charged, SUM(upstreamCostMicro) AS upstreamCost, SUM(marginMicro) AS margin
        FROM usageEvent
        WHERE teamID IN (\(group.placeholders)) AND createdAt >= ? AND createdAt < ?
        GROUP BY teamID, provider, model, resolution, status, catalogVersion, day
        """
    }

    static func arguments(_ group: PeriodGroup) -> StatementArguments {
        StatementArguments(group.teamIDs) + [group.startMilliseconds, group.endMilliseconds]
    }

    struct AggregateRow: Sendable {
        var teamID: Int64, provider: String, model: String, resolution: String, status: String, catalogVersion: String
        var day: Int, requests: Int64, seconds: Int64, charged: MicroUSD, upstreamCost: MicroUSD, margin: MicroUSD
    }

    func build(_ group: PeriodGroup) async throws -> [TeamReport] {
        let arguments = Self.arguments(group)
        let aggregateSQL = Self.usageAggregateSQL(group)
        let month = group.period.month.description
        async let aggregate = reader.read { db in
            try Row.fetchAll(db, sql: aggregateSQL, arguments: arguments).map { row in
                AggregateRow(
                    teamID: row[0], provider: row[1], model: row[2], resolution: row[3], status: row[4],
                    catalogVersion: row[5], day: row[6], requests: row[7], seconds: row[8], charged: row[9],
                    upstreamCost: row[10], margin: row[11]
                )
            }
        }
        // The ledger's own figure: posted journal entries of the holds granted in the period.
        async let ledgerTotals = reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT h.teamID, SUM(j.amountMicro)
                FROM hold h JOIN journalEntry j ON j.holdID = h.id AND j.kind IN ('post', 'void', 'expire')
                WHERE h.teamID IN (\(group.placeholders)) AND h.createdAt >= ? AND h.createdAt < ?
                    AND h.state = 'posted' AND j.kind = 'post'
                GROUP BY h.teamID
                """, arguments: arguments)
            .reduce(into: [Int64: MicroUSD]()) { $0[$1[0]] = $1[1] }
        }
        async let callers = reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT u.teamID, COALESCE(u.caller, '(unattributed)'), COUNT(*), SUM(u.chargedMicro)
                FROM usageEvent u
                WHERE u.teamID IN (\(group.placeholders)) AND u.createdAt >= ? AND u.createdAt < ?
                GROUP BY u.teamID, 2
                """, arguments: arguments)
            .map { row -> (Int64, String, Int64, MicroUSD) in (row[0], row[1], row[2], row[3]) }
        }
        async let openAndLate = reader.read { db in
            // `+` keeps SQLite on the small partial index of pending holds.
            let open = try Row.fetchAll(db, sql: """
                SELECT id, teamID, idempotencyKey, provider, model, amountMicro, createdAt, callStatus
                FROM hold
                WHERE state = 'pending' AND +teamID IN (\(group.placeholders)) AND +createdAt >= ? AND +createdAt < ?
                ORDER BY createdAt, id
                """, arguments: arguments)
            .map { row -> (Int64, OpenItem) in
                let status: String = row[7]
                return (row[1], OpenItem(
                    kind: status == "unknown" ? .unknown : .openHold, team: "", holdID: row[0], idempotencyKey: row[2],
                    provider: row[3], model: row[4], amountMicro: row[5], createdAt: (row[6] as Int64) / 1000
                ))
            }
            let late = try Row.fetchAll(db, sql: """
                SELECT l.holdID, l.teamID, h.idempotencyKey, h.provider, h.model, l.amountMicro, h.createdAt
                FROM lateSuccess l JOIN hold h ON h.id = l.holdID
                WHERE l.teamID IN (\(group.placeholders)) AND h.createdAt >= ? AND h.createdAt < ?
                ORDER BY h.createdAt, l.holdID
                """, arguments: arguments)
            .map { row -> (Int64, OpenItem) in
                (row[1], OpenItem(
                    kind: .lateSuccess, team: "", holdID: row[0], idempotencyKey: row[2], provider: row[3],
                    model: row[4], amountMicro: row[5], createdAt: (row[6] as Int64) / 1000
                ))
            }
            return open + late
        }
        async let alerts = reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT teamID, thresholdPercent, createdAt, spentMicro FROM alert
                WHERE teamID IN (\(group.placeholders)) AND periodMonth = ?
                ORDER BY thresholdPercent
                """, arguments: StatementArguments(group.teamIDs) + [month])
            .map { row -> (Int64, Int, Int64, MicroUSD) in (row[0], row[1], row[2], row[3]) }
        }

        let rows = try await aggregate
        let totals = try await ledgerTotals
        let callerRows = try await callers
        let items = try await openAndLate
        let alertRows = try await alerts

        return group.teams.map { team in
            var lines: [String: UsageLine] = [:]
            var dayCharged = Array(repeating: MicroUSD(0), count: group.period.days.count)
            var dayRequests = Array(repeating: Int64(0), count: group.period.days.count)
            var versions: [String: CatalogVersionUse] = [:]
            for row in rows where row.teamID == team.id {
                let key = "\(row.provider)\u{1F}\(row.model)\u{1F}\(row.resolution)"
                var line = lines[key] ?? UsageLine(
                    provider: row.provider, model: row.model, resolution: row.resolution, outcomes: OutcomeCounts(),
                    seconds: 0, chargedMicro: 0, upstreamCostMicro: 0, marginMicro: 0
                )
                line.outcomes[UsageOutcome(ledgerStatus: row.status)] += row.requests
                line.seconds += row.seconds
                line.chargedMicro += row.charged
                line.upstreamCostMicro += row.upstreamCost
                line.marginMicro += row.margin
                lines[key] = line
                let day = min(max(row.day, 0), dayCharged.count - 1)
                dayCharged[day] += row.charged
                dayRequests[day] += row.requests
                var version = versions[row.catalogVersion] ?? CatalogVersionUse(version: row.catalogVersion, requests: 0, chargedMicro: 0)
                version.requests += row.requests
                version.chargedMicro += row.charged
                versions[row.catalogVersion] = version
            }
            return TeamReport(
                team: team.name,
                timeZone: group.zoneName,
                periodStart: group.period.start,
                periodEnd: group.period.end,
                lines: lines.values.sorted(by: UsageLine.bySpend),
                daily: group.period.days.enumerated().map {
                    DailySpend(date: $1.date, requests: dayRequests[$0], chargedMicro: dayCharged[$0])
                },
                budget: team.budget,
                alerts: alertRows.filter { $0.0 == team.id }.map {
                    AlertCrossed(team: team.name, thresholdPercent: $0.1, recordedAt: $0.2 / 1000, spentMicro: $0.3)
                },
                topCallers: Array(callerRows.filter { $0.0 == team.id }.map {
                    CallerSpend(team: team.name, caller: $0.1, requests: $0.2, chargedMicro: $0.3)
                }.sorted(by: CallerSpend.bySpend).prefix(topCallerLimit)),
                openItems: items.filter { $0.0 == team.id }.map { var item = $0.1; item.team = team.name; return item },
                catalogVersions: versions.values.sorted { $0.version < $1.version },
                ledgerChargedMicro: totals[team.id] ?? 0
            )
        }
    }
}

extension MonthlyReportBuilder {
    /// The report's main aggregate query for `teamIDs` in `month` and `timeZone`, with every argument
    /// written in as a literal: what the benchmark hands to the `sqlite3` shell as its baseline.
    public static func inlineAggregateSQL(month: ReportMonth, timeZone: TimeZone, teamIDs: [Int64]) -> String {
        let period = ReportPeriod(month: month, timeZone: timeZone)
        let group = PeriodGroup(period: period, zoneName: timeZone.identifier, teams: teamIDs.map { TeamRow(id: $0, name: "", timeZone: timeZone.identifier, budget: nil) })
        let inList = teamIDs.map(String.init).joined(separator: ",")
        return usageAggregateSQL(group)
            .replacingOccurrences(of: "IN (\(group.placeholders))", with: "IN (\(inList))")
            .replacingOccurrences(of: "createdAt >= ? AND createdAt < ?", with: "createdAt >= \(group.startMilliseconds) AND createdAt < \(group.endMilliseconds)")
            + ";\n"
    }
}

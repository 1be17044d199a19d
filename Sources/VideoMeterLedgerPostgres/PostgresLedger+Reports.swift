import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

/// The reports' aggregates (``LedgerReporting``) on PostgreSQL: the same groups and sums as the
/// SQLite ledger's statements, read in one REPEATABLE READ snapshot. A month in another zone
/// (`report --timezone`) finds each call's local day with `width_bucket` over the bound day starts
/// (``LocalMonth``, the computation the SQLite store folds with), so both stores put every call on
/// the same day, daylight-saving days included.
extension PostgresLedger {
    public func monthlyUsage(_ request: MonthlyUsageRequest, detail: (@Sendable (UsageDetailRow) throws -> Void)?) async throws -> MonthlyUsage {
        try await read { connection in
            let logger = self.logger
            let rows: [Cells]
            if let team = request.team {
                rows = try await connection.all("""
                    SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro, b.alertThresholds
                    FROM team t LEFT JOIN budget b ON b.teamID = t.id WHERE t.name = \(team)
                    """, logger)
                if rows.isEmpty { throw LedgerError.unknownTeam(team) }
            } else {
                rows = try await connection.all("""
                    SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro, b.alertThresholds
                    FROM team t LEFT JOIN budget b ON b.teamID = t.id
                    """, logger)
            }
            // By name in code point order, as SQLite's BINARY collation sorts them, whatever the
            // database's collation.
            let teams = try rows.map { row in
                MonthlyUsage.TeamBudget(
                    id: try row.int64(0), name: try row.string(1), timeZone: try row.string(2), monthlyLimitMicro: try row.optionalInt64(3),
                    dailyLimitMicro: try row.optionalInt64(4), creditMicro: try row.optionalInt64(5),
                    thresholds: MonthlyUsage.thresholds(try row.optionalString(6)))
            }.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            var groups: [MonthlyUsage.Group] = []
            for group in MonthlyUsage.groups(teams, request) {
                groups.append(try await Self.read(group, connection, logger))
            }
            if let detail {
                for group in groups { try await Self.usageDetail(group, connection, logger, detail) }
            }
            return MonthlyUsage(groups: groups)
        }
    }

    public func chargedCalls(_ selection: UsageSelection, team: String?) async throws -> [ChargedCalls] {
        try await read { connection in
            let logger = self.logger
            var teamID: Int64?
            if let team { teamID = try await Self.team(named: team, connection, logger).id }
            var names: [Int64: String] = [:]
            for row in try await connection.all("SELECT id, name FROM team", logger) { names[try row.int64(0)] = try row.string(1) }
            // A team id of 0 stands for every team (ids start at 1).
            let query: PostgresQuery
            switch selection {
            case .budgetMonth(let month):
                query = """
                    SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                        COUNT(*), SUM(chargedMicro)::BIGINT
                    FROM usageEvent WHERE periodMonth = \(month) AND outcome = 'posted' AND (\(teamID ?? 0) = 0 OR teamID = \(teamID ?? 0))
                    GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                    """
            case .instants(let start, let end):
                query = """
                    SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                        COUNT(*), SUM(chargedMicro)::BIGINT
                    FROM usageEvent WHERE createdAt >= \(start) AND createdAt < \(end) AND outcome = 'posted'
                        AND (\(teamID ?? 0) = 0 OR teamID = \(teamID ?? 0))
                    GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                    """
            }
            return ChargedCalls.merged(try await connection.all(query, logger).map { row in
                let id = try row.int64(0)
                return (id, ChargedCalls(
                    team: names[id] ?? "#\(id)", provider: try row.string(1), model: try row.string(2), resolution: try row.string(3),
                    seconds: Int(try row.optionalInt64(6) ?? row.int64(7)), imageCount: try row.int(4), catalogVersion: try row.string(5),
                    calls: try row.int64(8), chargedMicro: try row.int64(9)))
            })
        }
    }

    /// `template` with `{selection}` replaced by how the group selects its rows (for the table
    /// `alias`): each team's month by the ledger's stamp, or the month's instants in the request's
    /// zone; and `{dayStarts}` by the local days' first instants. Every value is a bound parameter.
    static func query(_ template: String, _ group: MonthlyUsage.Group, alias: String = "") -> PostgresQuery {
        let column = alias.isEmpty ? "" : alias + "."
        var binds = PostgresBindings()
        binds.append(group.teamIDs)
        var selection = "\(column)teamID = ANY($1) AND "
        if group.byLedgerStamps {
            binds.append(group.period.text)
            selection += "\(column)periodMonth = $2"
        } else {
            binds.append(group.period.startMilliseconds)
            binds.append(group.period.endMilliseconds)
            selection += "\(column)createdAt >= $2 AND \(column)createdAt < $3"
        }
        var sql = template.replacingOccurrences(of: "{selection}", with: selection)
        if sql.contains("{dayStarts}") {
            binds.append(group.period.days.map { $0.start * 1000 })
            sql = sql.replacingOccurrences(of: "{dayStarts}", with: "$\(binds.count)")
        }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    static func read(_ group: MonthlyUsage.Group, _ connection: PostgresConnection, _ logger: Logger) async throws -> MonthlyUsage.Group {
        var group = group
        let period = group.period
        let ids = group.teamIDs
        let month = period.text
        // The local day: the ledger's stamp, or the number of the month's days that start at or
        // before the call's instant, less one (`width_bucket` over the sorted day starts).
        let day = group.byLedgerStamps ? "periodDay" : "(width_bucket(createdAt, {dayStarts}) - 1)::BIGINT"
        let usage = query("""
            SELECT teamID, provider, model, resolution, status, catalogVersion, outcome, \(day),
                COUNT(*), SUM(COALESCE(billedSeconds, seconds))::BIGINT, SUM(chargedMicro)::BIGINT, SUM(upstreamCostMicro)::BIGINT
            FROM usageEvent WHERE {selection}
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
            """, group)
        group.usage = try await connection.all(usage, logger).map { row in
            MonthlyUsage.Usage(
                teamID: try row.int64(0), provider: try row.string(1), model: try row.string(2), resolution: try row.string(3),
                status: try row.string(4), catalogVersion: try row.string(5), outcome: try row.string(6),
                day: group.byLedgerStamps ? period.dayIndex(date: try row.string(7)) : try row.int(7),
                requests: try row.int64(8), seconds: try row.int64(9), chargedMicro: try row.int64(10),
                upstreamCostMicro: try row.int64(11))
        }
        let callers = query("""
            SELECT teamID, caller, COUNT(*), SUM(chargedMicro)::BIGINT FROM usageEvent WHERE {selection} GROUP BY teamID, caller
            """, group)
        group.callers = try await connection.all(callers, logger).map { row in
            MonthlyUsage.CallerUsage(
                teamID: try row.int64(0), caller: try row.optionalString(1), requests: try row.int64(2), chargedMicro: try row.int64(3))
        }
        // The ledger's own charged figure: the posted journal entries of the month's holds, or by
        // grant instant the posted amounts the holds record (set with the post's journal entry).
        let totals: PostgresQuery = group.byLedgerStamps
            ? """
                SELECT teamID, SUM(amountMicro)::BIGINT FROM journalEntry
                WHERE teamID = ANY(\(ids)) AND periodMonth = \(month) AND kind = 'post' GROUP BY teamID
                """
            : """
                SELECT teamID, SUM(postedMicro)::BIGINT FROM hold
                WHERE teamID = ANY(\(ids)) AND createdAt >= \(period.startMilliseconds) AND createdAt < \(period.endMilliseconds)
                GROUP BY teamID
                """
        for row in try await connection.all(totals, logger) { group.ledgerChargedMicro[try row.int64(0)] = try row.int64(1) }
        let sellers = query("""
            SELECT teamID, provider, COUNT(*),
                SUM(CASE WHEN outcome = 'posted' THEN 0 ELSE sellerCostTicks END)::BIGINT,
                SUM(CASE WHEN outcome = 'posted' THEN sellerCostTicks ELSE 0 END)::BIGINT,
                SUM(CASE WHEN outcome = 'posted' THEN upstreamCostMicro ELSE 0 END)::BIGINT
            FROM usageEvent WHERE sellerCostTicks IS NOT NULL AND {selection}
            GROUP BY teamID, provider
            """, group)
        group.sellerCosts = try await connection.all(sellers, logger).map { row in
            MonthlyUsage.SellerCosts(
                teamID: try row.int64(0), provider: try row.string(1), calls: try row.int64(2), absorbedTicks: try row.int64(3),
                reportedChargedTicks: try row.int64(4), computedChargedMicro: try row.int64(5))
        }
        let open = query("""
            SELECT id, teamID, idempotencyKey, provider, model, resolution, catalogVersion, amountMicro, createdAt,
                callStatus, upstreamTaskID, periodDay
            FROM hold WHERE state = 'pending' AND {selection}
            ORDER BY createdAt, id
            """, group)
        group.openHolds = try await connection.all(open, logger).map { row in
            let createdAt = try row.int64(8)
            return MonthlyUsage.OpenHold(
                holdID: try row.int64(0), teamID: try row.int64(1), idempotencyKey: try row.string(2), provider: try row.string(3),
                model: try row.string(4), resolution: try row.string(5), catalogVersion: try row.string(6), amountMicro: try row.int64(7),
                createdAt: createdAt, callStatus: try row.string(9), upstreamTaskID: try row.optionalString(10),
                day: group.byLedgerStamps ? period.dayIndex(date: try row.string(11)) : period.dayIndex(of: createdAt / 1000) ?? 0)
        }
        let late = query("""
            SELECT l.holdID, l.teamID, h.idempotencyKey, h.provider, h.model, l.amountMicro, h.createdAt
            FROM lateSuccess l JOIN hold h ON h.id = l.holdID AND h.teamID = l.teamID WHERE {selection}
            ORDER BY h.createdAt, l.holdID
            """, group, alias: "h")
        group.lateSuccesses = try await connection.all(late, logger).map { row in
            MonthlyUsage.LateSuccessItem(
                holdID: try row.int64(0), teamID: try row.int64(1), idempotencyKey: try row.string(2), provider: try row.string(3),
                model: try row.string(4), amountMicro: try row.int64(5), createdAt: try row.int64(6))
        }
        // Alerts and budget use: each team's own budget month, whatever zone the usage is in.
        group.alerts = try await connection.all("""
            SELECT teamID, thresholdPercent, createdAt, spentMicro FROM alert
            WHERE teamID = ANY(\(ids)) AND periodMonth = \(month) AND kind = 'threshold'
            ORDER BY thresholdPercent, teamID
            """, logger).map { row in
            MonthlyUsage.ThresholdAlert(
                teamID: try row.int64(0), thresholdPercent: try row.int(1), createdAt: try row.int64(2), spentMicro: try row.int64(3))
        }
        for row in try await connection.all("""
            SELECT teamID, postedMicro, pendingMicro FROM balance
            WHERE teamID = ANY(\(ids)) AND scope = 'month' AND periodKey = \(month)
            """, logger) {
            group.balances[try row.int64(0)] = MonthlyUsage.MonthBalance(postedMicro: try row.int64(1), pendingMicro: try row.int64(2))
        }
        return group
    }

    /// Streams a group's usage events, oldest first, to `write`, row by row from the server.
    static func usageDetail(
        _ group: MonthlyUsage.Group, _ connection: PostgresConnection, _ logger: Logger, _ write: (UsageDetailRow) throws -> Void
    ) async throws {
        let period = group.period
        let names = Dictionary(uniqueKeysWithValues: group.teams.map { ($0.id, $0.name) })
        let rows = query("""
            SELECT u.id, u.holdID, u.teamID, u.createdAt, u.finishedAt, u.caller, u.idempotencyKey,
                u.provider, u.model, u.resolution, u.seconds, u.billedSeconds, u.status, u.outcome, u.heldMicro,
                u.chargedMicro, u.upstreamCostMicro, u.marginMicro, u.catalogVersion, u.latencyMs,
                u.upstreamTaskID, u.upstreamRequestID, u.periodDay
            FROM usageEvent u WHERE {selection}
            ORDER BY u.createdAt, u.id
            """, group, alias: "u")
        for try await cells in try await connection.query(rows, logger: logger) {
            let row = Cells(row: cells.makeRandomAccess())
            let createdAt = try row.int64(3)
            let teamID = try row.int64(2)
            try write(UsageDetailRow(
                id: try row.int64(0), holdID: try row.int64(1), teamID: teamID, team: names[teamID] ?? "", createdAt: createdAt,
                finishedAt: try row.int64(4),
                localDate: group.byLedgerStamps ? try row.string(22) : period.dayIndex(of: createdAt / 1000).map { period.days[$0].date } ?? "",
                caller: try row.optionalString(5), idempotencyKey: try row.string(6), provider: try row.string(7), model: try row.string(8),
                resolution: try row.string(9), seconds: try row.int64(10), billedSeconds: try row.optionalInt64(11),
                status: try row.string(12), outcome: try row.string(13), heldMicro: try row.int64(14), chargedMicro: try row.int64(15),
                upstreamCostMicro: try row.int64(16), marginMicro: try row.int64(17), catalogVersion: try row.string(18),
                latencyMs: try row.optionalInt64(19), upstreamTaskID: try row.optionalString(20),
                upstreamRequestID: try row.optionalString(21)))
        }
    }
}

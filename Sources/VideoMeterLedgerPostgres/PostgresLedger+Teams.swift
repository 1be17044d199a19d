import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

extension PostgresLedger {
    @discardableResult
    public func createTeam(name: String, timeZone: String = "UTC") async throws -> Team {
        let name = try LedgerRules.teamName(name, timeZone: timeZone)
        let now = nowMilliseconds
        return try await write { connection in
            guard let row = try await connection.first("""
                INSERT INTO team (name, timeZone, createdAt) VALUES (\(name), \(timeZone), \(now))
                ON CONFLICT (name) DO NOTHING RETURNING id
                """, self.logger)
            else { throw LedgerError.teamAlreadyExists(name) }
            return Team(id: try row.int64(0), name: name, timeZone: timeZone, createdAt: now)
        }
    }

    public func teams() async throws -> [Team] {
        try await read { connection in
            try await connection.all("SELECT id, name, timeZone, createdAt FROM team ORDER BY name", self.logger).map(Self.team)
        }
    }

    public func team(named name: String) async throws -> Team {
        try await read { connection in try await Self.team(named: name, connection, self.logger) }
    }

    @discardableResult
    public func setBudget(team name: String, _ settings: BudgetSettings) async throws -> Budget {
        try LedgerRules.validate(settings)
        let now = nowMilliseconds
        return try await write { connection in
            // The team row's lock orders concurrent changes of one budget (a top-up reads the
            // credit it adds to).
            let team = try await Self.team(named: name, connection, self.logger, lock: true)
            let existing = try await Self.budget(teamID: team.id, connection, self.logger)
            let budget = try LedgerRules.budget(existing, teamID: team.id, applying: settings)
            if let topUp = settings.creditTopUpMicro {
                try await connection.run("""
                    INSERT INTO journalEntry (kind, teamID, amountMicro, createdAt) VALUES ('credit', \(team.id), \(topUp), \(now))
                    """, self.logger)
            }
            let thresholds = budget.alertThresholds.map(String.init).joined(separator: ",")
            try await connection.run("""
                INSERT INTO budget (teamID, monthlyLimitMicro, dailyLimitMicro, creditMicro, alertThresholds, updatedAt)
                VALUES (\(team.id), \(budget.monthlyLimitMicro), \(budget.dailyLimitMicro), \(budget.creditMicro), \(thresholds), \(now))
                ON CONFLICT (teamID) DO UPDATE SET monthlyLimitMicro = excluded.monthlyLimitMicro,
                    dailyLimitMicro = excluded.dailyLimitMicro, creditMicro = excluded.creditMicro,
                    alertThresholds = excluded.alertThresholds, updatedAt = excluded.updatedAt
                """, self.logger)
            return budget
        }
    }

    public func budgetStatus(team name: String) async throws -> BudgetStatus {
        let now = nowMilliseconds
        let periods = self.periods
        return try await read { connection in
            let team = try await Self.team(named: name, connection, self.logger)
            guard let budget = try await Self.budget(teamID: team.id, connection, self.logger) else { throw LedgerError.noBudget(team.name) }
            let period = periods.period(at: now, zoneIdentifier: team.timeZone)
            var sums: [String: (posted: MicroUSD, pending: MicroUSD)] = [:]
            for row in try await connection.all("""
                SELECT scope, postedMicro, pendingMicro FROM balance WHERE teamID = \(team.id)
                    AND ((scope = 'month' AND periodKey = \(period.month)) OR (scope = 'day' AND periodKey = \(period.day))
                        OR (scope = 'credit' AND periodKey = ''))
                """, self.logger) {
                sums[try row.string(0)] = (try row.int64(1), try row.int64(2))
            }
            let month = sums["month"] ?? (0, 0), day = sums["day"] ?? (0, 0), credit = sums["credit"] ?? (0, 0)
            let alerts = try await connection.all("""
                SELECT \(unescaped: Self.alertColumns) FROM alert WHERE teamID = \(team.id) AND periodMonth = \(period.month)
                ORDER BY kind DESC, thresholdPercent
                """, self.logger).map(Self.alert)
            let window = ForecastWindows.shared.window(at: now, zoneIdentifier: team.timeZone)
            let forecast = try await Self.forecast(
                connection, self.logger, teamID: team.id, window: window, now: now, monthlyLimit: budget.monthlyLimitMicro,
                postedMicro: month.posted, dailyLimit: budget.dailyLimitMicro, dayPostedMicro: day.posted)
            return BudgetStatus(
                team: team, budget: budget, periodMonth: period.month, periodDay: period.day,
                monthEndsAt: period.monthEnd, dayEndsAt: period.dayEnd,
                monthPostedMicro: month.posted, monthPendingMicro: month.pending,
                dayPostedMicro: day.posted, dayPendingMicro: day.pending,
                creditPostedMicro: credit.posted, creditPendingMicro: credit.pending, alerts: alerts,
                forecast: forecast)
        }
    }

    public func alerts(team name: String) async throws -> [Alert] {
        try await read { connection in
            let team = try await Self.team(named: name, connection, self.logger)
            return try await connection.all("""
                SELECT \(unescaped: Self.alertColumns) FROM alert WHERE teamID = \(team.id) ORDER BY id
                """, self.logger).map(Self.alert)
        }
    }

    // MARK: - Shared helpers

    static func team(_ row: Cells) throws -> Team {
        Team(id: try row.int64(0), name: try row.string(1), timeZone: try row.string(2), createdAt: try row.int64(3))
    }

    /// The team with that name (its row locked until the transaction ends when `lock`), or `unknown_team`.
    static func team(named name: String, _ connection: PostgresConnection, _ logger: Logger, lock: Bool = false) async throws -> Team {
        let row = try await connection.first("""
            SELECT id, name, timeZone, createdAt FROM team WHERE name = \(name) \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger)
        guard let row else { throw LedgerError.unknownTeam(name) }
        return try team(row)
    }

    static func budget(teamID: Int64, _ connection: PostgresConnection, _ logger: Logger) async throws -> Budget? {
        guard let row = try await connection.first("""
            SELECT monthlyLimitMicro, dailyLimitMicro, creditMicro, alertThresholds FROM budget WHERE teamID = \(teamID)
            """, logger)
        else { return nil }
        return Budget(
            teamID: teamID, monthlyLimitMicro: try row.int64(0), dailyLimitMicro: try row.optionalInt64(1),
            creditMicro: try row.optionalInt64(2), alertThresholds: AlertRule.thresholds(stored: try row.string(3)))
    }

    static let alertColumns = "id, teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro, holdID, createdAt"

    static func alert(_ row: Cells) throws -> Alert {
        Alert(
            id: try row.int64(0), teamID: try row.int64(1), periodMonth: try row.string(2),
            kind: Alert.Kind(rawValue: try row.string(3)) ?? .threshold, thresholdPercent: try row.int(4),
            limitMicro: try row.int64(5), spentMicro: try row.int64(6), projectedMicro: try row.optionalInt64(7),
            holdID: try row.optionalInt64(8), createdAt: try row.int64(9))
    }

    /// The forecast of a team's month from its day balances (the window's days, at most seven rows).
    static func forecast(
        _ connection: PostgresConnection, _ logger: Logger, teamID: Int64, window: ForecastWindows.Window, now: Int64,
        monthlyLimit: MicroUSD?, postedMicro: MicroUSD, dailyLimit: MicroUSD? = nil, dayPostedMicro: MicroUSD = 0
    ) async throws -> BudgetForecast {
        let windowPosted = try await connection.first("""
            SELECT COALESCE(SUM(postedMicro), 0)::BIGINT FROM balance
            WHERE teamID = \(teamID) AND scope = 'day' AND periodKey >= \(window.firstDay) AND periodKey <= \(window.period.day)
            """, logger)?.int64(0) ?? 0
        return BudgetForecast(
            now: now, monthEnd: window.period.monthEnd, windowStart: window.start, postedMicro: postedMicro,
            windowPostedMicro: windowPosted, monthlyLimitMicro: monthlyLimit, dailyLimitMicro: dailyLimit,
            dayPostedMicro: dayPostedMicro, dayEnd: window.period.dayEnd)
    }
}

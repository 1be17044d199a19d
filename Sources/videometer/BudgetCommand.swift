import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger

/// `videometer budget`: set and show a team's budget.
struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Set and show team budgets (monthly and daily limits, prepaid credit, alerts).",
        subcommands: [Set.self, Show.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Create or change a team's budget.",
            discussion: """
                A team without a budget cannot spend: the ledger fails closed. Limits apply to posted + \
                pending amounts in the team's calendar month and day (its time zone). --credit adds \
                prepaid credit (a top-up recorded in the journal); once a team has credit, every hold \
                also counts against what remains of it.
                """
        )

        @Option(help: ArgumentHelp("Team name.", valueName: "NAME"))
        var team: String

        @Option(parsing: .unconditional, help: ArgumentHelp("Monthly limit in dollars, e.g. 500 or 12.50.", valueName: "USD"))
        var monthly: String

        @Option(parsing: .unconditional, help: ArgumentHelp("Daily limit in dollars; omitted keeps the current one.", valueName: "USD"))
        var daily: String?

        @Option(parsing: .unconditional, help: ArgumentHelp("Prepaid credit to add, in dollars.", valueName: "USD"))
        var credit: String?

        @Option(help: ArgumentHelp("Alert thresholds, percentages of the monthly limit (default 50,80,100).", valueName: "LIST"))
        var alerts: String?

        @OptionGroup var database: DatabaseOptions

        func settings() throws -> BudgetSettings {
            let monthlyMicro = try parseUSD(monthly, option: "--monthly")
            let dailyMicro = try daily.map { try parseUSD($0, option: "--daily") }
            let creditMicro = try credit.map { try parseUSD($0, option: "--credit", allowZero: false) }
            let thresholds = try alerts.map { text -> [Int] in
                let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                let values = parts.compactMap { Int($0) }
                guard values.count == parts.count, !values.isEmpty, values.allSatisfy({ (1...1000).contains($0) }),
                      Swift.Set(values).count == values.count else {
                    throw ValidationError("--alerts '\(text)' must be distinct percentages between 1 and 1000, e.g. 50,80,100.")
                }
                return values
            }
            return BudgetSettings(
                monthlyLimitMicro: monthlyMicro, dailyLimitMicro: dailyMicro.map { .some($0) },
                creditTopUpMicro: creditMicro, alertThresholds: thresholds)
        }

        func validate() throws { _ = try settings() }

        func run() async throws {
            let settings = try settings()
            try await reportingErrors {
                let budget = try await database.openExisting().setBudget(team: team, settings)
                var line = "budget for \(team): monthly \(Money.format(micro: budget.monthlyLimitMicro)) USD"
                if let daily = budget.dailyLimitMicro { line += ", daily \(Money.format(micro: daily)) USD" }
                if let credit = budget.creditMicro { line += ", credit added to date \(Money.format(micro: credit)) USD" }
                line += ", alerts at \(budget.alertThresholds.map { "\($0)%" }.joined(separator: ", "))"
                print(line)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a team's limits, posted, pending and available amounts in the current period."
        )

        @Option(help: ArgumentHelp("Team name.", valueName: "NAME"))
        var team: String

        @Flag(help: "Print JSON; amounts are decimal strings of dollars.")
        var json = false

        @OptionGroup var database: DatabaseOptions

        struct Line: Encodable {
            var limit: String
            var posted: String
            var pending: String
            var available: String
            var period: String
            var periodEnd: String

            enum CodingKeys: String, CodingKey {
                case limit, posted, pending, available, period
                case periodEnd = "period_end"
            }
        }

        struct Output: Encodable {
            var team: String
            var timeZone: String
            var monthly: Line
            var daily: Line?
            var credit: Line?
            var available: String
            var alertThresholds: [Int]
            var alerts: [AlertLine]
            var forecast: BudgetForecast.Document

            enum CodingKeys: String, CodingKey {
                case team, monthly, daily, credit, available, alerts, forecast
                case timeZone = "time_zone"
                case alertThresholds = "alert_thresholds"
            }
        }

        struct AlertLine: Encodable {
            var kind: String
            var threshold: Int
            var spent: String
            var limit: String
            var at: String
        }

        func run() async throws {
            try await reportingErrors(json: json) {
                let status = try await database.openExisting().budgetStatus(team: team)
                let zone = status.team.timeZone
                let f = Money.format(micro:)
                let monthly = Line(
                    limit: f(status.budget.monthlyLimitMicro), posted: f(status.monthPostedMicro), pending: f(status.monthPendingMicro),
                    available: f(max(0, status.monthAvailableMicro)), period: status.periodMonth,
                    periodEnd: isoTimestamp(status.monthEndsAt, zone: zone))
                let daily = status.budget.dailyLimitMicro.map { limit in
                    Line(limit: f(limit), posted: f(status.dayPostedMicro), pending: f(status.dayPendingMicro),
                         available: f(max(0, status.dayAvailableMicro ?? 0)), period: status.periodDay,
                         periodEnd: isoTimestamp(status.dayEndsAt, zone: zone))
                }
                let credit = status.budget.creditMicro.map { limit in
                    Line(limit: f(limit), posted: f(status.creditPostedMicro), pending: f(status.creditPendingMicro),
                         available: f(max(0, status.creditAvailableMicro ?? 0)), period: "all time", periodEnd: "")
                }
                let alerts = status.alerts.map {
                    AlertLine(kind: $0.kind.rawValue, threshold: $0.thresholdPercent, spent: f($0.spentMicro), limit: f($0.limitMicro), at: isoTimestamp($0.createdAt))
                }
                let forecast = status.forecast.document(zoneIdentifier: zone)
                if json {
                    try printJSON(Output(
                        team: status.team.name, timeZone: zone, monthly: monthly, daily: daily, credit: credit,
                        available: f(status.availableMicro), alertThresholds: status.budget.alertThresholds, alerts: alerts,
                        forecast: forecast))
                    return
                }
                print("team \(status.team.name) (\(zone))")
                var table = TextTable(["limit", "period", "limit USD", "posted", "pending", "available", "period ends"], rightAligned: [2, 3, 4, 5])
                table.add(["monthly", monthly.period, monthly.limit, monthly.posted, monthly.pending, monthly.available, monthly.periodEnd])
                if let daily { table.add(["daily", daily.period, daily.limit, daily.posted, daily.pending, daily.available, daily.periodEnd]) }
                if let credit { table.add(["credit", credit.period, credit.limit, credit.posted, credit.pending, credit.available, "-"]) }
                print(table.render())
                print("available for a new hold: \(f(status.availableMicro)) USD")
                print("forecast: \(forecast.projectedMonthEnd) USD by the end of \(status.periodMonth) at \(forecast.ratePerDay) USD/day "
                    + "(run rate since \(forecast.windowStart)); monthly budget "
                    + (forecast.exhaustedOn.map { "runs out on \($0)" } ?? "lasts the month")
                    + (status.budget.dailyLimitMicro == nil ? "" : "; daily budget " + (forecast.dailyExhaustedAt.map { "runs out at \($0)" } ?? "lasts the day")))
                let reached = alerts.filter { $0.kind == Alert.Kind.threshold.rawValue }.map { "\($0.threshold)% (at \($0.spent) USD, \($0.at))" }
                print("alerts at \(status.budget.alertThresholds.map { "\($0)%" }.joined(separator: ", ")); reached this month: \(reached.isEmpty ? "none" : reached.joined(separator: ", "))")
                if let projected = status.alerts.first(where: { $0.kind == .projectedOverrun }) {
                    print("projected_overrun recorded \(isoTimestamp(projected.createdAt)): the projection (\(f(projected.projectedMicro ?? 0)) USD) passed the monthly limit")
                }
            }
        }
    }
}

import Foundation
import VideoMeter

/// A monthly report with every amount preformatted as a decimal string: what the JSON output
/// encodes and what the Mustache templates see.
///
/// Amounts are dollars with 6 decimal places (`"12.345600"`, exact micro-dollars); invoice amounts have
/// the display scale of their price list (`"0.788"`, `"0.42"`). Counts are integers. Property names are the template variables (camelCase);
/// JSON uses the same names in snake_case.
public struct ReportView: Encodable, Sendable {
    public var month: String
    public var timeZone: String
    public var generatedAt: String
    public var currency = "USD"
    public var roundingRule: String
    /// How `--timezone` changes what the sections count, or `nil` without it.
    public var timeZoneNote: String?
    public var isEmpty: Bool
    public var emptyMessage: String
    public var teams: [TeamView]
    public var allTeams: TeamView
    /// `true` when there are several teams, so the combined section is worth showing.
    public var showAllTeams: Bool
    /// What the templates loop over: every team, then all teams together when there are several.
    public var sections: [TeamView]
    /// The month-end forecast of every team whose month is in progress, for the summary at the top.
    public var forecasts: [ForecastRow]
    public var hasForecasts: Bool

    enum CodingKeys: String, CodingKey {
        case month, timeZone, timeZoneNote, generatedAt, currency, roundingRule, isEmpty, emptyMessage, teams, allTeams
    }

    /// One team's forecast, preformatted (``BudgetForecast``).
    public struct ForecastRow: Encodable, Sendable {
        public var team: String
        public var charged: String
        public var monthlyLimit: String?
        public var projectedMonthEnd: String
        public var runRatePerDay: String
        public var windowStart: String
        public var exhaustedOn: String?
        public var projectsOverrun: Bool
        /// `over the limit`, `within the limit`, or `no budget`.
        public var status: String

        init?(_ report: TeamReport) {
            guard let forecast = report.forecast else { return nil }
            team = report.team
            charged = ReportView.money(forecast.postedMicro)
            monthlyLimit = forecast.monthlyLimitMicro.map(ReportView.money)
            projectedMonthEnd = ReportView.money(forecast.projectedMonthEndMicro)
            runRatePerDay = ReportView.money(forecast.ratePerDayMicro)
            windowStart = ReportView.iso(forecast.windowStart / 1000)
            exhaustedOn = report.forecastExhaustedOn
            projectsOverrun = forecast.projectsOverrun
            status = forecast.monthlyLimitMicro == nil ? "no budget" : forecast.projectsOverrun ? "over the limit" : "within the limit"
        }
    }

    public init(_ report: MonthlyReport) {
        month = report.month.description
        timeZone = report.commonTimeZone ?? "each team's own"
        timeZoneNote = report.timeZoneOverride.map {
            "Usage, daily spend and invoices are counted in the calendar month in \($0) (--timezone); budgets and alerts stay in each team's own budget month, as the ledger counts them."
        }
        generatedAt = Self.iso(report.generatedAt)
        roundingRule = "Invoice lines are rounded to the display scale and rule of the price list that priced them (each invoice says which), then summed; every other amount is exact to the micro-dollar (6 places)."
        isEmpty = report.isEmpty
        emptyMessage = report.isEmpty ? "No activity in \(report.month): no requests were metered and nothing is open." : ""
        teams = report.teams.map { TeamView($0, topCallerLimit: report.topCallerLimit) }
        allTeams = TeamView(report.allTeams, topCallerLimit: report.topCallerLimit)
        showAllTeams = report.teams.count > 1
        sections = showAllTeams ? teams + [allTeams] : teams
        forecasts = report.teams.compactMap(ForecastRow.init)
        hasForecasts = !forecasts.isEmpty
    }

    /// Seconds since 1970 as `2026-11-01T00:00:00Z`, with integer arithmetic (a date formatter per
    /// timestamp costs more than the rest of a section).
    static func iso(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date algorithms").
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-\(two(month))-\(two(day))T"
            + "\(two(secondOfDay / 3_600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }

    static func money(_ micro: MicroUSD) -> String { Money.format(micro: micro) }
}

/// One team's section (or all teams'), preformatted.
public struct TeamView: Encodable, Sendable {
    public struct Outcome: Encodable, Sendable {
        public var outcome: String
        public var label: String
        public var count: Int64
    }

    public struct Line: Encodable, Sendable {
        public var provider, model, resolution: String
        public var requests, succeeded, failed, timedOut, cancelled, expired, rejected, unknown: Int64
        public var seconds: Int64
        public var charged, upstreamCost, margin: String
        /// The line rounded as its invoice line is, and that minus the exact charge.
        public var invoiceAmount, roundingDifference: String
    }

    public struct Day: Encodable, Sendable {
        public var date: String
        public var requests: Int64
        public var charged: String
    }

    public struct Budget: Encodable, Sendable {
        /// The budget month and the team's zone it is counted in (the ledger's period).
        public var month, timeZone: String
        public var monthlyLimit: String
        public var dailyLimit: String?
        public var credit: String?
        /// Posted in the budget month.
        public var used: String
        /// Still held (pending) in the budget month.
        public var pending: String
        /// Posted / monthly limit, in percent with one decimal (`"42.5"`), rounded down.
        public var usedPercent: String
        /// Monthly limit - posted - pending: what can still be held.
        public var remaining: String
        public var thresholds: String
    }

    public struct Alert: Encodable, Sendable {
        public var team: String
        public var thresholdPercent: Int
        public var recordedAt: String
        public var spent: String?
    }

    public struct Caller: Encodable, Sendable {
        public var rank: Int
        public var team, caller: String
        public var requests: Int64
        public var charged: String
    }

    /// A seller's own reported cost beside the computed one; amounts as decimal strings of USD to
    /// 10 places (the sellers' ticks are 10^-10 USD).
    public struct SellerCostLine: Encodable, Sendable {
        public var provider: String
        public var calls: Int64
        public var absorbed, reportedCharged, computedCharged, difference: String
    }

    public struct Open: Encodable, Sendable {
        public var kind, label, team: String
        public var holdId: Int64
        public var idempotencyKey, provider, model: String
        public var amount: String
        public var createdAt: String
    }

    public struct Version: Encodable, Sendable {
        public var version: String
        public var requests: Int64
        public var charged: String
    }

    public struct Invoice: Encodable, Sendable {
        public struct Line: Encodable, Sendable {
            public var provider, model, resolution: String
            public var requests, seconds: Int64
            public var exact, invoiced, difference: String
            /// Decimal places and rule the line was rounded with (`half_up`), and a sentence saying why.
            public var scale: Int
            public var rule: String
            public var rounding: String
            /// The price lists that priced the line's charged calls; those the catalog does not know.
            public var priceLists: [String]
            public var unknownPriceLists: [String]
        }
        public var lines: [Line]
        public var invoicedTotal: String
        public var ledgerTotal: String
        public var linesTotal: String
        public var difference: String
        public var linesMatchLedger: Bool
        public var explanation: String
    }

    public var team, timeZone, periodStart, periodEnd: String
    /// What a reader must know to read the section right (time zones), or `nil`.
    public var note: String?
    public var hasActivity: Bool
    public var requests: Int64
    public var outcomes: [Outcome]
    public var succeeded, failed, timedOut, cancelled, expired, rejected, unknown: Int64
    public var secondsGenerated: Int64
    public var charged, upstreamCost, margin: String
    public var lines: [Line]
    public var daily: [Day]
    public var budget: Budget?
    public var alerts: [Alert]
    public var topCallers: [Caller]
    public var openItems: [Open]
    public var catalogVersions: [Version]
    public var invoice: Invoice
    public var sellerCosts: [SellerCostLine]
    /// For templates: whether the lists above have entries (Mustache has no "non-empty" test).
    public var hasAlerts, hasTopCallers, hasOpenItems, hasCatalogVersions, hasInvoiceLines, hasSellerCosts: Bool
    /// Chart geometry for the HTML template (not in the JSON output).
    public var charts: Charts
    /// The month-end forecast while the month is in progress, else nil (absent from the JSON).
    public var forecast: ReportView.ForecastRow?

    enum CodingKeys: String, CodingKey {
        case team, timeZone, periodStart, periodEnd, note, hasActivity, requests, outcomes
        case succeeded, failed, timedOut, cancelled, expired, rejected, unknown
        case secondsGenerated, charged, upstreamCost, margin, lines, daily, budget, alerts
        case topCallers, openItems, catalogVersions, invoice, sellerCosts, forecast
    }

    init(_ report: TeamReport, topCallerLimit: Int) {
        let money = ReportView.money
        team = report.team
        timeZone = report.timeZone
        periodStart = ReportView.iso(report.periodStart)
        periodEnd = ReportView.iso(report.periodEnd)
        note = report.note
        hasActivity = report.hasActivity
        let counts = report.outcomes
        requests = counts.total
        outcomes = UsageOutcome.allCases.map {
            Outcome(outcome: $0.rawValue, label: $0.rawValue.replacingOccurrences(of: "_", with: " "), count: counts[$0])
        }
        succeeded = counts[.succeeded]
        failed = counts[.failed]
        timedOut = counts[.timedOut]
        cancelled = counts[.cancelled]
        expired = counts[.expired]
        rejected = counts[.rejected]
        unknown = counts[.unknown]
        secondsGenerated = report.secondsGenerated
        charged = money(report.chargedMicro)
        upstreamCost = money(report.upstreamCostMicro)
        margin = money(report.marginMicro)
        let statement = report.invoice
        let invoiceLines = Dictionary(statement.allLines.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        lines = report.lines.map { line in
            let invoiceLine = invoiceLines[line.key]
            return Line(
                provider: line.provider, model: line.model, resolution: line.resolution,
                requests: line.outcomes.total, succeeded: line.outcomes[.succeeded], failed: line.outcomes[.failed],
                timedOut: line.outcomes[.timedOut], cancelled: line.outcomes[.cancelled], expired: line.outcomes[.expired],
                rejected: line.outcomes[.rejected], unknown: line.outcomes[.unknown], seconds: line.seconds,
                charged: money(line.chargedMicro), upstreamCost: money(line.upstreamCostMicro), margin: money(line.marginMicro),
                invoiceAmount: invoiceLine?.formattedRounded ?? money(line.chargedMicro),
                roundingDifference: InvoiceStatement.formatSigned(invoiceLine?.differenceMicro ?? 0)
            )
        }
        daily = report.daily.map { Day(date: $0.date, requests: $0.requests, charged: money($0.chargedMicro)) }
        budget = report.budget.map { budget in
            let used = budget.postedMicro
            let permille = budget.monthlyLimitMicro > 0 ? used * 1000 / budget.monthlyLimitMicro : 0
            return Budget(
                month: budget.month, timeZone: budget.timeZone,
                monthlyLimit: money(budget.monthlyLimitMicro), dailyLimit: budget.dailyLimitMicro.map(money),
                credit: budget.creditMicro.map(money), used: money(used), pending: money(budget.pendingMicro),
                usedPercent: "\(permille / 10).\(permille % 10)",
                remaining: money(budget.monthlyLimitMicro - used - budget.pendingMicro),
                thresholds: budget.thresholds.map { "\($0) %" }.joined(separator: ", ")
            )
        }
        alerts = report.alerts.map {
            Alert(team: $0.team, thresholdPercent: $0.thresholdPercent, recordedAt: ReportView.iso($0.recordedAt), spent: $0.spentMicro.map(money))
        }
        topCallers = report.topCallers.prefix(topCallerLimit).enumerated().map { index, caller in
            Caller(rank: index + 1, team: caller.team, caller: caller.caller, requests: caller.requests, charged: money(caller.chargedMicro))
        }
        openItems = report.openItems.map { item in
            let label = switch item.kind {
            case .openHold: "open hold"
            case .unknown: "unknown outcome"
            case .lateSuccess: "late success"
            }
            return Open(
                kind: item.kind.rawValue, label: label, team: item.team, holdId: item.holdID,
                idempotencyKey: item.idempotencyKey, provider: item.provider, model: item.model,
                amount: money(item.amountMicro), createdAt: ReportView.iso(item.createdAt)
            )
        }
        catalogVersions = report.catalogVersions.map { Version(version: $0.version, requests: $0.requests, charged: money($0.chargedMicro)) }
        invoice = Invoice(
            lines: statement.lines.map {
                Invoice.Line(
                    provider: $0.provider, model: $0.model, resolution: $0.resolution, requests: $0.requests,
                    seconds: $0.seconds, exact: money($0.exactMicro), invoiced: $0.formattedRounded,
                    difference: InvoiceStatement.formatSigned($0.differenceMicro),
                    scale: $0.rounding.scale, rule: $0.rounding.rule.rawValue,
                    rounding: statement.teamTotals.isEmpty ? InvoiceStatement.roundingReason($0) : "sum of the team lines",
                    priceLists: $0.priceLists, unknownPriceLists: $0.unknownPriceLists
                )
            },
            invoicedTotal: statement.formattedInvoicedTotal,
            ledgerTotal: money(statement.ledgerTotalMicro),
            linesTotal: money(statement.exactTotalMicro),
            difference: InvoiceStatement.formatSigned(statement.differenceMicro),
            linesMatchLedger: statement.linesMatchLedger,
            explanation: statement.explanation
        )
        charts = Charts(report)
        forecast = ReportView.ForecastRow(report)
        hasAlerts = !alerts.isEmpty
        hasTopCallers = !topCallers.isEmpty
        sellerCosts = report.sellerCosts.map { cost in
            SellerCostLine(
                provider: cost.provider, calls: cost.calls, absorbed: SellerCost.dollars(ticks: cost.absorbedTicks),
                reportedCharged: SellerCost.dollars(ticks: cost.reportedChargedTicks),
                computedCharged: SellerCost.dollars(ticks: cost.computedChargedMicro * SellerCost.ticksPerMicro),
                difference: (cost.differenceTicks > 0 ? "+" : "") + SellerCost.dollars(ticks: cost.differenceTicks))
        }
        hasSellerCosts = !sellerCosts.isEmpty
        hasOpenItems = !openItems.isEmpty
        hasCatalogVersions = !catalogVersions.isEmpty
        hasInvoiceLines = !invoice.lines.isEmpty
    }
}

import Foundation
import VideoMeter
import VideoMeterLedger

/// How a metered call ended, as the usage events record it.
public enum UsageOutcome: String, Sendable, CaseIterable, Codable {
    case succeeded
    case failed
    case timedOut = "timed_out"
    case cancelled
    case expired
    case rejected
    /// Sent, but no answer came back; also any status this version of the report does not know.
    case unknown

    /// Maps a ledger status to an outcome; statuses this version does not know count as `unknown`.
    public init(ledgerStatus: String) {
        self = UsageOutcome(rawValue: ledgerStatus) ?? .unknown
    }
}

/// Requests counted by how they ended.
public struct OutcomeCounts: Sendable, Hashable {
    public var counts: [UsageOutcome: Int64] = [:]

    public init(_ counts: [UsageOutcome: Int64] = [:]) { self.counts = counts }

    public subscript(outcome: UsageOutcome) -> Int64 {
        get { counts[outcome, default: 0] }
        set { counts[outcome] = newValue }
    }

    /// All requests, whatever their outcome.
    public var total: Int64 { counts.values.reduce(0, +) }

    public static func + (lhs: Self, rhs: Self) -> Self {
        Self(lhs.counts.merging(rhs.counts, uniquingKeysWith: +))
    }
}

/// Usage of one provider / model / resolution in a period: the unit of the breakdown and the invoice.
public struct UsageLine: Sendable, Hashable {
    public var provider: String
    public var model: String
    public var resolution: String
    public var outcomes: OutcomeCounts
    /// Seconds of video billed on successful calls.
    public var seconds: Int64
    public var chargedMicro: MicroUSD
    public var upstreamCostMicro: MicroUSD
    public var marginMicro: MicroUSD
    /// Calls that were charged (posted).
    public var postedRequests: Int64
    /// What each price list (catalog version) charged on this line; zero for a list that priced
    /// only calls that were not charged.
    public var chargedByVersion: [String: MicroUSD]

    public init(
        provider: String, model: String, resolution: String, outcomes: OutcomeCounts, seconds: Int64,
        chargedMicro: MicroUSD, upstreamCostMicro: MicroUSD, marginMicro: MicroUSD,
        postedRequests: Int64 = 0, chargedByVersion: [String: MicroUSD] = [:]
    ) {
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.outcomes = outcomes
        self.seconds = seconds
        self.chargedMicro = chargedMicro
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.postedRequests = postedRequests
        self.chargedByVersion = chargedByVersion
    }

    /// The line's identity: provider, model and resolution.
    public var key: String { "\(provider)\u{1F}\(model)\u{1F}\(resolution)" }

    /// The price lists whose rounding applies to the line on an invoice: those that charged
    /// something, or every list that priced a call when nothing was charged.
    public var invoicePriceLists: [String] {
        let charging = chargedByVersion.filter { $0.value != 0 }.keys
        return (charging.isEmpty ? Array(chargedByVersion.keys) : Array(charging)).sorted()
    }
}

/// Requests and spend on one local day.
public struct DailySpend: Sendable, Hashable {
    /// `YYYY-MM-DD` in the period's time zone.
    public var date: String
    public var requests: Int64
    public var chargedMicro: MicroUSD

    public init(date: String, requests: Int64, chargedMicro: MicroUSD) {
        self.date = date
        self.requests = requests
        self.chargedMicro = chargedMicro
    }
}

/// A team's budget and how much of it its budget month used, as the ledger counts it.
///
/// The budget month is always the team's own (its time zone), whatever `--timezone` says: it is the
/// period the ledger's limits and alerts apply to.
public struct BudgetUse: Sendable, Hashable {
    public var monthlyLimitMicro: MicroUSD
    public var dailyLimitMicro: MicroUSD?
    public var creditMicro: MicroUSD?
    /// Alert thresholds configured, in percent.
    public var thresholds: [Int]
    /// The budget month, `YYYY-MM`, and the team's time zone it is counted in.
    public var month: String
    public var timeZone: String
    /// Posted and still-held amounts of the budget month (the ledger's `balance`).
    public var postedMicro: MicroUSD
    public var pendingMicro: MicroUSD

    public init(
        monthlyLimitMicro: MicroUSD, dailyLimitMicro: MicroUSD?, creditMicro: MicroUSD?, thresholds: [Int],
        month: String, timeZone: String, postedMicro: MicroUSD, pendingMicro: MicroUSD
    ) {
        self.monthlyLimitMicro = monthlyLimitMicro
        self.dailyLimitMicro = dailyLimitMicro
        self.creditMicro = creditMicro
        self.thresholds = thresholds
        self.month = month
        self.timeZone = timeZone
        self.postedMicro = postedMicro
        self.pendingMicro = pendingMicro
    }
}

/// A soft threshold that was crossed in the period.
public struct AlertCrossed: Sendable, Hashable {
    public var team: String
    public var thresholdPercent: Int
    /// When it was recorded (seconds since 1970, UTC).
    public var recordedAt: Int64
    /// What had been spent (posted + pending) when it was recorded, when the ledger says.
    public var spentMicro: MicroUSD?

    public init(team: String, thresholdPercent: Int, recordedAt: Int64, spentMicro: MicroUSD?) {
        self.team = team
        self.thresholdPercent = thresholdPercent
        self.recordedAt = recordedAt
        self.spentMicro = spentMicro
    }
}

/// A key (or caller) and what it spent.
public struct CallerSpend: Sendable, Hashable {
    public var team: String
    /// The API key label or caller id the usage events carry; `(none)` when they carry none.
    public var caller: String
    public var requests: Int64
    public var chargedMicro: MicroUSD

    public init(team: String, caller: String, requests: Int64, chargedMicro: MicroUSD) {
        self.team = team
        self.caller = caller
        self.requests = requests
        self.chargedMicro = chargedMicro
    }
}

/// Something the ledger cannot settle on its own and a person should look at.
public struct OpenItem: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A hold still pending: money reserved, the call not settled yet.
        case openHold = "open_hold"
        /// The request was sent but no answer came back; held until reconciled or expired.
        case unknown
        /// A task that succeeded after its hold had expired: delivered, never charged.
        case lateSuccess = "late_success"
    }

    public var kind: Kind
    public var team: String
    public var holdID: Int64
    public var idempotencyKey: String
    public var provider: String
    public var model: String
    /// Held (open hold, unknown) or the price of the delivered video (late success).
    public var amountMicro: MicroUSD
    /// When the hold was taken (seconds since 1970, UTC).
    public var createdAt: Int64

    public init(
        kind: Kind, team: String, holdID: Int64, idempotencyKey: String, provider: String, model: String,
        amountMicro: MicroUSD, createdAt: Int64
    ) {
        self.kind = kind
        self.team = team
        self.holdID = holdID
        self.idempotencyKey = idempotencyKey
        self.provider = provider
        self.model = model
        self.amountMicro = amountMicro
        self.createdAt = createdAt
    }
}

/// A price list that priced calls in the period.
public struct CatalogVersionUse: Sendable, Hashable {
    public var version: String
    public var requests: Int64
    public var chargedMicro: MicroUSD

    public init(version: String, requests: Int64, chargedMicro: MicroUSD) {
        self.version = version
        self.requests = requests
        self.chargedMicro = chargedMicro
    }
}

/// One team's month (or all teams together).
public struct TeamReport: Sendable {
    /// The team's name; `all teams` for the combined section.
    public var team: String
    /// The IANA time zone whose calendar month this is.
    public var timeZone: String
    /// The UTC instants of the period (seconds since 1970), start inclusive, end exclusive.
    public var periodStart: Int64
    public var periodEnd: Int64
    /// One line per provider / model / resolution, largest charge first.
    public var lines: [UsageLine]
    /// Every local day of the month, zero-filled.
    public var daily: [DailySpend]
    public var budget: BudgetUse?
    public var alerts: [AlertCrossed]
    /// The callers that spent most, largest first.
    public var topCallers: [CallerSpend]
    public var openItems: [OpenItem]
    public var catalogVersions: [CatalogVersionUse]
    /// The charged total computed by the ledger's own SUM over the period, independently of `lines`.
    public var ledgerChargedMicro: MicroUSD
    /// The invoice statement: lines rounded to their price lists' display scale, then summed.
    public var invoice: InvoiceStatement
    /// Something a reader must know to read the section right (a time-zone override, teams in
    /// several zones), or `nil`.
    public var note: String?
    /// Per seller that reports its own cost (xAI), what it said the calls cost it beside what
    /// VideoMeter computed, and what it billed for calls the team was not charged for.
    public var sellerCosts: [SellerCost] = []
    /// Where the month's charged spend is heading, when the report is made during the month (nil
    /// for a month that has ended or not begun): the run rate of the last seven local days of
    /// the section's daily spend, as ``BudgetForecast`` defines it.
    public var forecast: BudgetForecast?
    /// The local date of ``BudgetForecast/monthlyExhaustedAt``, in the section's zone.
    public var forecastExhaustedOn: String?
    /// The index in ``daily`` of the day the forecast was made on.
    public var forecastToday: Int?

    public init(
        team: String, timeZone: String, periodStart: Int64, periodEnd: Int64, lines: [UsageLine],
        daily: [DailySpend], budget: BudgetUse?, alerts: [AlertCrossed], topCallers: [CallerSpend],
        openItems: [OpenItem], catalogVersions: [CatalogVersionUse], ledgerChargedMicro: MicroUSD,
        invoiceRoundings: InvoiceRoundings = InvoiceRoundings(), note: String? = nil
    ) {
        self.team = team
        self.timeZone = timeZone
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.lines = lines
        self.daily = daily
        self.budget = budget
        self.alerts = alerts
        self.topCallers = topCallers
        self.openItems = openItems
        self.catalogVersions = catalogVersions
        self.ledgerChargedMicro = ledgerChargedMicro
        self.invoice = InvoiceStatement(lines: lines, ledgerTotalMicro: ledgerChargedMicro, roundings: invoiceRoundings)
        self.note = note
    }

    public var outcomes: OutcomeCounts { lines.reduce(OutcomeCounts()) { $0 + $1.outcomes } }
    public var requests: Int64 { outcomes.total }
    public var secondsGenerated: Int64 { lines.reduce(0) { $0 + $1.seconds } }
    public var chargedMicro: MicroUSD { lines.reduce(0) { $0 + $1.chargedMicro } }
    public var upstreamCostMicro: MicroUSD { lines.reduce(0) { $0 + $1.upstreamCostMicro } }
    public var marginMicro: MicroUSD { lines.reduce(0) { $0 + $1.marginMicro } }
    public var hasActivity: Bool { requests > 0 || !openItems.isEmpty }
}

/// What one seller reported its calls cost it (xAI's `usage.cost_in_usd_ticks`, in 10^-10 USD),
/// beside the upstream cost VideoMeter computed: a reseller sees the loss before the invoice.
public struct SellerCost: Sendable, Equatable {
    public var provider: String
    /// Calls whose cost the seller reported.
    public var calls: Int64
    /// The seller's cost of calls the team was not charged for (a moderation block, a failure the
    /// seller bills): absorbed by whoever pays the seller.
    public var absorbedTicks: Int64
    /// The seller's cost of the calls that were charged.
    public var reportedChargedTicks: Int64
    /// The upstream cost VideoMeter computed for those charged calls.
    public var computedChargedMicro: MicroUSD

    /// Ticks per micro-dollar.
    public static let ticksPerMicro: Int64 = 10_000

    /// What the seller reported for the charged calls less what VideoMeter computed, in ticks
    /// (exact: a micro-dollar is 10,000 ticks). Positive: the seller bills more than was priced.
    public var differenceTicks: Int64 { reportedChargedTicks - computedChargedMicro * Self.ticksPerMicro }

    /// Ticks as exact dollars, with ten decimal places.
    public static func dollars(ticks: Int64) -> String {
        Money.format(Decimal(ticks) / Decimal(sign: .plus, exponent: 10, significand: 1), scale: 10)
    }

    static func merged(_ costs: [SellerCost]) -> [SellerCost] {
        var byProvider: [String: SellerCost] = [:]
        for cost in costs {
            var merged = byProvider[cost.provider] ?? SellerCost(provider: cost.provider, calls: 0, absorbedTicks: 0, reportedChargedTicks: 0, computedChargedMicro: 0)
            merged.calls += cost.calls
            merged.absorbedTicks += cost.absorbedTicks
            merged.reportedChargedTicks += cost.reportedChargedTicks
            merged.computedChargedMicro += cost.computedChargedMicro
            byProvider[cost.provider] = merged
        }
        return byProvider.values.sorted { $0.provider < $1.provider }
    }
}

/// A monthly usage report: one section per team and one for all teams together.
public struct MonthlyReport: Sendable {
    public var month: ReportMonth
    /// The time zone given with `--timezone`, or `nil` when each team's own zone was used.
    public var timeZoneOverride: String?
    /// When the report was built (seconds since 1970, UTC).
    public var generatedAt: Int64
    public var teams: [TeamReport]
    /// How many callers `topCallers` keeps per team.
    public var topCallerLimit: Int

    public init(month: ReportMonth, timeZoneOverride: String?, generatedAt: Int64, teams: [TeamReport], topCallerLimit: Int = 10) {
        self.month = month
        self.timeZoneOverride = timeZoneOverride
        self.generatedAt = generatedAt
        self.teams = teams
        self.topCallerLimit = topCallerLimit
    }

    /// `true` when no team made a request or left anything open in the period.
    public var isEmpty: Bool { !teams.contains { $0.hasActivity } }

    /// The time zone the whole report is in: the override, else the one zone every team shares,
    /// else `nil` (each team's own; see ``allTeams``' note).
    public var commonTimeZone: String? {
        if let timeZoneOverride { return timeZoneOverride }
        let zones = Set(teams.map(\.timeZone))
        return zones.count == 1 ? zones.first : nil
    }

    /// All teams together: sums of the team sections, each over its own period; days merged by
    /// local date, lines merged by provider / model / resolution, and the invoice the sum of the
    /// team invoices (merged lines are not rounded again).
    public var allTeams: TeamReport {
        var lines: [String: UsageLine] = [:]
        var order: [String] = []
        var daily: [String: DailySpend] = [:]
        var versions: [String: CatalogVersionUse] = [:]
        for team in teams {
            for line in team.lines {
                if var merged = lines[line.key] {
                    merged.outcomes = merged.outcomes + line.outcomes
                    merged.seconds += line.seconds
                    merged.chargedMicro += line.chargedMicro
                    merged.upstreamCostMicro += line.upstreamCostMicro
                    merged.marginMicro += line.marginMicro
                    merged.postedRequests += line.postedRequests
                    merged.chargedByVersion.merge(line.chargedByVersion, uniquingKeysWith: +)
                    lines[line.key] = merged
                } else {
                    lines[line.key] = line
                    order.append(line.key)
                }
            }
            for day in team.daily {
                var merged = daily[day.date] ?? DailySpend(date: day.date, requests: 0, chargedMicro: 0)
                merged.requests += day.requests
                merged.chargedMicro += day.chargedMicro
                daily[day.date] = merged
            }
            for version in team.catalogVersions {
                var merged = versions[version.version] ?? CatalogVersionUse(version: version.version, requests: 0, chargedMicro: 0)
                merged.requests += version.requests
                merged.chargedMicro += version.chargedMicro
                versions[version.version] = merged
            }
        }
        let zones = Set(teams.map(\.timeZone)).sorted()
        var note: String?
        if commonTimeZone == nil {
            note = "The teams are in different time zones (\(zones.joined(separator: ", "))): every team counts its own "
                + "calendar month in its own zone, so this period runs from the earliest team's start to the latest "
                + "team's end, and each day adds up the teams' spend on that local date."
        }
        var all = TeamReport(
            team: "all teams",
            timeZone: commonTimeZone ?? "each team's own",
            periodStart: teams.map(\.periodStart).min() ?? 0,
            periodEnd: teams.map(\.periodEnd).max() ?? 0,
            lines: order.compactMap { lines[$0] }.sorted(by: UsageLine.bySpend),
            daily: daily.values.sorted { $0.date < $1.date },
            budget: nil,
            alerts: teams.flatMap(\.alerts),
            topCallers: Array(teams.flatMap(\.topCallers).sorted(by: CallerSpend.bySpend).prefix(topCallerLimit)),
            openItems: teams.flatMap(\.openItems),
            catalogVersions: versions.values.sorted { $0.version < $1.version },
            ledgerChargedMicro: teams.reduce(0) { $0 + $1.ledgerChargedMicro },
            note: note
        )
        all.invoice = InvoiceStatement(summing: teams.map { ($0.team, $0.invoice) }, ledgerTotalMicro: all.ledgerChargedMicro)
        all.sellerCosts = SellerCost.merged(teams.flatMap(\.sellerCosts))
        return all
    }
}

extension UsageLine {
    /// Largest charge first, then provider, model, resolution: a stable order for every format.
    static func bySpend(_ lhs: UsageLine, _ rhs: UsageLine) -> Bool {
        if lhs.chargedMicro != rhs.chargedMicro { return lhs.chargedMicro > rhs.chargedMicro }
        return (lhs.provider, lhs.model, lhs.resolution) < (rhs.provider, rhs.model, rhs.resolution)
    }
}

extension CallerSpend {
    static func bySpend(_ lhs: CallerSpend, _ rhs: CallerSpend) -> Bool {
        if lhs.chargedMicro != rhs.chargedMicro { return lhs.chargedMicro > rhs.chargedMicro }
        return (lhs.team, lhs.caller) < (rhs.team, rhs.caller)
    }
}

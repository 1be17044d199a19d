import Foundation
import VideoMeter
import VideoMeterLedger

/// Builds monthly reports from the aggregates a ledger store sums (``LedgerReporting``): the store
/// groups and sums the usage events; the builder only merges the grouped rows into report sections.
///
/// A call counts in the month in which its hold was granted, in the team's time zone unless another
/// is given — the rule the ledger's budgets use — so a team's charged total equals the ledger's
/// posted total for the same period. The builder checks that against the journal
/// (``TeamReport/ledgerChargedMicro``) on every run.
///
/// Everything one report reads (and its `--detail` rows) comes from one snapshot of the ledger
/// (``LedgerReporting/monthlyUsage(_:detail:)``), so a report of a live ledger is consistent: a hold
/// settling meanwhile is either wholly in it or wholly out. The builder never writes. The same
/// ledger in the SQLite store and in the PostgreSQL store gives the same report, byte for byte
/// apart from the time it was generated.
public struct MonthlyReportBuilder: Sendable {
    /// The ledger (read only).
    public let store: any LedgerReporting
    /// How many callers each team's "top callers" table keeps.
    public var topCallerLimit = 10
    /// The display scale and rounding rule of each price list, for the invoice statements. Price
    /// lists missing here are invoiced at ``InvoiceRounding/fallback`` and the invoice says so.
    public var invoiceRoundings: InvoiceRoundings
    /// Stamps a report's generation time.
    public let clock: any WallClock

    /// Reads `store`: a ledger store, or a read-only ``LedgerSnapshot``.
    public init(store: any LedgerReporting, invoiceRoundings: InvoiceRoundings = InvoiceRoundings(), clock: any WallClock = SystemWallClock()) {
        self.store = store
        self.invoiceRoundings = invoiceRoundings
        self.clock = clock
    }

    /// Reads `ledger`, on the ledger's clock.
    public init(ledger: any LedgerStore, invoiceRoundings: InvoiceRoundings = InvoiceRoundings()) {
        self.init(store: ledger, invoiceRoundings: invoiceRoundings, clock: ledger.clock)
    }

    /// Builds the report for `month`, for one team or (when `team` is nil) for every team.
    ///
    /// - Parameters:
    ///   - timeZone: an IANA identifier to use for every team instead of each team's own zone.
    ///   - now: stamped on the report as its generation time (the builder's clock unless given).
    ///   - detail: when given, receives the per-call usage CSV (``writeUsageDetail(month:team:timeZone:_:)``)
    ///     in chunks, read in the same snapshot as the report.
    /// - Throws: ``ReportError`` `unknown_team`, `invalid_time_zone`.
    public func build(
        month: ReportMonth, team: String? = nil, timeZone: String? = nil, now: Date? = nil,
        detail: (@Sendable (String) throws -> Void)? = nil
    ) async throws -> MonthlyReport {
        if let timeZone { _ = try ReportPeriod.timeZone(named: timeZone) }
        let generatedAt = Int64((now ?? clock.now()).timeIntervalSince1970.rounded(.down))
        let writer = detail.map { DetailCSV(write: $0) }
        let usage = try await read(month: month, team: team, timeZone: timeZone, detail: writer)
        try writer?.finish()
        var sections: [TeamReport] = []
        for group in usage.groups {
            sections += Self.sections(
                group, month: month, roundings: invoiceRoundings, topCallerLimit: topCallerLimit, overridden: timeZone != nil,
                now: generatedAt)
        }
        sections.sort { $0.team < $1.team }
        return MonthlyReport(
            month: month, timeZoneOverride: timeZone, generatedAt: generatedAt,
            teams: sections, topCallerLimit: topCallerLimit
        )
    }

    /// The store's aggregates; its `unknown_team` becomes the report's.
    func read(month: ReportMonth, team: String?, timeZone: String?, detail: DetailCSV?) async throws -> MonthlyUsage {
        let request = MonthlyUsageRequest(year: month.year, month: month.month, team: team, timeZone: timeZone)
        var rows: (@Sendable (UsageDetailRow) throws -> Void)?
        if let detail { rows = { row in try detail.append(row) } }
        do {
            return try await store.monthlyUsage(request, detail: rows)
        } catch let error as LedgerError where error.code == "unknown_team" {
            throw ReportError.unknownTeam(team ?? "")
        }
    }

    static func sections(
        _ group: MonthlyUsage.Group, month: ReportMonth, roundings: InvoiceRoundings, topCallerLimit: Int, overridden: Bool, now: Int64
    ) -> [TeamReport] {
        let period = ReportPeriod(group.period, month: month)
        var rows = group.usage.map { usage in
            let posted = usage.outcome == "posted"
            return AggregateRow(
                teamID: usage.teamID, provider: usage.provider, model: usage.model, resolution: usage.resolution,
                status: usage.status, catalogVersion: usage.catalogVersion, day: usage.day, requests: usage.requests,
                posted: posted ? usage.requests : 0, seconds: posted ? usage.seconds : 0, charged: usage.chargedMicro,
                upstreamCost: usage.upstreamCostMicro)
        }
        let callerRows = group.callers.map { ($0.teamID, $0.caller ?? "(unattributed)", $0.requests, $0.chargedMicro) }
        let totals = group.ledgerChargedMicro
        var sellerCosts: [Int64: [SellerCost]] = [:]
        for cost in group.sellerCosts {
            sellerCosts[cost.teamID, default: []].append(SellerCost(
                provider: cost.provider, calls: cost.calls, absorbedTicks: cost.absorbedTicks,
                reportedChargedTicks: cost.reportedChargedTicks, computedChargedMicro: cost.computedChargedMicro))
        }
        var items: [(Int64, OpenItem)] = []
        for hold in group.openHolds {
            let unknown = MonthlyUsage.isUnknown(callStatus: hold.callStatus, upstreamTaskID: hold.upstreamTaskID)
            items.append((hold.teamID, OpenItem(
                kind: unknown ? .unknown : .openHold, team: "", holdID: hold.holdID, idempotencyKey: hold.idempotencyKey,
                provider: hold.provider, model: hold.model, amountMicro: hold.amountMicro, createdAt: hold.createdAt / 1000
            )))
            if unknown {
                // Counted among the requests as `unknown`: uncharged, still held.
                rows.append(AggregateRow(
                    teamID: hold.teamID, provider: hold.provider, model: hold.model, resolution: hold.resolution,
                    status: UsageOutcome.unknown.rawValue, catalogVersion: hold.catalogVersion, day: hold.day,
                    requests: 1, posted: 0, seconds: 0, charged: 0, upstreamCost: 0
                ))
            }
        }
        for late in group.lateSuccesses {
            items.append((late.teamID, OpenItem(
                kind: .lateSuccess, team: "", holdID: late.holdID, idempotencyKey: late.idempotencyKey, provider: late.provider,
                model: late.model, amountMicro: late.amountMicro, createdAt: late.createdAt / 1000
            )))
        }
        let alertRows = group.alerts.map { ($0.teamID, $0.thresholdPercent, $0.createdAt, $0.spentMicro) }
        let balances = group.balances.mapValues { ($0.postedMicro, $0.pendingMicro) }
        let teams = group.teams.map { team in
            TeamRow(
                id: team.id, name: team.name, timeZone: team.timeZone,
                limits: team.monthlyLimitMicro.map { ($0, team.dailyLimitMicro, team.creditMicro, team.thresholds) })
        }
        let zoneName = group.zoneName

        let rowsByTeam = Dictionary(grouping: rows, by: \.teamID)
        let callersByTeam = Dictionary(grouping: callerRows, by: \.0)
        let itemsByTeam = Dictionary(grouping: items, by: \.0)
        let alertsByTeam = Dictionary(grouping: alertRows, by: \.0)
        return teams.map { team in
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
            if overridden && team.timeZone != zoneName {
                note = "Usage, daily spend and the invoice are counted in \(month) in \(zoneName) (--timezone); "
                    + "the budget and its alerts are the team's budget month, \(month) in \(team.timeZone), as the ledger counts them."
            }
            var section = TeamReport(
                team: team.name,
                timeZone: zoneName,
                periodStart: period.start,
                periodEnd: period.end,
                lines: lines.values.sorted(by: UsageLine.bySpend),
                daily: period.days.enumerated().map {
                    DailySpend(date: $1.date, requests: dayRequests[$0], chargedMicro: dayCharged[$0])
                },
                budget: team.limits.map {
                    BudgetUse(
                        monthlyLimitMicro: $0.monthly, dailyLimitMicro: $0.daily, creditMicro: $0.credit, thresholds: $0.thresholds,
                        month: month.description, timeZone: team.timeZone, postedMicro: balance.0, pendingMicro: balance.1
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

    /// A team as the report needs it.
    struct TeamRow: Sendable {
        var id: Int64
        var name: String
        var timeZone: String
        var limits: (monthly: MicroUSD, daily: MicroUSD?, credit: MicroUSD?, thresholds: [Int])?
    }

    struct AggregateRow: Sendable {
        var teamID: Int64, provider: String, model: String, resolution: String, status: String, catalogVersion: String
        var day: Int, requests: Int64, posted: Int64, seconds: Int64, charged: MicroUSD, upstreamCost: MicroUSD
    }
}

import Foundation
import VideoMeter

/// The ledger's audit as a value: it replays the journal and checks every stored row against it,
/// without I/O. Each store reads its tables in one snapshot and feeds them here, so `verify()`
/// finds the same problems, in the same words, on SQLite and on PostgreSQL.
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
public struct LedgerAudit: Sendable {
    /// A `journalEntry` row, as the audit reads it.
    public struct JournalRow: Sendable {
        public var id: Int64
        public var kind: String
        public var teamID: Int64
        public var holdID: Int64?
        public var amountMicro: MicroUSD
        public var releasedMicro: MicroUSD
        public var periodMonth: String?
        public var periodDay: String?
        public var monthlyLimitMicro: MicroUSD?
        public var dailyLimitMicro: MicroUSD?
        public var creditLimitMicro: MicroUSD?
        public var createdAt: Int64

        public init(id: Int64, kind: String, teamID: Int64, holdID: Int64?, amountMicro: MicroUSD, releasedMicro: MicroUSD, periodMonth: String?, periodDay: String?, monthlyLimitMicro: MicroUSD?, dailyLimitMicro: MicroUSD?, creditLimitMicro: MicroUSD?, createdAt: Int64) {
            self.id = id
            self.kind = kind
            self.teamID = teamID
            self.holdID = holdID
            self.amountMicro = amountMicro
            self.releasedMicro = releasedMicro
            self.periodMonth = periodMonth
            self.periodDay = periodDay
            self.monthlyLimitMicro = monthlyLimitMicro
            self.dailyLimitMicro = dailyLimitMicro
            self.creditLimitMicro = creditLimitMicro
            self.createdAt = createdAt
        }
    }

    /// A `balance` row.
    public struct BalanceRow: Sendable {
        public var teamID: Int64
        public var scope: String
        public var periodKey: String
        public var postedMicro: MicroUSD
        public var pendingMicro: MicroUSD

        public init(teamID: Int64, scope: String, periodKey: String, postedMicro: MicroUSD, pendingMicro: MicroUSD) {
            self.teamID = teamID
            self.scope = scope
            self.periodKey = periodKey
            self.postedMicro = postedMicro
            self.pendingMicro = pendingMicro
        }
    }

    /// The columns of a `hold` row the audit checks.
    public struct HoldRow: Sendable {
        public var id: Int64
        public var teamID: Int64
        public var amountMicro: MicroUSD
        public var postedMicro: MicroUSD
        public var state: String
        public var periodMonth: String
        public var periodDay: String
        public var countsAgainstCredit: Bool

        public init(id: Int64, teamID: Int64, amountMicro: MicroUSD, postedMicro: MicroUSD, state: String, periodMonth: String, periodDay: String, countsAgainstCredit: Bool) {
            self.id = id
            self.teamID = teamID
            self.amountMicro = amountMicro
            self.postedMicro = postedMicro
            self.state = state
            self.periodMonth = periodMonth
            self.periodDay = periodDay
            self.countsAgainstCredit = countsAgainstCredit
        }
    }

    /// The columns of a `usageEvent` row the audit checks.
    public struct UsageRow: Sendable {
        public var holdID: Int64
        public var teamID: Int64
        public var heldMicro: MicroUSD
        public var chargedMicro: MicroUSD
        public var outcome: String

        public init(holdID: Int64, teamID: Int64, heldMicro: MicroUSD, chargedMicro: MicroUSD, outcome: String) {
            self.holdID = holdID
            self.teamID = teamID
            self.heldMicro = heldMicro
            self.chargedMicro = chargedMicro
            self.outcome = outcome
        }
    }

    /// A `budget` row's credit.
    public struct BudgetRow: Sendable {
        public var teamID: Int64
        public var creditMicro: MicroUSD?

        public init(teamID: Int64, creditMicro: MicroUSD?) {
            self.teamID = teamID
            self.creditMicro = creditMicro
        }
    }

    /// An `alert` row.
    public struct AlertRow: Sendable {
        public var id: Int64
        public var teamID: Int64
        public var periodMonth: String
        public var kind: String
        public var thresholdPercent: Int64
        public var limitMicro: MicroUSD
        public var spentMicro: MicroUSD
        public var projectedMicro: MicroUSD?

        public init(id: Int64, teamID: Int64, periodMonth: String, kind: String, thresholdPercent: Int64, limitMicro: MicroUSD, spentMicro: MicroUSD, projectedMicro: MicroUSD?) {
            self.id = id
            self.teamID = teamID
            self.periodMonth = periodMonth
            self.kind = kind
            self.thresholdPercent = thresholdPercent
            self.limitMicro = limitMicro
            self.spentMicro = spentMicro
            self.projectedMicro = projectedMicro
        }
    }

    struct BalanceKey: Hashable, Comparable, Sendable {
        var teamID: Int64
        var scope: String
        var key: String
        static func < (a: Self, b: Self) -> Bool { (a.teamID, a.scope, a.key) < (b.teamID, b.scope, b.key) }
        var label: String { "team \(teamID) \(scope) \(key.isEmpty ? "(all time)" : key)" }
    }

    struct Sums: Equatable, Sendable {
        var posted: MicroUSD = 0
        var pending: MicroUSD = 0
    }

    private var problems: [String] = []
    private var sums: [BalanceKey: Sums] = [:]
    private var credit: [Int64: MicroUSD] = [:]
    private struct Granted: Sendable { var teamID: Int64; var amount: MicroUSD; var month: String; var day: String; var credit: Bool; var createdAt: Int64 }
    private var granted: [Int64: Granted] = [:]
    private var resolution: [Int64: (kind: String, posted: MicroUSD)] = [:]
    private var entries = 0

    public init() {}

    /// Replays one journal entry; feed them in id order.
    public mutating func journal(_ entry: JournalRow) {
        entries += 1
        let id = entry.id
        let kind = entry.kind
        let teamID = entry.teamID
        let amount = entry.amountMicro
        let released = entry.releasedMicro
        let holdID = entry.holdID
        switch kind {
        case "credit":
            credit[teamID, default: 0] += amount
        case "hold":
            guard let holdID else { problems.append("journal entry \(id): a hold entry without a hold id"); return }
            if granted[holdID] != nil { problems.append("hold \(holdID): granted twice in the journal"); return }
            let month = entry.periodMonth ?? ""
            let day = entry.periodDay ?? ""
            let monthKey = BalanceKey(teamID: teamID, scope: "month", key: month)
            let dayKey = BalanceKey(teamID: teamID, scope: "day", key: day)
            let creditKey = BalanceKey(teamID: teamID, scope: "credit", key: "")
            if let limit = entry.monthlyLimitMicro {
                let used = sums[monthKey, default: Sums()]
                if used.posted + used.pending + amount > limit {
                    problems.append("hold \(holdID): granted past the monthly limit (\(Money.format(micro: used.posted + used.pending + amount)) > \(Money.format(micro: limit)) USD in \(month))")
                }
            } else {
                problems.append("hold \(holdID): granted without a monthly limit")
            }
            if let limit = entry.dailyLimitMicro {
                let used = sums[dayKey, default: Sums()]
                if used.posted + used.pending + amount > limit {
                    problems.append("hold \(holdID): granted past the daily limit (\(Money.format(micro: used.posted + used.pending + amount)) > \(Money.format(micro: limit)) USD on \(day))")
                }
            }
            let creditLimit = entry.creditLimitMicro
            if let creditLimit {
                if creditLimit != credit[teamID, default: 0] {
                    problems.append("hold \(holdID): recorded credit \(Money.format(micro: creditLimit)) USD differs from the credit journaled so far (\(Money.format(micro: credit[teamID, default: 0])) USD)")
                }
                let used = sums[creditKey, default: Sums()]
                if used.posted + used.pending + amount > creditLimit {
                    problems.append("hold \(holdID): granted past the team's credit (\(Money.format(micro: used.posted + used.pending + amount)) > \(Money.format(micro: creditLimit)) USD)")
                }
                sums[creditKey, default: Sums()].pending += amount
            }
            sums[monthKey, default: Sums()].pending += amount
            sums[dayKey, default: Sums()].pending += amount
            granted[holdID] = Granted(
                teamID: teamID, amount: amount, month: month, day: day, credit: creditLimit != nil, createdAt: entry.createdAt)
        case "post", "void", "expire":
            guard let holdID, let grant = granted[holdID] else {
                problems.append("journal entry \(id): \(kind) of a hold that was never granted before it")
                return
            }
            if let first = resolution[holdID] {
                problems.append("hold \(holdID): resolved twice (\(first.kind), then \(kind))")
                return
            }
            if teamID != grant.teamID {
                problems.append("hold \(holdID): granted to team \(grant.teamID) but resolved by an entry of team \(teamID)")
            }
            if kind != "post" && amount != 0 { problems.append("hold \(holdID): a \(kind) entry charges \(Money.format(micro: amount)) USD") }
            if amount > grant.amount {
                problems.append("hold \(holdID): posted \(Money.format(micro: amount)) USD, more than the \(Money.format(micro: grant.amount)) USD held")
            }
            if amount + released != grant.amount {
                problems.append("hold \(holdID): posted + released (\(Money.format(micro: amount + released))) differs from held (\(Money.format(micro: grant.amount))) USD")
            }
            resolution[holdID] = (kind, amount)
            var keys = [
                BalanceKey(teamID: grant.teamID, scope: "month", key: grant.month),
                BalanceKey(teamID: grant.teamID, scope: "day", key: grant.day),
            ]
            if grant.credit { keys.append(BalanceKey(teamID: grant.teamID, scope: "credit", key: "")) }
            for key in keys {
                sums[key, default: Sums()].pending -= grant.amount
                sums[key, default: Sums()].posted += amount
            }
        default:
            problems.append("journal entry \(id): unknown kind '\(kind)'")
        }
    }

    /// The report, once every journal entry has been replayed: the stored rows against the journal.
    ///
    /// - Parameter teamZones: each team's IANA zone, by id.
    public func report(
        balances: [BalanceRow], holds holdRows: [HoldRow], usageEvents: [UsageRow], teamZones: [Int64: String],
        budgets: [BudgetRow], alerts: [AlertRow]
    ) -> VerifyReport {
        var problems = self.problems
        // Stored balances against the recomputed sums.
        var stored: [BalanceKey: Sums] = [:]
        for row in balances {
            stored[BalanceKey(teamID: row.teamID, scope: row.scope, key: row.periodKey)] =
                Sums(posted: row.postedMicro, pending: row.pendingMicro)
        }
        for key in Set(stored.keys).union(sums.keys).sorted() {
            let expected = sums[key] ?? Sums()
            let actual = stored[key] ?? Sums()
            if expected != actual {
                problems.append("balance \(key.label): stored posted \(Money.format(micro: actual.posted)) / pending \(Money.format(micro: actual.pending)) USD, journal says \(Money.format(micro: expected.posted)) / \(Money.format(micro: expected.pending)) USD")
            }
            if actual.pending < 0 { problems.append("balance \(key.label): negative pending amount") }
        }

        // Hold rows against the journal, and usage events against resolutions.
        var usage: [Int64: UsageRow] = [:]
        var usageCount = 0
        for row in usageEvents {
            usageCount += 1
            let holdID = row.holdID
            if usage[holdID] != nil { problems.append("hold \(holdID): more than one usage event") }
            usage[holdID] = row
        }
        let zones = teamZones
        let periods = PeriodCache()
        for row in holdRows {
            let id = row.id
            let amount = row.amountMicro
            let posted = row.postedMicro
            let state = row.state
            guard let grant = granted[id] else { problems.append("hold \(id): no hold entry in the journal"); continue }
            if grant.amount != amount { problems.append("hold \(id): row holds \(Money.format(micro: amount)) USD, journal \(Money.format(micro: grant.amount)) USD") }
            let rowTeam = row.teamID
            let rowMonth = row.periodMonth
            let rowDay = row.periodDay
            let rowCredit = row.countsAgainstCredit
            if rowTeam != grant.teamID || rowMonth != grant.month || rowDay != grant.day || rowCredit != grant.credit {
                problems.append("hold \(id): row says team \(rowTeam), \(rowMonth) / \(rowDay), credit \(rowCredit); journal says team \(grant.teamID), \(grant.month) / \(grant.day), credit \(grant.credit)")
            }
            if let zone = zones[grant.teamID] {
                let period = periods.period(at: grant.createdAt, zoneIdentifier: zone)
                if period.month != grant.month || period.day != grant.day {
                    problems.append("hold \(id): granted at \(grant.createdAt) ms, which is \(period.month) / \(period.day) in \(zone), but counted in \(grant.month) / \(grant.day)")
                }
            } else {
                problems.append("hold \(id): granted to team \(grant.teamID), which does not exist")
            }
            let expectedState: String
            switch resolution[id]?.kind {
            case nil: expectedState = "pending"
            case "post": expectedState = "posted"
            case "void": expectedState = "voided"
            default: expectedState = "expired"
            }
            let expectedPosted = resolution[id]?.posted ?? 0
            if state != expectedState || posted != expectedPosted {
                problems.append("hold \(id): row says \(state) with \(Money.format(micro: posted)) USD posted, journal says \(expectedState) with \(Money.format(micro: expectedPosted)) USD")
            }
            if let event = usage[id] {
                if event.teamID != grant.teamID {
                    problems.append("hold \(id): usage event of team \(event.teamID), hold of team \(grant.teamID)")
                }
                if expectedState == "pending" {
                    problems.append("hold \(id): pending but has a usage event")
                } else if event.heldMicro != amount || event.chargedMicro != expectedPosted
                    || event.outcome != expectedState {
                    problems.append("hold \(id): usage event (\(event.outcome), charged \(Money.format(micro: event.chargedMicro))) differs from the journal (\(expectedState), \(Money.format(micro: expectedPosted)))")
                }
            } else if expectedState != "pending" {
                problems.append("hold \(id): \(expectedState) but has no usage event")
            }
        }
        if holdRows.count != granted.count {
            problems.append("the journal grants \(granted.count) holds but the hold table has \(holdRows.count)")
        }
        for holdID in usage.keys where granted[holdID] == nil {
            problems.append("usage event for hold \(holdID), which the journal never granted")
        }

        for row in budgets {
            let teamID = row.teamID
            let stored = row.creditMicro
            let journaled = credit[teamID]
            if stored != journaled {
                problems.append("team \(teamID): budget credit \(stored.map { Money.format(micro: $0) } ?? "none") differs from the credit journaled (\(journaled.map { Money.format(micro: $0) } ?? "none"))")
            }
        }
        for row in alerts {
            let limit = row.limitMicro
            let spent = row.spentMicro
            if row.kind == Alert.Kind.projectedOverrun.rawValue {
                let projected = row.projectedMicro
                if (projected ?? 0) <= limit {
                    problems.append("alert \(row.id): team \(row.teamID) \(row.periodMonth) projected_overrun, but the projection \(projected.map { Money.format(micro: $0) } ?? "none") does not pass the limit \(Money.format(micro: limit)) USD")
                }
                continue
            }
            let threshold = row.thresholdPercent
            if !AlertRule.reached(spentMicro: spent, limitMicro: limit, threshold: threshold) {
                problems.append("alert \(row.id): team \(row.teamID) \(row.periodMonth) at \(threshold) %, but \(Money.format(micro: spent)) USD spent is below \(threshold) % of \(Money.format(micro: limit)) USD")
            }
        }
        return VerifyReport(journalEntries: entries, holds: holdRows.count, usageEvents: usageCount, problems: problems)
    }
}

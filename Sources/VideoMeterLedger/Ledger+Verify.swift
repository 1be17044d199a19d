import Foundation
import GRDB
import VideoMeter

/// What ``Ledger/verify()`` found: counts, and one sentence per problem (empty when consistent).
public struct VerifyReport: Sendable, Equatable {
    public var journalEntries: Int
    public var holds: Int
    public var usageEvents: Int
    public var problems: [String]

    public var isConsistent: Bool { problems.isEmpty }
}

extension Ledger {
    /// Recomputes every balance from the journal and checks every invariant, in one read snapshot:
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
    public func verify() async throws -> VerifyReport {
        try await writer.read { db in try Self.verify(db) }
    }

    struct BalanceKey: Hashable, Comparable {
        var teamID: Int64
        var scope: String
        var key: String
        static func < (a: Self, b: Self) -> Bool { (a.teamID, a.scope, a.key) < (b.teamID, b.scope, b.key) }
        var label: String { "team \(teamID) \(scope) \(key.isEmpty ? "(all time)" : key)" }
    }

    struct Sums: Equatable {
        var posted: MicroUSD = 0
        var pending: MicroUSD = 0
    }

    static func verify(_ db: Database) throws -> VerifyReport {
        var problems: [String] = []
        var sums: [BalanceKey: Sums] = [:]
        var credit: [Int64: MicroUSD] = [:]
        struct Granted { var teamID: Int64; var amount: MicroUSD; var month: String; var day: String; var credit: Bool; var createdAt: Int64 }
        var granted: [Int64: Granted] = [:]
        var resolution: [Int64: (kind: String, posted: MicroUSD)] = [:]
        var entries = 0

        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM journalEntry ORDER BY id")
        while let row = try cursor.next() {
            entries += 1
            let id: Int64 = row["id"]
            let kind: String = row["kind"]
            let teamID: Int64 = row["teamID"]
            let amount: MicroUSD = row["amountMicro"]
            let released: MicroUSD = row["releasedMicro"]
            let holdID: Int64? = row["holdID"]
            switch kind {
            case "credit":
                credit[teamID, default: 0] += amount
            case "hold":
                guard let holdID else { problems.append("journal entry \(id): a hold entry without a hold id"); continue }
                if granted[holdID] != nil { problems.append("hold \(holdID): granted twice in the journal"); continue }
                let month: String = row["periodMonth"] ?? ""
                let day: String = row["periodDay"] ?? ""
                let monthKey = BalanceKey(teamID: teamID, scope: "month", key: month)
                let dayKey = BalanceKey(teamID: teamID, scope: "day", key: day)
                let creditKey = BalanceKey(teamID: teamID, scope: "credit", key: "")
                if let limit: MicroUSD = row["monthlyLimitMicro"] {
                    let used = sums[monthKey, default: Sums()]
                    if used.posted + used.pending + amount > limit {
                        problems.append("hold \(holdID): granted past the monthly limit (\(Money.format(micro: used.posted + used.pending + amount)) > \(Money.format(micro: limit)) USD in \(month))")
                    }
                } else {
                    problems.append("hold \(holdID): granted without a monthly limit")
                }
                if let limit: MicroUSD = row["dailyLimitMicro"] {
                    let used = sums[dayKey, default: Sums()]
                    if used.posted + used.pending + amount > limit {
                        problems.append("hold \(holdID): granted past the daily limit (\(Money.format(micro: used.posted + used.pending + amount)) > \(Money.format(micro: limit)) USD on \(day))")
                    }
                }
                let creditLimit: MicroUSD? = row["creditLimitMicro"]
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
                    teamID: teamID, amount: amount, month: month, day: day, credit: creditLimit != nil, createdAt: row["createdAt"])
            case "post", "void", "expire":
                guard let holdID, let grant = granted[holdID] else {
                    problems.append("journal entry \(id): \(kind) of a hold that was never granted before it")
                    continue
                }
                if let first = resolution[holdID] {
                    problems.append("hold \(holdID): resolved twice (\(first.kind), then \(kind))")
                    continue
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

        // Stored balances against the recomputed sums.
        var stored: [BalanceKey: Sums] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM balance") {
            stored[BalanceKey(teamID: row["teamID"], scope: row["scope"], key: row["periodKey"])] =
                Sums(posted: row["postedMicro"], pending: row["pendingMicro"])
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
        var usage: [Int64: Row] = [:]
        var usageCount = 0
        for row in try Row.fetchAll(db, sql: "SELECT holdID, teamID, heldMicro, chargedMicro, outcome FROM usageEvent") {
            usageCount += 1
            let holdID: Int64 = row["holdID"]
            if usage[holdID] != nil { problems.append("hold \(holdID): more than one usage event") }
            usage[holdID] = row
        }
        var zones: [Int64: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, timeZone FROM team") { zones[row["id"]] = row["timeZone"] }
        let periods = PeriodCache()
        let holdRows = try Row.fetchAll(db, sql: """
            SELECT id, teamID, amountMicro, postedMicro, state, periodMonth, periodDay, countsAgainstCredit FROM hold
            """)
        for row in holdRows {
            let id: Int64 = row["id"]
            let amount: MicroUSD = row["amountMicro"]
            let posted: MicroUSD = row["postedMicro"]
            let state: String = row["state"]
            guard let grant = granted[id] else { problems.append("hold \(id): no hold entry in the journal"); continue }
            if grant.amount != amount { problems.append("hold \(id): row holds \(Money.format(micro: amount)) USD, journal \(Money.format(micro: grant.amount)) USD") }
            let rowTeam: Int64 = row["teamID"]
            let rowMonth: String = row["periodMonth"]
            let rowDay: String = row["periodDay"]
            let rowCredit: Bool = row["countsAgainstCredit"]
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
                if (event["teamID"] as Int64) != grant.teamID {
                    problems.append("hold \(id): usage event of team \(event["teamID"] as Int64), hold of team \(grant.teamID)")
                }
                if expectedState == "pending" {
                    problems.append("hold \(id): pending but has a usage event")
                } else if (event["heldMicro"] as MicroUSD) != amount || (event["chargedMicro"] as MicroUSD) != expectedPosted
                    || (event["outcome"] as String) != expectedState {
                    problems.append("hold \(id): usage event (\(event["outcome"] as String), charged \(Money.format(micro: event["chargedMicro"]))) differs from the journal (\(expectedState), \(Money.format(micro: expectedPosted)))")
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

        for row in try Row.fetchAll(db, sql: "SELECT teamID, creditMicro FROM budget") {
            let teamID: Int64 = row["teamID"]
            let stored: MicroUSD? = row["creditMicro"]
            let journaled = credit[teamID]
            if stored != journaled {
                problems.append("team \(teamID): budget credit \(stored.map { Money.format(micro: $0) } ?? "none") differs from the credit journaled (\(journaled.map { Money.format(micro: $0) } ?? "none"))")
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro FROM alert") {
            let limit: MicroUSD = row["limitMicro"]
            let spent: MicroUSD = row["spentMicro"]
            if row["kind"] as String == Alert.Kind.projectedOverrun.rawValue {
                let projected: MicroUSD? = row["projectedMicro"]
                if (projected ?? 0) <= limit {
                    problems.append("alert \(row["id"] as Int64): team \(row["teamID"] as Int64) \(row["periodMonth"] as String) projected_overrun, but the projection \(projected.map { Money.format(micro: $0) } ?? "none") does not pass the limit \(Money.format(micro: limit)) USD")
                }
                continue
            }
            let threshold: Int64 = row["thresholdPercent"]
            let (lhs, o1) = spent.multipliedReportingOverflow(by: 100)
            let (rhs, o2) = limit.multipliedReportingOverflow(by: threshold)
            if o1 || o2 || lhs < rhs {
                problems.append("alert \(row["id"] as Int64): team \(row["teamID"] as Int64) \(row["periodMonth"] as String) at \(threshold) %, but \(Money.format(micro: spent)) USD spent is below \(threshold) % of \(Money.format(micro: limit)) USD")
            }
        }
        return VerifyReport(journalEntries: entries, holds: holdRows.count, usageEvents: usageCount, problems: problems)
    }
}

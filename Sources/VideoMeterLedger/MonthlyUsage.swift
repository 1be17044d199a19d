import Foundation
import VideoMeter

/// What ``LedgerReporting/monthlyUsage(_:detail:)`` reads: one calendar month, for one team or
/// every team, in each team's own zone or in one zone for all.
public struct MonthlyUsageRequest: Sendable, Hashable {
    public var year: Int
    public var month: Int
    /// One team by name, or every team when nil.
    public var team: String?
    /// An IANA identifier, already checked by the caller, to count every team's month in instead of
    /// each team's own zone (`report --timezone`); nil: each team's budget month.
    public var timeZone: String?

    public init(year: Int, month: Int, team: String? = nil, timeZone: String? = nil) {
        self.year = year
        self.month = month
        self.team = team
        self.timeZone = timeZone
    }

    /// `YYYY-MM`.
    public var monthText: String { LocalMonth.text(year: year, month: month) }
}

/// A month of usage as the ledger sums it: per group of teams whose month starts and ends at the
/// same instants (in the same zone name), everything a monthly report is built from. Teams are
/// referred to by id; ``Group/teams`` names them.
public struct MonthlyUsage: Sendable, Equatable {
    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    /// A team as the report shows it: name, zone and budget limits (nil without a budget).
    public struct TeamBudget: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var timeZone: String
        public var monthlyLimitMicro: MicroUSD?
        public var dailyLimitMicro: MicroUSD?
        public var creditMicro: MicroUSD?
        /// The budget's alert thresholds in percent, as stored.
        public var thresholds: [Int]

        public init(
            id: Int64, name: String, timeZone: String, monthlyLimitMicro: MicroUSD?, dailyLimitMicro: MicroUSD?,
            creditMicro: MicroUSD?, thresholds: [Int]
        ) {
            self.id = id
            self.name = name
            self.timeZone = timeZone
            self.monthlyLimitMicro = monthlyLimitMicro
            self.dailyLimitMicro = dailyLimitMicro
            self.creditMicro = creditMicro
            self.thresholds = thresholds
        }
    }

    /// Usage events summed by team, local day, provider, model, resolution, status, price list
    /// and outcome.
    public struct Usage: Sendable, Equatable {
        public var teamID: Int64
        public var provider, model, resolution, status, catalogVersion, outcome: String
        /// Index into the period's days.
        public var day: Int
        public var requests: Int64
        /// `billedSeconds`, else `seconds`, summed.
        public var seconds: Int64
        public var chargedMicro: MicroUSD
        public var upstreamCostMicro: MicroUSD

        public init(
            teamID: Int64, provider: String, model: String, resolution: String, status: String, catalogVersion: String,
            outcome: String, day: Int, requests: Int64, seconds: Int64, chargedMicro: MicroUSD,
            upstreamCostMicro: MicroUSD
        ) {
            self.teamID = teamID
            self.provider = provider
            self.model = model
            self.resolution = resolution
            self.status = status
            self.catalogVersion = catalogVersion
            self.outcome = outcome
            self.day = day
            self.requests = requests
            self.seconds = seconds
            self.chargedMicro = chargedMicro
            self.upstreamCostMicro = upstreamCostMicro
        }
    }

    /// Spend per caller (the label the hold recorded); `caller` nil: calls with none recorded.
    public struct CallerUsage: Sendable, Equatable {
        public var teamID: Int64
        public var caller: String?
        public var requests: Int64
        public var chargedMicro: MicroUSD

        public init(teamID: Int64, caller: String?, requests: Int64, chargedMicro: MicroUSD) {
            self.teamID = teamID
            self.caller = caller
            self.requests = requests
            self.chargedMicro = chargedMicro
        }
    }

    /// Per team and seller, what the seller reported calls cost (ticks of 10^-10 USD), beside the
    /// computed upstream cost of the charged ones.
    public struct SellerCosts: Sendable, Equatable {
        public var teamID: Int64
        public var provider: String
        public var calls: Int64
        /// Reported costs of calls that were not charged (voided, expired).
        public var absorbedTicks: Int64
        /// Reported costs of charged calls.
        public var reportedChargedTicks: Int64
        /// The upstream cost VideoMeter computed for the charged calls.
        public var computedChargedMicro: MicroUSD

        public init(
            teamID: Int64, provider: String, calls: Int64, absorbedTicks: Int64, reportedChargedTicks: Int64,
            computedChargedMicro: MicroUSD
        ) {
            self.teamID = teamID
            self.provider = provider
            self.calls = calls
            self.absorbedTicks = absorbedTicks
            self.reportedChargedTicks = reportedChargedTicks
            self.computedChargedMicro = computedChargedMicro
        }
    }

    /// A hold still pending, granted in the period.
    public struct OpenHold: Sendable, Equatable {
        public var holdID: Int64
        public var teamID: Int64
        public var idempotencyKey: String
        public var provider, model, resolution, catalogVersion: String
        public var amountMicro: MicroUSD
        /// Milliseconds since 1970.
        public var createdAt: Int64
        public var callStatus: String
        public var upstreamTaskID: String?
        /// Index into the period's days.
        public var day: Int

        public init(
            holdID: Int64, teamID: Int64, idempotencyKey: String, provider: String, model: String, resolution: String,
            catalogVersion: String, amountMicro: MicroUSD, createdAt: Int64, callStatus: String, upstreamTaskID: String?,
            day: Int
        ) {
            self.holdID = holdID
            self.teamID = teamID
            self.idempotencyKey = idempotencyKey
            self.provider = provider
            self.model = model
            self.resolution = resolution
            self.catalogVersion = catalogVersion
            self.amountMicro = amountMicro
            self.createdAt = createdAt
            self.callStatus = callStatus
            self.upstreamTaskID = upstreamTaskID
            self.day = day
        }
    }

    /// A task that succeeded after its hold (granted in the period) was voided or expired.
    public struct LateSuccessItem: Sendable, Equatable {
        public var holdID: Int64
        public var teamID: Int64
        public var idempotencyKey: String
        public var provider, model: String
        public var amountMicro: MicroUSD
        /// When the hold was granted, milliseconds since 1970.
        public var createdAt: Int64

        public init(
            holdID: Int64, teamID: Int64, idempotencyKey: String, provider: String, model: String, amountMicro: MicroUSD,
            createdAt: Int64
        ) {
            self.holdID = holdID
            self.teamID = teamID
            self.idempotencyKey = idempotencyKey
            self.provider = provider
            self.model = model
            self.amountMicro = amountMicro
            self.createdAt = createdAt
        }
    }

    /// A threshold alert of a team's budget month.
    public struct ThresholdAlert: Sendable, Equatable {
        public var teamID: Int64
        public var thresholdPercent: Int
        /// Milliseconds since 1970.
        public var createdAt: Int64
        public var spentMicro: MicroUSD

        public init(teamID: Int64, thresholdPercent: Int, createdAt: Int64, spentMicro: MicroUSD) {
            self.teamID = teamID
            self.thresholdPercent = thresholdPercent
            self.createdAt = createdAt
            self.spentMicro = spentMicro
        }
    }

    /// Posted and pending sums of a team's budget month.
    public struct MonthBalance: Sendable, Equatable {
        public var postedMicro: MicroUSD
        public var pendingMicro: MicroUSD

        public init(postedMicro: MicroUSD, pendingMicro: MicroUSD) {
            self.postedMicro = postedMicro
            self.pendingMicro = pendingMicro
        }
    }

    /// Teams whose month starts and ends at the same instants, read together.
    public struct Group: Sendable, Equatable {
        public var period: LocalMonth
        /// The zone as the team or the request names it (Foundation calls UTC "GMT").
        public var zoneName: String
        /// `true` without a zone in the request: the teams' own months, by the ledger's stamps.
        public var byLedgerStamps: Bool
        /// By name.
        public var teams: [TeamBudget]
        public var usage: [Usage]
        public var callers: [CallerUsage]
        /// The ledger's own charged figure per team id, from the journal (or, by instants, the
        /// posted amounts the holds record), independent of the usage events.
        public var ledgerChargedMicro: [Int64: MicroUSD]
        public var sellerCosts: [SellerCosts]
        /// Oldest first (instant, then id).
        public var openHolds: [OpenHold]
        /// Oldest hold first.
        public var lateSuccesses: [LateSuccessItem]
        /// By threshold; of each team's own budget month.
        public var alerts: [ThresholdAlert]
        /// Each team's own budget month, by team id.
        public var balances: [Int64: MonthBalance]

        public var teamIDs: [Int64] { teams.map(\.id) }
    }
}

/// One usage event as the per-call detail (`report --detail`) lists it.
public struct UsageDetailRow: Sendable, Equatable {
    public var id: Int64
    public var holdID: Int64
    public var teamID: Int64
    /// The team's name.
    public var team: String
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var finishedAt: Int64
    /// The local date the call counts on: the ledger's stamp, or the day in the request's zone.
    public var localDate: String
    public var caller: String?
    public var idempotencyKey: String
    public var provider, model, resolution: String
    public var seconds: Int64
    public var billedSeconds: Int64?
    public var status, outcome: String
    public var heldMicro, chargedMicro, upstreamCostMicro, marginMicro: MicroUSD
    public var catalogVersion: String
    public var latencyMs: Int64?
    public var upstreamTaskID, upstreamRequestID: String?

    public init(
        id: Int64, holdID: Int64, teamID: Int64, team: String, createdAt: Int64, finishedAt: Int64, localDate: String,
        caller: String?, idempotencyKey: String, provider: String, model: String, resolution: String, seconds: Int64,
        billedSeconds: Int64?, status: String, outcome: String, heldMicro: MicroUSD, chargedMicro: MicroUSD,
        upstreamCostMicro: MicroUSD, marginMicro: MicroUSD, catalogVersion: String, latencyMs: Int64?,
        upstreamTaskID: String?, upstreamRequestID: String?
    ) {
        self.id = id
        self.holdID = holdID
        self.teamID = teamID
        self.team = team
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.localDate = localDate
        self.caller = caller
        self.idempotencyKey = idempotencyKey
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.seconds = seconds
        self.billedSeconds = billedSeconds
        self.status = status
        self.outcome = outcome
        self.heldMicro = heldMicro
        self.chargedMicro = chargedMicro
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.catalogVersion = catalogVersion
        self.latencyMs = latencyMs
        self.upstreamTaskID = upstreamTaskID
        self.upstreamRequestID = upstreamRequestID
    }
}

extension MonthlyUsage {
    /// The groups of a request: each team in its zone (or the request's), teams whose months start
    /// and end at the same instants in the same zone name together, in the order of `teams`.
    public static func groups(_ teams: [TeamBudget], _ request: MonthlyUsageRequest) -> [Group] {
        let override = request.timeZone.map { TimeZone(identifier: $0) ?? TimeZone(identifier: "UTC")! }
        var groups: [String: Group] = [:]
        var order: [String] = []
        for team in teams {
            let zone = override ?? TimeZone(identifier: team.timeZone) ?? TimeZone(identifier: "UTC")!
            let zoneName = request.timeZone ?? team.timeZone
            let period = LocalMonth(year: request.year, month: request.month, timeZone: zone)
            let key = "\(period.start)-\(period.end)-\(zoneName)"
            if groups[key] == nil {
                groups[key] = Group(
                    period: period, zoneName: zoneName, byLedgerStamps: override == nil, teams: [], usage: [], callers: [],
                    ledgerChargedMicro: [:], sellerCosts: [], openHolds: [], lateSuccesses: [], alerts: [], balances: [:])
                order.append(key)
            }
            groups[key]!.teams.append(team)
        }
        return order.map { groups[$0]! }
    }

    /// Alert thresholds as the budget stores them ("50,80,100").
    public static func thresholds(_ stored: String?) -> [Int] {
        (stored ?? "").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Whether a pending hold's outcome is unknown (sent, and no answer recorded): counted among
    /// the requests as `unknown` until reconciled or expired.
    public static func isUnknown(callStatus: String, upstreamTaskID: String?) -> Bool {
        callStatus == "unknown" || (callStatus == "submitted" && upstreamTaskID == nil)
    }
}

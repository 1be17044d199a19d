import Foundation
import GRDB
import VideoMeter

/// A team: the unit that budgets apply to. Periods are calendar months and days in `timeZone`.
public struct Team: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    /// An IANA identifier, `UTC` by default.
    public var timeZone: String
    /// Milliseconds since 1970.
    public var createdAt: Int64

    public init(
        id: Int64, name: String, timeZone: String, createdAt: Int64
    ) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.createdAt = createdAt
    }
}

/// What `budget set` changes. `nil` leaves a setting as it was (for a new budget: no daily limit,
/// no credit, thresholds 50, 80, 100).
public struct BudgetSettings: Sendable, Equatable {
    public var monthlyLimitMicro: MicroUSD
    /// `.some(nil)` removes the daily limit.
    public var dailyLimitMicro: MicroUSD??
    /// Prepaid credit to add (a top-up, recorded as a `credit` journal entry). Once a team has
    /// credit, every hold also counts against the remaining credit.
    public var creditTopUpMicro: MicroUSD?
    /// Percentages of the monthly limit that record an alert once per period.
    public var alertThresholds: [Int]?

    public init(monthlyLimitMicro: MicroUSD, dailyLimitMicro: MicroUSD?? = nil, creditTopUpMicro: MicroUSD? = nil, alertThresholds: [Int]? = nil) {
        self.monthlyLimitMicro = monthlyLimitMicro
        self.dailyLimitMicro = dailyLimitMicro
        self.creditTopUpMicro = creditTopUpMicro
        self.alertThresholds = alertThresholds
    }

    public static let defaultThresholds = [50, 80, 100]
}

/// A team's budget as stored.
public struct Budget: Sendable, Equatable, Codable {
    public var teamID: Int64
    public var monthlyLimitMicro: MicroUSD
    public var dailyLimitMicro: MicroUSD?
    /// All prepaid credit ever added; `nil` when the team has no credit limit.
    public var creditMicro: MicroUSD?
    public var alertThresholds: [Int]

    public init(
        teamID: Int64, monthlyLimitMicro: MicroUSD, dailyLimitMicro: MicroUSD?, creditMicro: MicroUSD?, alertThresholds: [Int]
    ) {
        self.teamID = teamID
        self.monthlyLimitMicro = monthlyLimitMicro
        self.dailyLimitMicro = dailyLimitMicro
        self.creditMicro = creditMicro
        self.alertThresholds = alertThresholds
    }
}

/// Everything a hold records about the call it pays for. The caller computes `fingerprint` from
/// the request parameters; the same key with another fingerprint is `idempotency_key_reused`.
public struct HoldRequest: Sendable, Equatable {
    public var team: String
    public var idempotencyKey: String
    public var fingerprint: String
    /// The quoted total to reserve.
    public var amountMicro: MicroUSD
    /// How long the hold lives before the sweeper may expire it.
    public var timeoutSeconds: Int64
    public var provider: String
    public var model: String
    public var resolution: String
    public var seconds: Int
    public var imageCount: Int
    public var catalogVersion: String
    /// The quote as JSON text (rates and lines as decimal strings).
    public var quoteJSON: String
    /// The amount by the quote's lines (``ChargeSplit``): the three must add up to `amountMicro`.
    public var upstreamCostMicro: MicroUSD
    public var marginMicro: MicroUSD
    public var flatFeeMicro: MicroUSD
    public var upstreamTaskID: String?
    public var upstreamRequestID: String?
    /// Whether the call goes out as soon as the hold is granted (a sync call): the hold is then
    /// recorded as `submitted` in the same commit, so a crash mid-request leaves a call whose
    /// outcome is unknown rather than one that looks as if it was never sent.
    public var submitted: Bool
    /// Who asks for the call (an API key's label, a user name), for the reports' top callers.
    public var caller: String?
    /// Whether the call is an async task: while its hold is pending it is one of the team's tasks
    /// in flight, which ``maxPendingAsync`` counts.
    public var async: Bool
    /// For an async call: the most tasks in flight the team may have, this one included. The store
    /// counts the team's pending async holds in the hold's own transaction, under the lock every
    /// hold of the team takes, and refuses with `too_many_pending_tasks` at the cap (so the cap
    /// holds across every process on the ledger). Nil: no cap.
    public var maxPendingAsync: Int?
    /// The settlement lease the caller takes on its own call, in the hold's transaction (a process
    /// that renews its leases, such as the gateway): until it lapses, no other process polls the
    /// call or treats it as abandoned. Nil: no lease (any reconciler may take the call over).
    public var settlementLease: SettlementLease.Claim?

    public init(
        team: String, idempotencyKey: String, fingerprint: String, amountMicro: MicroUSD, timeoutSeconds: Int64,
        provider: String, model: String, resolution: String, seconds: Int, imageCount: Int = 0,
        catalogVersion: String, quoteJSON: String, upstreamCostMicro: MicroUSD, marginMicro: MicroUSD, flatFeeMicro: MicroUSD = 0,
        upstreamTaskID: String? = nil, upstreamRequestID: String? = nil, submitted: Bool = false, caller: String? = nil,
        async: Bool = false, maxPendingAsync: Int? = nil, settlementLease: SettlementLease.Claim? = nil
    ) {
        self.settlementLease = settlementLease
        self.submitted = submitted
        self.caller = caller
        self.async = async
        self.maxPendingAsync = maxPendingAsync
        self.team = team
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.amountMicro = amountMicro
        self.timeoutSeconds = timeoutSeconds
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.seconds = seconds
        self.imageCount = imageCount
        self.catalogVersion = catalogVersion
        self.quoteJSON = quoteJSON
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.flatFeeMicro = flatFeeMicro
        self.upstreamTaskID = upstreamTaskID
        self.upstreamRequestID = upstreamRequestID
    }
}

/// A hold as stored: the metered call's durable record (`hold` table).
public struct Hold: Sendable, Equatable, Codable {
    public var id: Int64
    public var teamID: Int64
    public var idempotencyKey: String
    public var fingerprint: String
    public var amountMicro: MicroUSD
    public var postedMicro: MicroUSD
    public var state: HoldState
    public var callStatus: CallStatus
    public var provider: String
    public var model: String
    public var resolution: String
    public var seconds: Int
    public var imageCount: Int
    public var catalogVersion: String
    public var quoteJSON: String
    public var upstreamCostMicro: MicroUSD
    public var marginMicro: MicroUSD
    public var upstreamTaskID: String?
    public var upstreamRequestID: String?
    /// The team's month (`2026-11`) and day (`2026-11-21`) at grant time, in its zone.
    public var periodMonth: String
    public var periodDay: String
    public var countsAgainstCredit: Bool
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var deadline: Int64
    public var submittedAt: Int64?
    public var resolvedAt: Int64?
    /// Who asked for the call (an API key's label, a user name), for the reports' top callers.
    public var caller: String? = nil
    /// The seconds a posted call was charged for (the upstream's figure; `nil` until posted).
    public var billedSeconds: Int? = nil
    /// The flat fee line of the quote (0 on holds granted before ledger v4).
    public var flatFeeMicro: MicroUSD = 0
    /// What the seller reported the call cost it, in 10^-10 USD (v5; `nil`: not reported).
    public var sellerCostTicks: Int64? = nil
    /// The delivered video of a posted call (v5), as the upstream gave it.
    public var videoURL: String? = nil

    public init(
        id: Int64, teamID: Int64, idempotencyKey: String, fingerprint: String, amountMicro: MicroUSD, postedMicro: MicroUSD, state: HoldState, callStatus: CallStatus, provider: String, model: String, resolution: String, seconds: Int, imageCount: Int, catalogVersion: String, quoteJSON: String, upstreamCostMicro: MicroUSD, marginMicro: MicroUSD, upstreamTaskID: String?, upstreamRequestID: String?, periodMonth: String, periodDay: String, countsAgainstCredit: Bool, createdAt: Int64, deadline: Int64, submittedAt: Int64?, resolvedAt: Int64?, caller: String? = nil, billedSeconds: Int? = nil, flatFeeMicro: MicroUSD = 0, sellerCostTicks: Int64? = nil, videoURL: String? = nil
    ) {
        self.id = id
        self.teamID = teamID
        self.idempotencyKey = idempotencyKey
        self.fingerprint = fingerprint
        self.amountMicro = amountMicro
        self.postedMicro = postedMicro
        self.state = state
        self.callStatus = callStatus
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.seconds = seconds
        self.imageCount = imageCount
        self.catalogVersion = catalogVersion
        self.quoteJSON = quoteJSON
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.upstreamTaskID = upstreamTaskID
        self.upstreamRequestID = upstreamRequestID
        self.periodMonth = periodMonth
        self.periodDay = periodDay
        self.countsAgainstCredit = countsAgainstCredit
        self.createdAt = createdAt
        self.deadline = deadline
        self.submittedAt = submittedAt
        self.resolvedAt = resolvedAt
        self.caller = caller
        self.billedSeconds = billedSeconds
        self.flatFeeMicro = flatFeeMicro
        self.sellerCostTicks = sellerCostTicks
        self.videoURL = videoURL
    }

    /// The held amount by the quote's lines. On a hold granted before v4 whose price list had a
    /// flat fee, the fee is inside the margin: the parts still add up to the amount or less.
    public var split: ChargeSplit {
        ChargeSplit(upstreamCostMicro: upstreamCostMicro, marginMicro: marginMicro, flatFeeMicro: flatFeeMicro)
    }
}

extension Hold: FetchableRecord {
    public init(row: Row) throws {
        id = row["id"]
        teamID = row["teamID"]
        idempotencyKey = row["idempotencyKey"]
        fingerprint = row["fingerprint"]
        amountMicro = row["amountMicro"]
        postedMicro = row["postedMicro"]
        state = HoldState(rawValue: row["state"]) ?? .pending
        callStatus = CallStatus(rawValue: row["callStatus"]) ?? .unknown
        provider = row["provider"]
        model = row["model"]
        resolution = row["resolution"]
        seconds = row["seconds"]
        imageCount = row["imageCount"]
        catalogVersion = row["catalogVersion"]
        quoteJSON = row["quoteJSON"]
        upstreamCostMicro = row["upstreamCostMicro"]
        marginMicro = row["marginMicro"]
        upstreamTaskID = row["upstreamTaskID"]
        upstreamRequestID = row["upstreamRequestID"]
        periodMonth = row["periodMonth"]
        periodDay = row["periodDay"]
        countsAgainstCredit = row["countsAgainstCredit"]
        createdAt = row["createdAt"]
        deadline = row["deadline"]
        submittedAt = row["submittedAt"]
        resolvedAt = row["resolvedAt"]
        caller = row["caller"]
        billedSeconds = row["billedSeconds"]
        flatFeeMicro = row["flatFeeMicro"] ?? 0
        sellerCostTicks = row["sellerCostTicks"]
        videoURL = row["videoURL"]
    }
}

extension Hold {
    /// The columns ``init(columns:)`` reads, in its order.
    static let selection = """
        id, teamID, idempotencyKey, fingerprint, amountMicro, postedMicro, state, callStatus, provider, model, resolution,
        seconds, imageCount, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, upstreamTaskID, upstreamRequestID,
        periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, submittedAt, resolvedAt, caller, billedSeconds,
        flatFeeMicro, sellerCostTicks, videoURL
        """

    /// A hold read by position from `SELECT \(selection)`: the commit thread's fast path.
    init(columns row: Statement.Columns) {
        self.init(
            id: row.int64(0), teamID: row.int64(1), idempotencyKey: row.string(2), fingerprint: row.string(3),
            amountMicro: row.int64(4), postedMicro: row.int64(5), state: HoldState(rawValue: row.string(6)) ?? .pending,
            callStatus: CallStatus(rawValue: row.string(7)) ?? .unknown, provider: row.string(8), model: row.string(9),
            resolution: row.string(10), seconds: row.int(11), imageCount: row.int(12), catalogVersion: row.string(13),
            quoteJSON: row.string(14), upstreamCostMicro: row.int64(15), marginMicro: row.int64(16),
            upstreamTaskID: row.optionalString(17), upstreamRequestID: row.optionalString(18), periodMonth: row.string(19),
            periodDay: row.string(20), countsAgainstCredit: row.bool(21), createdAt: row.int64(22), deadline: row.int64(23),
            submittedAt: row.optionalInt64(24), resolvedAt: row.optionalInt64(25), caller: row.optionalString(26),
            billedSeconds: row.optionalInt64(27).map(Int.init), flatFeeMicro: row.int64(28), sellerCostTicks: row.optionalInt64(29),
            videoURL: row.optionalString(30))
    }
}

/// The answer to ``Ledger/hold(_:)``: the hold, and whether it was granted earlier under the same
/// idempotency key (a replay returns the first hold whatever state it is in now).
public struct HoldReceipt: Sendable, Equatable {
    public var hold: Hold
    public var replayed: Bool

    public init(
        hold: Hold, replayed: Bool
    ) {
        self.hold = hold
        self.replayed = replayed
    }
}

/// What the metering layer knows when a call finishes; copied into the call's usage event.
public struct Settlement: Sendable, Equatable {
    /// The call's final status; by default `succeeded` for a post and `failed` for a void.
    public var status: CallStatus?
    /// The seconds the upstream billed (its `duration_seconds`), when it says.
    public var billedSeconds: Int?
    /// The charged amount by the quote's lines (it must add up to the amount posted); by default
    /// the hold's split, shared out for a partial post (``ChargeSplit/share(postedMicro:heldMicro:)``),
    /// and zero for a void.
    public var split: ChargeSplit?
    /// From submission to the terminal answer.
    public var latencyMs: Int64?
    public var upstreamRequestID: String?
    /// What the seller reported the call cost it, in 10^-10 USD, when it says (xAI).
    public var sellerCostTicks: Int64?
    /// The delivered video (posts).
    public var videoURL: String?

    public init(
        status: CallStatus? = nil, billedSeconds: Int? = nil, split: ChargeSplit? = nil, latencyMs: Int64? = nil, upstreamRequestID: String? = nil,
        sellerCostTicks: Int64? = nil, videoURL: String? = nil
    ) {
        self.sellerCostTicks = sellerCostTicks
        self.videoURL = videoURL
        self.status = status
        self.billedSeconds = billedSeconds
        self.split = split
        self.latencyMs = latencyMs
        self.upstreamRequestID = upstreamRequestID
    }
}

/// A soft-threshold alert (`alert` table): one per team, month and threshold.
public struct Alert: Sendable, Equatable, Codable, FetchableRecord {
    /// What raised an alert.
    public enum Kind: String, Sendable, Codable {
        /// Posted spend reached `thresholdPercent` of the monthly limit.
        case threshold
        /// The month-end projection (``BudgetForecast``) first passed the monthly limit
        /// (`thresholdPercent` is 100).
        case projectedOverrun = "projected_overrun"
    }

    public var id: Int64
    public var teamID: Int64
    public var periodMonth: String
    public var kind: Kind
    public var thresholdPercent: Int
    public var limitMicro: MicroUSD
    /// Posted spend in the month when the threshold was crossed.
    public var spentMicro: MicroUSD
    /// For `projected_overrun`: the month-end projection when it was recorded.
    public var projectedMicro: MicroUSD?
    public var holdID: Int64?
    public var createdAt: Int64

    public init(
        id: Int64, teamID: Int64, periodMonth: String, kind: Kind, thresholdPercent: Int, limitMicro: MicroUSD, spentMicro: MicroUSD, projectedMicro: MicroUSD?, holdID: Int64?, createdAt: Int64
    ) {
        self.id = id
        self.teamID = teamID
        self.periodMonth = periodMonth
        self.kind = kind
        self.thresholdPercent = thresholdPercent
        self.limitMicro = limitMicro
        self.spentMicro = spentMicro
        self.projectedMicro = projectedMicro
        self.holdID = holdID
        self.createdAt = createdAt
    }
}

/// A task that succeeded upstream after its hold was voided or expired (`lateSuccess` table):
/// kept for review, never charged silently.
public struct LateSuccess: Sendable, Equatable, Codable, FetchableRecord {
    public var id: Int64
    public var holdID: Int64
    public var teamID: Int64
    public var holdState: String
    public var amountMicro: MicroUSD
    public var upstreamTaskID: String?
    public var upstreamRequestID: String?
    public var note: String?
    public var detectedAt: Int64

    public init(
        id: Int64, holdID: Int64, teamID: Int64, holdState: String, amountMicro: MicroUSD, upstreamTaskID: String?, upstreamRequestID: String?, note: String?, detectedAt: Int64
    ) {
        self.id = id
        self.holdID = holdID
        self.teamID = teamID
        self.holdState = holdState
        self.amountMicro = amountMicro
        self.upstreamTaskID = upstreamTaskID
        self.upstreamRequestID = upstreamRequestID
        self.note = note
        self.detectedAt = detectedAt
    }
}

/// One row per finished metered call (`usageEvent` table), what monthly reports read.
public struct UsageEvent: Sendable, Equatable, Codable, FetchableRecord {
    public var id: Int64
    public var holdID: Int64
    public var teamID: Int64
    public var idempotencyKey: String
    public var provider: String
    public var model: String
    public var resolution: String
    public var seconds: Int
    public var billedSeconds: Int?
    public var imageCount: Int
    public var status: String
    public var outcome: String
    public var heldMicro: MicroUSD
    public var chargedMicro: MicroUSD
    public var upstreamCostMicro: MicroUSD
    public var marginMicro: MicroUSD
    /// The flat fee in the charge (ledger v4; 0 before, when a post's margin included it).
    public var flatFeeMicro: MicroUSD = 0
    /// What the seller reported the call cost it, in 10^-10 USD (v5; `nil`: not reported).
    public var sellerCostTicks: Int64? = nil
    public var catalogVersion: String
    public var latencyMs: Int64?
    public var upstreamTaskID: String?
    public var upstreamRequestID: String?
    public var periodMonth: String
    public var periodDay: String
    public var createdAt: Int64
    public var finishedAt: Int64
    /// Who asked for the call, copied from its hold (`nil`: not recorded).
    public var caller: String?

    public init(
        id: Int64, holdID: Int64, teamID: Int64, idempotencyKey: String, provider: String, model: String, resolution: String, seconds: Int, billedSeconds: Int?, imageCount: Int, status: String, outcome: String, heldMicro: MicroUSD, chargedMicro: MicroUSD, upstreamCostMicro: MicroUSD, marginMicro: MicroUSD, flatFeeMicro: MicroUSD = 0, sellerCostTicks: Int64? = nil, catalogVersion: String, latencyMs: Int64?, upstreamTaskID: String?, upstreamRequestID: String?, periodMonth: String, periodDay: String, createdAt: Int64, finishedAt: Int64, caller: String?
    ) {
        self.id = id
        self.holdID = holdID
        self.teamID = teamID
        self.idempotencyKey = idempotencyKey
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.seconds = seconds
        self.billedSeconds = billedSeconds
        self.imageCount = imageCount
        self.status = status
        self.outcome = outcome
        self.heldMicro = heldMicro
        self.chargedMicro = chargedMicro
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.flatFeeMicro = flatFeeMicro
        self.sellerCostTicks = sellerCostTicks
        self.catalogVersion = catalogVersion
        self.latencyMs = latencyMs
        self.upstreamTaskID = upstreamTaskID
        self.upstreamRequestID = upstreamRequestID
        self.periodMonth = periodMonth
        self.periodDay = periodDay
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.caller = caller
    }
}

/// A team's budget in its current period, as `budget show` prints it.
public struct BudgetStatus: Sendable, Equatable {
    public var team: Team
    public var budget: Budget
    public var periodMonth: String
    public var periodDay: String
    /// Milliseconds since 1970: the start of the next month and next day in the team's zone.
    public var monthEndsAt: Int64
    public var dayEndsAt: Int64
    public var monthPostedMicro: MicroUSD
    public var monthPendingMicro: MicroUSD
    public var dayPostedMicro: MicroUSD
    public var dayPendingMicro: MicroUSD
    public var creditPostedMicro: MicroUSD
    public var creditPendingMicro: MicroUSD
    public var alerts: [Alert]
    /// The month-end projection from the run rate (``BudgetForecast``).
    public var forecast: BudgetForecast

    public init(
        team: Team, budget: Budget, periodMonth: String, periodDay: String, monthEndsAt: Int64, dayEndsAt: Int64, monthPostedMicro: MicroUSD, monthPendingMicro: MicroUSD, dayPostedMicro: MicroUSD, dayPendingMicro: MicroUSD, creditPostedMicro: MicroUSD, creditPendingMicro: MicroUSD, alerts: [Alert], forecast: BudgetForecast
    ) {
        self.team = team
        self.budget = budget
        self.periodMonth = periodMonth
        self.periodDay = periodDay
        self.monthEndsAt = monthEndsAt
        self.dayEndsAt = dayEndsAt
        self.monthPostedMicro = monthPostedMicro
        self.monthPendingMicro = monthPendingMicro
        self.dayPostedMicro = dayPostedMicro
        self.dayPendingMicro = dayPendingMicro
        self.creditPostedMicro = creditPostedMicro
        self.creditPendingMicro = creditPendingMicro
        self.alerts = alerts
        self.forecast = forecast
    }

    public var monthAvailableMicro: MicroUSD { budget.monthlyLimitMicro - monthPostedMicro - monthPendingMicro }
    public var dayAvailableMicro: MicroUSD? { budget.dailyLimitMicro.map { $0 - dayPostedMicro - dayPendingMicro } }
    public var creditAvailableMicro: MicroUSD? { budget.creditMicro.map { $0 - creditPostedMicro - creditPendingMicro } }
    /// The most a new hold could reserve now: the smallest availability over every limit.
    public var availableMicro: MicroUSD {
        max(0, [monthAvailableMicro, dayAvailableMicro, creditAvailableMicro].compactMap { $0 }.min() ?? 0)
    }
}

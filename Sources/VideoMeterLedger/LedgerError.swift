import VideoMeter

/// An error the ledger returns instead of moving money: a refusal, bad input, or an unknown thing.
///
/// Codes are stable (README and docs/LEDGER.md list them). Refusals of ``Ledger/hold(_:)`` are checked
/// in this order of precedence, the first that applies wins (as TigerBeetle orders its result codes):
///
/// 1. `invalid_amount` — the amount is not positive, or a field is out of range.
/// 2. `unknown_team` — no team has that name.
/// 3. `idempotency_key_reused` — the key belongs to an earlier hold with another fingerprint or team
///    (an earlier hold with the same fingerprint is returned as a replay instead, whatever its state).
/// 4. `no_budget` — the team has no budget: the ledger fails closed.
/// 5. `too_many_pending_tasks` — an async hold with a cap (``HoldRequest/maxPendingAsync``) and the
///    team already has that many pending async holds.
/// 6. `budget_exceeded` (`monthly`) — posted + pending + amount would pass the monthly limit.
/// 7. `budget_exceeded` (`daily`) — the same for the daily limit, when one is set.
/// 8. `budget_exceeded` (`credit`) — the same for the prepaid credit, when the team has credit.
///
/// Resolving a hold (``Ledger/post(holdID:amount:settlement:)``, ``Ledger/void(holdID:settlement:)``):
/// `unknown_hold`, then `hold_already_resolved`, then `hold_expired` (post only, deadline passed),
/// then `post_exceeds_hold`.
public struct LedgerError: CodedError, Equatable {
    /// The budget limit that refused a hold.
    public enum Limit: String, Sendable, Codable, CaseIterable {
        case monthly, daily, credit
    }

    private enum Kind: Equatable {
        case unknownTeam(String)
        case teamAlreadyExists(String)
        case invalidTimeZone(String)
        case invalidAmount(String)
        case invalidThresholds(String)
        case noBudget(String)
        case budgetExceeded(limit: Limit, limitMicro: MicroUSD, availableMicro: MicroUSD)
        case idempotencyKeyReused(String)
        case unknownHold(Int64)
        case holdAlreadyResolved(holdID: Int64, state: HoldState)
        case holdExpired(Int64)
        case postExceedsHold(holdID: Int64, heldMicro: MicroUSD, requestedMicro: MicroUSD)
        case holdNotCancelled(holdID: Int64, state: HoldState)
        case illegalCallTransition(holdID: Int64, from: CallStatus, event: String)
        case tooManyPendingTasks(team: String, cap: Int)
    }

    private let kind: Kind

    public static func unknownTeam(_ name: String) -> Self { Self(kind: .unknownTeam(name)) }
    public static func teamAlreadyExists(_ name: String) -> Self { Self(kind: .teamAlreadyExists(name)) }
    public static func invalidTimeZone(_ identifier: String) -> Self { Self(kind: .invalidTimeZone(identifier)) }
    public static func invalidAmount(_ detail: String) -> Self { Self(kind: .invalidAmount(detail)) }
    public static func invalidThresholds(_ detail: String) -> Self { Self(kind: .invalidThresholds(detail)) }
    public static func noBudget(_ team: String) -> Self { Self(kind: .noBudget(team)) }
    public static func budgetExceeded(limit: Limit, limitMicro: MicroUSD, availableMicro: MicroUSD) -> Self {
        Self(kind: .budgetExceeded(limit: limit, limitMicro: limitMicro, availableMicro: availableMicro))
    }
    public static func idempotencyKeyReused(_ key: String) -> Self { Self(kind: .idempotencyKeyReused(key)) }
    public static func unknownHold(_ id: Int64) -> Self { Self(kind: .unknownHold(id)) }
    public static func holdAlreadyResolved(holdID: Int64, state: HoldState) -> Self {
        Self(kind: .holdAlreadyResolved(holdID: holdID, state: state))
    }
    public static func holdExpired(_ id: Int64) -> Self { Self(kind: .holdExpired(id)) }
    public static func postExceedsHold(holdID: Int64, heldMicro: MicroUSD, requestedMicro: MicroUSD) -> Self {
        Self(kind: .postExceedsHold(holdID: holdID, heldMicro: heldMicro, requestedMicro: requestedMicro))
    }

    /// A call status that cannot follow the recorded one (``CallLifecycle``).
    public static func illegalCallTransition(holdID: Int64, from: CallStatus, event: String) -> Self {
        Self(kind: .illegalCallTransition(holdID: holdID, from: from, event: event))
    }

    /// The team has `cap` async holds pending already (``HoldRequest/maxPendingAsync``).
    public static func tooManyPendingTasks(team: String, cap: Int) -> Self { Self(kind: .tooManyPendingTasks(team: team, cap: cap)) }

    /// A late success was reported for a hold that is still pending or was posted.
    public static func holdNotCancelled(holdID: Int64, state: HoldState) -> Self {
        Self(kind: .holdNotCancelled(holdID: holdID, state: state))
    }

    /// Every code a ledger refusal can carry, in the order of ``code``'s cases.
    public static let allCodes = [
        "unknown_team", "team_already_exists", "invalid_time_zone", "invalid_amount", "invalid_thresholds", "no_budget",
        "budget_exceeded", "idempotency_key_reused", "unknown_hold", "hold_already_resolved", "hold_expired", "post_exceeds_hold",
        "hold_not_cancelled", "illegal_call_transition", "too_many_pending_tasks",
    ]

    public var code: String {
        switch kind {
        case .unknownTeam: "unknown_team"
        case .teamAlreadyExists: "team_already_exists"
        case .invalidTimeZone: "invalid_time_zone"
        case .invalidAmount: "invalid_amount"
        case .invalidThresholds: "invalid_thresholds"
        case .noBudget: "no_budget"
        case .budgetExceeded: "budget_exceeded"
        case .idempotencyKeyReused: "idempotency_key_reused"
        case .unknownHold: "unknown_hold"
        case .holdAlreadyResolved: "hold_already_resolved"
        case .holdExpired: "hold_expired"
        case .postExceedsHold: "post_exceeds_hold"
        case .holdNotCancelled: "hold_not_cancelled"
        case .illegalCallTransition: "illegal_call_transition"
        case .tooManyPendingTasks: "too_many_pending_tasks"
        }
    }

    public var message: String {
        switch kind {
        case .unknownTeam(let name): "No team is named '\(name)'; create it with `videometer team create`."
        case .teamAlreadyExists(let name): "A team named '\(name)' already exists."
        case .invalidTimeZone(let zone): "'\(zone)' is not an IANA time zone (for example UTC or Europe/Paris)."
        case .invalidAmount(let detail): detail
        case .invalidThresholds(let detail): detail
        case .noBudget(let team): "Team '\(team)' has no budget; set one with `videometer budget set` (the ledger refuses spending without one)."
        case .budgetExceeded(let limit, let limitMicro, let available):
            "The \(limit.rawValue) limit of \(Money.format(micro: limitMicro)) USD would be exceeded; \(Money.format(micro: max(available, 0))) USD is available."
        case .idempotencyKeyReused(let key): "Idempotency key '\(key)' was already used for a request with other parameters."
        case .unknownHold(let id): "No hold has id \(id)."
        case .holdAlreadyResolved(let id, let state): "Hold \(id) is already \(state.rawValue); a hold resolves exactly once."
        case .holdExpired(let id): "Hold \(id) is past its deadline and can no longer be posted; it will be expired (record a late success instead)."
        case .postExceedsHold(let id, let held, let requested):
            "Cannot post \(Money.format(micro: requested)) USD against hold \(id) of \(Money.format(micro: held)) USD."

        case .illegalCallTransition(let id, let from, let event):
            "The call held under \(id) is \(from.rawValue); it cannot be \(event) (call statuses only move forward: held, submitted, running or unknown, then one terminal status)."
        case .holdNotCancelled(let id, let state):
            "Hold \(id) is \(state.rawValue); a late success is recorded only for a voided or expired hold."
        case .tooManyPendingTasks(let team, let cap):
            "Team '\(team)' already has \(cap) video tasks in flight; wait for some to finish."
        }
    }

    /// For `too_many_pending_tasks`: the cap that refused.
    public var pendingCap: Int? {
        if case .tooManyPendingTasks(_, let cap) = kind { return cap }
        return nil
    }

    /// For `budget_exceeded`: the limit that refused.
    public var limit: Limit? {
        if case .budgetExceeded(let limit, _, _) = kind { return limit }
        return nil
    }

    /// For `budget_exceeded`: the limit's amount in micro-dollars.
    public var limitMicro: MicroUSD? {
        if case .budgetExceeded(_, let amount, _) = kind { return amount }
        return nil
    }

    /// For `budget_exceeded`: what was still available under that limit (never negative).
    public var availableMicro: MicroUSD? {
        if case .budgetExceeded(_, _, let available) = kind { return max(available, 0) }
        return nil
    }
}

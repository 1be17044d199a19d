import Foundation
import VideoMeter

/// A `LedgerStore` keeps the money core of the ledger: teams, budgets, two-phase holds, the
/// append-only journal, usage events, alerts and the audit, with the same guarantees whatever
/// database is behind it.
///
/// Two stores conform: ``Ledger`` (one SQLite file) and `PostgresLedger` (module
/// `VideoMeterLedgerPostgres`, one PostgreSQL database shared by several processes). Callers see
/// operations with meaning, never a connection; SQL is each store's private business. The rules
/// are values both run inside their own write transactions: input checks (``LedgerRules``), budget
/// admission (``BudgetAdmission``), the hold's state machine and the call's lifecycle
/// (``HoldSettlement``), alerts (``AlertRule``), the forecast (``BudgetForecast``) and the audit
/// (``LedgerAudit``).
///
/// Every conforming store guarantees:
/// - a hold is granted only if posted + pending + amount <= every limit that applies (monthly,
///   daily when set, credit when the team has some), checked atomically with the write, across
///   tasks and processes; refusals come in ``LedgerError``'s order with the exact available amount;
/// - a hold resolves exactly once (posted for at most its amount, voided, or expired after its
///   deadline), enforced by the database as well as by the code;
/// - an idempotency key is permanent and global: the same key with the same fingerprint and team
///   replays the first hold, with anything else it is `idempotency_key_reused`;
/// - the journal is append-only, enforced by the database;
/// - an operation is answered only after its transaction has committed durably.
public protocol LedgerStore: GatewayLedgerStore, SettlementLeaseStore, LedgerReporting, LedgerTransfer, Sendable {
    /// The clock the store stamps, dates and expires with.
    var clock: any WallClock { get }

    /// Creates a team; `timeZone` must be an IANA identifier (periods follow it).
    func createTeam(name: String, timeZone: String) async throws -> Team
    /// Every team, by name.
    func teams() async throws -> [Team]
    /// The team with that name, or `unknown_team`.
    func team(named name: String) async throws -> Team
    /// Creates or changes a team's budget; a credit top-up is journaled.
    func setBudget(team name: String, _ settings: BudgetSettings) async throws -> Budget
    /// The team's budget in its current period: limits, posted, pending, available, alerts, forecast.
    func budgetStatus(team name: String) async throws -> BudgetStatus
    /// Every alert recorded for a team, oldest first.
    func alerts(team name: String) async throws -> [Alert]

    /// Reserves `request.amountMicro` for a call, or refuses; replays an earlier hold of the same key.
    func hold(_ request: HoldRequest) async throws -> HoldReceipt
    /// Settles a hold for at most its amount (the rest returns) and records the call's usage event.
    func post(holdID: Int64, amount: MicroUSD, settlement: Settlement) async throws -> Hold
    /// Cancels a hold: all of it returns, nothing is charged; records the usage event.
    func void(holdID: Int64, settlement: Settlement) async throws -> Hold
    /// Voids a hold whose call was never sent (pending, `held`, no upstream task id), else returns
    /// nil and changes nothing; excludes ``markSubmitted(holdID:upstreamTaskID:upstreamRequestID:)``.
    func voidIfNeverSent(holdID: Int64, settlement: Settlement) async throws -> Hold?
    /// Expires every pending hold whose deadline is at or before `now` (the clock's time when nil).
    func expireDue(now: Date?) async throws -> [Hold]
    /// Records that the call was sent and, when known, the upstream's ids.
    func markSubmitted(holdID: Int64, upstreamTaskID: String?, upstreamRequestID: String?) async throws
    /// Records where a sent call is upstream (``CallLifecycle``); money moves only by post or void.
    func markCall(holdID: Int64, _ event: CallLifecycle.Event) async throws
    /// Records a task that succeeded after its hold was voided or expired, for review, uncharged.
    func lateSuccess(holdID: Int64, amountMicro: MicroUSD, upstreamRequestID: String?, note: String?) async throws -> LateSuccess
    /// Every late success, oldest first.
    func lateSuccesses() async throws -> [LateSuccess]

    /// The hold with that id, or `unknown_hold`.
    func hold(id: Int64) async throws -> Hold
    /// The hold taken under an idempotency key, if any.
    func hold(idempotencyKey: String) async throws -> Hold?
    /// Holds, oldest first; all of them when `state` is nil.
    func holds(state: HoldState?) async throws -> [Hold]
    /// Pending holds a reconciliation pass must look at: with an upstream task id, or `unknown`.
    func holdsAwaitingReconciliation() async throws -> [Hold]
    /// Expired holds with an upstream task id, expired at or after `since` (milliseconds since
    /// 1970), with no late success recorded: the tasks a reconciliation pass reads again in case
    /// they succeeded after their hold expired. Oldest first.
    func expiredHoldsToRecheck(resolvedSince since: Int64) async throws -> [Hold]
    /// A team's usage events, oldest first.
    func usageEvents(team name: String) async throws -> [UsageEvent]

    /// Recomputes every balance from the journal and checks every invariant (``LedgerAudit``).
    func verify() async throws -> VerifyReport
}

extension LedgerStore {
    /// A team in UTC.
    @discardableResult
    public func createTeam(name: String) async throws -> Team {
        try await createTeam(name: name, timeZone: "UTC")
    }

    @discardableResult
    public func post(holdID: Int64, amount: MicroUSD) async throws -> Hold {
        try await post(holdID: holdID, amount: amount, settlement: Settlement())
    }

    @discardableResult
    public func void(holdID: Int64) async throws -> Hold {
        try await void(holdID: holdID, settlement: Settlement())
    }

    public func voidIfNeverSent(holdID: Int64) async throws -> Hold? {
        try await voidIfNeverSent(holdID: holdID, settlement: Settlement(status: .cancelled))
    }

    @discardableResult
    public func expireDue() async throws -> [Hold] {
        try await expireDue(now: nil)
    }

    public func markSubmitted(holdID: Int64, upstreamTaskID: String?) async throws {
        try await markSubmitted(holdID: holdID, upstreamTaskID: upstreamTaskID, upstreamRequestID: nil)
    }

    @discardableResult
    public func lateSuccess(holdID: Int64, amountMicro: MicroUSD) async throws -> LateSuccess {
        try await lateSuccess(holdID: holdID, amountMicro: amountMicro, upstreamRequestID: nil, note: nil)
    }

    /// Every hold.
    public func holds() async throws -> [Hold] {
        try await holds(state: nil)
    }

    /// Pending holds, oldest first.
    public func openHolds() async throws -> [Hold] {
        try await holds(state: .pending)
    }
}

/// The SQLite ledger is the embedded store.
extension Ledger: LedgerStore {}

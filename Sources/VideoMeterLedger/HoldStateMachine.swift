import VideoMeter

/// Where a hold is in its two-phase life: pending until it resolves, exactly once, as posted,
/// voided or expired.
public enum HoldState: String, Sendable, Codable, CaseIterable {
    case pending, posted, voided, expired

    public var isResolved: Bool { self != .pending }
}

/// The two-phase hold as a pure state machine: given a hold and an event, the journal entry to
/// append and the state that follows, or the refusal. No I/O, so it is tested on its own.
///
/// Guarantees (after TigerBeetle's two-phase transfers):
/// - a hold resolves at most once: every event on a resolved hold is `hold_already_resolved`;
/// - a post is for at most the held amount (`post_exceeds_hold` otherwise); the rest returns;
/// - a hold past its deadline cannot be posted (`hold_expired`); it can still be voided or expired;
/// - only a hold past its deadline expires; the sweeper skips the others.
public struct HoldStateMachine: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        case post(amountMicro: MicroUSD)
        case void
        /// The sweeper's event; `now` decides whether the deadline has passed.
        case expire
    }

    /// What the ledger must write for a transition: the kind of journal entry, the amount it
    /// charges and the amount it returns to the budget.
    public struct Action: Sendable, Equatable {
        public var entryKind: JournalKind
        public var postedMicro: MicroUSD
        public var releasedMicro: MicroUSD
        public var nextState: HoldState
    }

    /// Why the sweeper left a hold alone.
    public enum Skip: Sendable, Equatable { case notDue }

    public var holdID: Int64
    public var state: HoldState
    public var heldMicro: MicroUSD
    /// Milliseconds since 1970, as stored.
    public var deadline: Int64

    public init(holdID: Int64, state: HoldState, heldMicro: MicroUSD, deadline: Int64) {
        self.holdID = holdID
        self.state = state
        self.heldMicro = heldMicro
        self.deadline = deadline
    }

    /// Applies `event` at time `now` (milliseconds); on success the machine moves to the next state.
    public mutating func apply(_ event: Event, now: Int64) throws(LedgerError) -> Action? {
        guard state == .pending else { throw .holdAlreadyResolved(holdID: holdID, state: state) }
        let action: Action
        switch event {
        case .post(let amount):
            guard now < deadline else { throw .holdExpired(holdID) }
            guard amount >= 0 else { throw .invalidAmount("A posting cannot be negative (\(amount) micro-USD).") }
            guard amount <= heldMicro else {
                throw .postExceedsHold(holdID: holdID, heldMicro: heldMicro, requestedMicro: amount)
            }
            action = Action(entryKind: .post, postedMicro: amount, releasedMicro: heldMicro - amount, nextState: .posted)
        case .void:
            action = Action(entryKind: .void, postedMicro: 0, releasedMicro: heldMicro, nextState: .voided)
        case .expire:
            guard now >= deadline else { return nil }
            action = Action(entryKind: .expire, postedMicro: 0, releasedMicro: heldMicro, nextState: .expired)
        }
        state = action.nextState
        return action
    }
}

/// The kinds of rows in the append-only `journalEntry` table.
public enum JournalKind: String, Sendable, Codable, CaseIterable {
    /// A hold granted: `amountMicro` becomes pending.
    case hold
    /// A hold settled: `amountMicro` is charged, `releasedMicro` returns.
    case post
    /// A hold cancelled: `releasedMicro` (all of it) returns.
    case void
    /// A hold past its deadline cancelled by the sweeper.
    case expire
    /// Prepaid credit added to a team: `amountMicro`.
    case credit
}

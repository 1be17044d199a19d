import VideoMeter

/// A metered call's status as a pure state machine: given the recorded status and what just
/// happened, the write the ledger must make, or the refusal. No I/O, so it is tested on its own,
/// like ``HoldStateMachine`` (which owns the money; this owns where the call is upstream).
///
/// ```
/// held ──sent──> submitted ──running──> running
///   │               │  └──lost──> unknown <──lost──┘
///   │               │                 │ └─running─> running
///   └───────────────┴──── ended(terminal status) ────> succeeded | failed | cancelled | expired | timed_out | rejected
/// ```
///
/// Rules:
/// - statuses only move forward: nothing returns to `held`; `submitted` follows `held` (or is
///   recorded again, with the task id, on `submitted`); `running` and `unknown` follow a sent call;
/// - a terminal status ends the call: every later event is refused (`illegal_call_transition`);
/// - a repeated reading (`running` on `running`, `lost` on `unknown`) changes nothing;
/// - any live call may end, in any terminal status (the sweeper expires held calls too; a ledger
///   client that does not track sending, such as `ledger exercise`, posts a `held` call).
public struct CallLifecycle: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// The request is going out (an async create is recorded before it is sent), or its task
        /// id has just arrived.
        case sent
        /// The upstream reports the task running.
        case running
        /// The request was sent and no usable answer came back (connection dropped, client timeout,
        /// the upstream no longer answers for the task): the outcome is unknown until reconciled.
        case lost
        /// The call ended with `status`, which must be terminal; the hold settles with it.
        case ended(CallStatus)

        var name: String {
            switch self {
            case .sent: "marked submitted"
            case .running: "marked running"
            case .lost: "marked unknown"
            case .ended(let status): "ended as \(status.rawValue)"
            }
        }
    }

    /// What the ledger writes for a transition.
    public enum Action: Sendable, Equatable {
        /// Record `status` on the pending hold.
        case record(CallStatus)
        /// The status is already recorded: nothing to write.
        case none
        /// Settle the hold (post or void) and record the terminal `status`.
        case settle(CallStatus)
    }

    public var holdID: Int64
    public private(set) var status: CallStatus

    public init(holdID: Int64, status: CallStatus) {
        self.holdID = holdID
        self.status = status
    }

    /// Applies `event`; on success the machine moves to the status it records.
    public mutating func apply(_ event: Event) throws(LedgerError) -> Action {
        let action: Action
        switch (status, event) {
        case (_, _) where status.isTerminal:
            throw .illegalCallTransition(holdID: holdID, from: status, event: event.name)
        case (_, .ended(let next)):
            guard next.isTerminal else { throw .illegalCallTransition(holdID: holdID, from: status, event: event.name) }
            action = .settle(next)
        case (.held, .sent), (.submitted, .sent):
            action = .record(.submitted)
        case (.submitted, .running), (.unknown, .running):
            action = .record(.running)
        case (.running, .running), (.unknown, .lost):
            action = .none
        case (.submitted, .lost), (.running, .lost):
            action = .record(.unknown)
        default:
            throw .illegalCallTransition(holdID: holdID, from: status, event: event.name)
        }
        switch action {
        case .record(let next), .settle(let next): status = next
        case .none: break
        }
        return action
    }
}

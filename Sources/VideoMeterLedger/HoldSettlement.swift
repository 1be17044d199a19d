import VideoMeter

/// What resolving a hold writes, as a value: the journal entry's kind and amounts (from
/// ``HoldStateMachine``), the call's final status (from ``CallLifecycle``), the charge by the
/// quote's lines (``ChargeSplit``), and the fields the hold row and its usage event take. No I/O;
/// each store reads the hold inside its write transaction, asks for the plan, and writes it.
public struct HoldSettlement: Sendable, Equatable {
    public var action: HoldStateMachine.Action
    /// The call's terminal status.
    public var callStatus: CallStatus
    /// What the posted amount is made of; zero for a void or an expiry.
    public var split: ChargeSplit
    /// The seconds charged (posts only): the upstream's figure, else the seconds held.
    public var billedSeconds: Int?
    public var upstreamRequestID: String?
    /// The delivered video (posts only).
    public var videoURL: String?
    public var sellerCostTicks: Int64?

    /// The plan for `event` on `hold` at `now` (milliseconds), or nil when the sweeper finds the
    /// hold not yet due. Throws the state machine's and the lifecycle's refusals, and
    /// `invalid_amount` when a given split does not add up to the amount posted.
    public static func plan(
        hold: Hold, event: HoldStateMachine.Event, settlement: Settlement, now: Int64
    ) throws(LedgerError) -> HoldSettlement? {
        var machine = HoldStateMachine(holdID: hold.id, state: hold.state, heldMicro: hold.amountMicro, deadline: hold.deadline)
        guard let action = try machine.apply(event, now: now) else { return nil }
        let requested: CallStatus = settlement.status ?? {
            switch action.entryKind {
            case .post: return .succeeded
            case .expire: return .expired
            default: return .failed
            }
        }()
        // The hold state machine has checked the money; the call's lifecycle checks the status.
        var call = CallLifecycle(holdID: hold.id, status: hold.callStatus)
        guard case .settle(let status) = try call.apply(.ended(requested)) else {
            throw .illegalCallTransition(holdID: hold.id, from: hold.callStatus, event: "settled")
        }
        // The charged amount by the quote's lines: what the metered client repriced, else the
        // hold's split shared out; nothing for a void or an expiry.
        let split: ChargeSplit
        if action.entryKind == .post {
            split = settlement.split ?? hold.split.share(postedMicro: action.postedMicro, heldMicro: hold.amountMicro)
            guard split.totalMicro == action.postedMicro, split.upstreamCostMicro >= 0, split.flatFeeMicro >= 0 else {
                throw .invalidAmount(
                    "A charge's upstream cost, margin and flat fee must add up to the amount posted (\(action.postedMicro) micro-USD).")
            }
        } else {
            split = .zero
        }
        let posted = action.entryKind == .post
        return HoldSettlement(
            action: action, callStatus: status, split: split,
            billedSeconds: posted ? settlement.billedSeconds ?? hold.seconds : nil,
            upstreamRequestID: settlement.upstreamRequestID ?? hold.upstreamRequestID,
            videoURL: posted ? settlement.videoURL : nil, sellerCostTicks: settlement.sellerCostTicks)
    }

    /// `hold` as it reads once this plan is written at `now`.
    public func applied(to hold: Hold, now: Int64) -> Hold {
        var hold = hold
        hold.sellerCostTicks = sellerCostTicks
        hold.videoURL = videoURL
        hold.state = action.nextState
        hold.postedMicro = action.postedMicro
        hold.billedSeconds = billedSeconds
        hold.callStatus = callStatus
        hold.upstreamRequestID = upstreamRequestID
        hold.resolvedAt = now
        return hold
    }
}

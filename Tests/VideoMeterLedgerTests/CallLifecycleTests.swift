import Testing
import VideoMeter
@testable import VideoMeterLedger

/// Every transition of a call's status, legal and refused, without I/O.
@Suite struct CallLifecycleTests {
    static let live: [CallStatus] = [.held, .submitted, .running, .unknown]
    static let terminal: [CallStatus] = CallStatus.allCases.filter(\.isTerminal)
    static let events: [CallLifecycle.Event] = [.sent, .running, .lost] + CallStatus.allCases.map { .ended($0) }

    /// The whole table: for each recorded status and event, the action, or nil for a refusal.
    static func expected(_ from: CallStatus, _ event: CallLifecycle.Event) -> CallLifecycle.Action? {
        if from.isTerminal { return nil }
        switch (from, event) {
        case (_, .ended(let status)): return status.isTerminal ? .settle(status) : nil
        case (.held, .sent), (.submitted, .sent): return .record(.submitted)
        case (.submitted, .running), (.unknown, .running): return .record(.running)
        case (.running, .running), (.unknown, .lost): return CallLifecycle.Action.none
        case (.submitted, .lost), (.running, .lost): return .record(.unknown)
        default: return nil
        }
    }

    @Test(arguments: CallStatus.allCases)
    func everyEventFromEveryStatus(_ from: CallStatus) {
        for event in Self.events {
            var call = CallLifecycle(holdID: 7, status: from)
            let expected = Self.expected(from, event)
            do {
                let action = try call.apply(event)
                #expect(action == expected, "\(from) + \(event)")
                switch action {
                case .record(let next), .settle(let next): #expect(call.status == next)
                case .none: #expect(call.status == from)
                }
            } catch {
                #expect(expected == nil, "\(from) + \(event) was refused")
                #expect(error.code == "illegal_call_transition")
                #expect(call.status == from, "a refused event changes nothing")
            }
        }
    }

    @Test func nothingReturnsToHeldOrSubmittedOnceRunning() throws {
        var call = CallLifecycle(holdID: 1, status: .held)
        #expect(throws: LedgerError.self) { try call.apply(.running) }
        #expect(throws: LedgerError.self) { try call.apply(.lost) }
        #expect(try call.apply(.sent) == .record(.submitted))
        #expect(try call.apply(.sent) == .record(.submitted))
        #expect(try call.apply(.running) == .record(.running))
        #expect(throws: LedgerError.self) { try call.apply(.sent) }
        #expect(try call.apply(.lost) == .record(.unknown))
        #expect(try call.apply(.running) == .record(.running))
        #expect(try call.apply(.ended(.succeeded)) == .settle(.succeeded))
        for event in Self.events { #expect(throws: LedgerError.self) { try call.apply(event) } }
    }

    @Test func theLedgerRefusesAnIllegalTransitionAndChangesNothing() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let hold = try await fixture.ledger.hold(request("a")).hold
        await expectLedgerError("illegal_call_transition") { try await fixture.ledger.markCall(holdID: hold.id, .running) }
        await expectLedgerError("illegal_call_transition") { try await fixture.ledger.markCall(holdID: hold.id, .ended(.succeeded)) }
        #expect(try await fixture.ledger.hold(id: hold.id).callStatus == .held)
        try await fixture.ledger.markSubmitted(holdID: hold.id, upstreamTaskID: "t")
        try await fixture.ledger.markCall(holdID: hold.id, .running)
        await expectLedgerError("illegal_call_transition") { try await fixture.ledger.markSubmitted(holdID: hold.id, upstreamTaskID: "t2") }
        #expect(try await fixture.ledger.hold(id: hold.id).upstreamTaskID == "t")
        await expectLedgerError("illegal_call_transition") {
            try await fixture.ledger.void(holdID: hold.id, settlement: Settlement(status: .running))
        }
        #expect(try await fixture.ledger.hold(id: hold.id).state == .pending)
        try await fixture.ledger.post(holdID: hold.id, amount: 1_000_000)
        let posted = try await fixture.ledger.hold(id: hold.id)
        #expect(posted.callStatus == .succeeded && posted.postedMicro == 1_000_000)
        #expect(try await fixture.ledger.verify().isConsistent)
    }
}

import Testing
@testable import VideoMeterLedger

/// The two-phase hold without a database.
@Suite struct HoldStateMachineTests {
    let deadline: Int64 = 10_000

    func pending() -> HoldStateMachine {
        HoldStateMachine(holdID: 7, state: .pending, heldMicro: 1_500_000, deadline: deadline)
    }

    @Test func postingPartOfAHoldChargesThatAndReleasesTheRest() throws {
        var machine = pending()
        let action = try machine.apply(.post(amountMicro: 1_000_000), now: 5_000)
        #expect(action == .init(entryKind: .post, postedMicro: 1_000_000, releasedMicro: 500_000, nextState: .posted))
        #expect(machine.state == .posted)
    }

    @Test func postingTheFullAmountReleasesNothing() throws {
        var machine = pending()
        #expect(try machine.apply(.post(amountMicro: 1_500_000), now: 0)?.releasedMicro == 0)
    }

    @Test func postingMoreThanHeldIsRefused() {
        var machine = pending()
        #expect(throws: LedgerError.postExceedsHold(holdID: 7, heldMicro: 1_500_000, requestedMicro: 1_500_001)) {
            try machine.apply(.post(amountMicro: 1_500_001), now: 0)
        }
        #expect(machine.state == .pending)
    }

    @Test func voidReleasesEverything() throws {
        var machine = pending()
        #expect(try machine.apply(.void, now: 20_000) == .init(entryKind: .void, postedMicro: 0, releasedMicro: 1_500_000, nextState: .voided))
    }

    @Test func expireOnlyAtOrAfterTheDeadline() throws {
        var machine = pending()
        #expect(try machine.apply(.expire, now: deadline - 1) == nil)
        #expect(machine.state == .pending)
        #expect(try machine.apply(.expire, now: deadline)?.nextState == .expired)
    }

    @Test func postingAfterTheDeadlineIsRefused() {
        var machine = pending()
        #expect(throws: LedgerError.holdExpired(7)) { try machine.apply(.post(amountMicro: 1), now: deadline) }
    }

    @Test(arguments: [HoldState.posted, .voided, .expired])
    func aResolvedHoldRefusesEveryEvent(state: HoldState) {
        for event in [HoldStateMachine.Event.post(amountMicro: 1), .void, .expire] {
            var machine = HoldStateMachine(holdID: 7, state: state, heldMicro: 1_500_000, deadline: deadline)
            #expect(throws: LedgerError.holdAlreadyResolved(holdID: 7, state: state)) { try machine.apply(event, now: 0) }
        }
    }
}

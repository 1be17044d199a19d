import Foundation
import GRDB
import Testing
import VideoMeter
@testable import VideoMeterLedger

@Suite struct HoldTests {
    @Test func holdThenPostChargesTheAmountAndRecordsTheCall() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 10_000_000)
        let receipt = try await fixture.ledger.hold(request("k1"))
        #expect(!receipt.replayed)
        #expect(receipt.hold.state == .pending)
        var status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPendingMicro == 1_500_000)
        #expect(status.monthAvailableMicro == 8_500_000)

        let posted = try await fixture.ledger.post(holdID: receipt.hold.id, amount: 1_500_000, settlement: Settlement(billedSeconds: 5, latencyMs: 42_000, upstreamRequestID: "req-1"))
        #expect(posted.state == .posted)
        #expect(posted.callStatus == .succeeded)
        status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 1_500_000)
        #expect(status.monthPendingMicro == 0)
        #expect(status.monthAvailableMicro == 8_500_000)

        let events = try await fixture.ledger.usageEvents(team: "acme")
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.chargedMicro == 1_500_000)
        #expect(event.heldMicro == 1_500_000)
        #expect(event.upstreamCostMicro == 1_428_571)
        #expect(event.marginMicro == 71_429)
        #expect(event.outcome == "posted")
        #expect(event.status == "succeeded")
        #expect(event.latencyMs == 42_000)
        #expect(event.billedSeconds == 5)
        #expect(event.upstreamRequestID == "req-1")
        #expect(event.periodMonth == "2026-11")
        #expect(try await fixture.ledger.verify().problems == [])
    }

    @Test func partialPostReturnsTheRest() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 3_000_000)
        let hold = try await fixture.ledger.hold(request("k1", amount: 3_000_000)).hold
        await expectLedgerError("budget_exceeded") { _ = try await fixture.ledger.hold(request("k2", amount: 1)) }
        try await fixture.ledger.post(holdID: hold.id, amount: 1_200_000)
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 1_200_000)
        #expect(status.monthPendingMicro == 0)
        #expect(status.availableMicro == 1_800_000)
        // The returned 1.8 USD can be held again, and not a micro-dollar more.
        await expectLedgerError("budget_exceeded") { _ = try await fixture.ledger.hold(request("k3", amount: 1_800_001)) }
        _ = try await fixture.ledger.hold(request("k4", amount: 1_800_000))
        let event = try #require(try await fixture.ledger.usageEvents(team: "acme").first)
        // The quoted upstream cost 2,857,142 scaled to 1.2/3.0, rounded towards zero.
        #expect(event.upstreamCostMicro == 1_142_856)
        #expect(event.marginMicro == 57_144)
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func voidChargesNothing() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 2_000_000)
        let hold = try await fixture.ledger.hold(request("k1", amount: 2_000_000)).hold
        let voided = try await fixture.ledger.void(holdID: hold.id, settlement: Settlement(status: .timedOut))
        #expect(voided.state == .voided)
        #expect(voided.callStatus == .timedOut)
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 0)
        #expect(status.monthPendingMicro == 0)
        let event = try #require(try await fixture.ledger.usageEvents(team: "acme").first)
        #expect(event.chargedMicro == 0)
        #expect(event.outcome == "voided")
        #expect(event.status == "timed_out")
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func sweeperExpiresOnlyHoldsPastTheirDeadline() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 10_000_000)
        let short = try await fixture.ledger.hold(request("short", timeout: 60)).hold
        let long = try await fixture.ledger.hold(request("long", timeout: 600)).hold
        #expect(try await fixture.ledger.expireDue().isEmpty)
        fixture.clock.advance(by: 60)
        let expired = try await fixture.ledger.expireDue()
        #expect(expired.map(\.id) == [short.id])
        #expect(expired.first?.state == .expired)
        #expect(try await fixture.ledger.openHolds().map(\.id) == [long.id])
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPendingMicro == 1_500_000)
        await expectLedgerError("hold_already_resolved") { try await fixture.ledger.post(holdID: short.id, amount: 1) }
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func postingAfterTheDeadlineIsRefusedUntilTheSweeperExpiresIt() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let hold = try await fixture.ledger.hold(request("k1", timeout: 60)).hold
        fixture.clock.advance(by: 61)
        await expectLedgerError("hold_expired") { try await fixture.ledger.post(holdID: hold.id, amount: 1_000_000) }
        #expect(try await fixture.ledger.expireDue().count == 1)
    }

    @Test func aHoldResolvesExactlyOnce() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let a = try await fixture.ledger.hold(request("a")).hold
        let b = try await fixture.ledger.hold(request("b")).hold
        try await fixture.ledger.post(holdID: a.id, amount: 1_000_000)
        try await fixture.ledger.void(holdID: b.id)
        for id in [a.id, b.id] {
            await expectLedgerError("hold_already_resolved") { try await fixture.ledger.post(holdID: id, amount: 1) }
            await expectLedgerError("hold_already_resolved") { try await fixture.ledger.void(holdID: id) }
        }
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 1_000_000)
        let entries = try await fixture.ledger.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journalEntry WHERE kind != 'credit'") }
        #expect(entries == 4)
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func postingMoreThanHeldIsRefusedAndChangesNothing() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let hold = try await fixture.ledger.hold(request("a")).hold
        let error = await expectLedgerError("post_exceeds_hold") { try await fixture.ledger.post(holdID: hold.id, amount: 1_500_001) }
        #expect(error == .postExceedsHold(holdID: hold.id, heldMicro: 1_500_000, requestedMicro: 1_500_001))
        #expect(try await fixture.ledger.hold(id: hold.id).state == .pending)
        await expectLedgerError("unknown_hold") { try await fixture.ledger.post(holdID: 999, amount: 1) }
    }

    @Test func aReplayedKeyReturnsTheFirstHoldWhateverItsState() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 2_000_000)
        let first = try await fixture.ledger.hold(request("k1"))
        let again = try await fixture.ledger.hold(request("k1"))
        #expect(again.replayed)
        #expect(again.hold == first.hold)
        try await fixture.ledger.post(holdID: first.hold.id, amount: 1_000_000)
        let afterPost = try await fixture.ledger.hold(request("k1"))
        #expect(afterPost.replayed)
        #expect(afterPost.hold.id == first.hold.id)
        #expect(afterPost.hold.state == .posted)
        #expect(afterPost.hold.postedMicro == 1_000_000)
        // Replays reserve nothing more.
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 1_000_000)
        #expect(status.monthPendingMicro == 0)
        #expect(try await fixture.ledger.holds().count == 1)
    }

    @Test func aKeyReusedWithOtherParametersIsRefused() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        try await fixture.team("other")
        _ = try await fixture.ledger.hold(request("k1", amount: 1_500_000))
        await expectLedgerError("idempotency_key_reused") { _ = try await fixture.ledger.hold(request("k1", amount: 2_000_000)) }
        await expectLedgerError("idempotency_key_reused") { _ = try await fixture.ledger.hold(request("k1", team: "other")) }
        #expect(try await fixture.ledger.holds().count == 1)
    }

    @Test func concurrentHoldsWithOneKeyGrantOneHold() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let receipts = try await withThrowingTaskGroup(of: HoldReceipt.self) { group in
            for _ in 0..<20 { group.addTask { try await fixture.ledger.hold(request("same")) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(receipts.map(\.hold.id)).count == 1)
        #expect(receipts.filter { !$0.replayed }.count == 1)
        #expect(try await fixture.ledger.budgetStatus(team: "acme").monthPendingMicro == 1_500_000)
    }

    @Test func unknownTeamAndMissingBudgetAreRefused() async throws {
        let fixture = try LedgerFixture()
        await expectLedgerError("unknown_team") { _ = try await fixture.ledger.hold(request("k", team: "ghost")) }
        try await fixture.ledger.createTeam(name: "nobudget")
        await expectLedgerError("no_budget") { _ = try await fixture.ledger.hold(request("k", team: "nobudget")) }
        await expectLedgerError("invalid_amount") { _ = try await fixture.ledger.hold(request("k", team: "nobudget", amount: 0)) }
        #expect(try await fixture.ledger.holds().isEmpty)
    }

    @Test func lifecycleIsPersistedForReconciliation() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let a = try await fixture.ledger.hold(request("a")).hold
        let b = try await fixture.ledger.hold(request("b")).hold
        let c = try await fixture.ledger.hold(request("c")).hold
        #expect(try await fixture.ledger.holdsAwaitingReconciliation().isEmpty)
        try await fixture.ledger.markSubmitted(holdID: a.id, upstreamTaskID: "task-a")
        try await fixture.ledger.markCall(holdID: a.id, .running)
        try await fixture.ledger.markSubmitted(holdID: b.id, upstreamTaskID: nil)
        try await fixture.ledger.markCall(holdID: b.id, .lost)
        let awaiting = try await fixture.ledger.holdsAwaitingReconciliation()
        #expect(awaiting.map(\.id) == [a.id, b.id])
        #expect(awaiting.first?.upstreamTaskID == "task-a")
        #expect(awaiting.first?.callStatus == .running)
        #expect(awaiting.first?.submittedAt == milliseconds(fixture.clock.now()))

        // The task finishes after its hold was voided: recorded for review, not charged.
        try await fixture.ledger.void(holdID: a.id, settlement: Settlement(status: .timedOut))
        await expectLedgerError("hold_not_cancelled") { try await fixture.ledger.lateSuccess(holdID: c.id, amountMicro: 1) }
        let late = try await fixture.ledger.lateSuccess(holdID: a.id, amountMicro: 1_500_000, upstreamRequestID: "req-late")
        #expect(late.holdState == "voided")
        #expect(late.upstreamTaskID == "task-a")
        #expect(try await fixture.ledger.lateSuccess(holdID: a.id, amountMicro: 1_500_000) == late)
        #expect(try await fixture.ledger.lateSuccesses().count == 1)
        #expect(try await fixture.ledger.budgetStatus(team: "acme").monthPostedMicro == 0)
        await expectLedgerError("hold_already_resolved") { try await fixture.ledger.markCall(holdID: a.id, .running) }
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func journalIsAppendOnly() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        _ = try await fixture.ledger.hold(request("a"))
        await #expect(throws: DatabaseError.self) {
            try await fixture.ledger.writer.write { db in try db.execute(sql: "UPDATE journalEntry SET amountMicro = 1") }
        }
        await #expect(throws: DatabaseError.self) {
            try await fixture.ledger.writer.write { db in try db.execute(sql: "DELETE FROM journalEntry") }
        }
    }

    @Test func verifyNamesTamperedBalances() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let hold = try await fixture.ledger.hold(request("a")).hold
        try await fixture.ledger.post(holdID: hold.id, amount: 1_000_000)
        try await fixture.ledger.writer.write { db in
            try db.execute(sql: "UPDATE balance SET postedMicro = postedMicro - 1 WHERE scope = 'month'")
            try db.execute(sql: "UPDATE usageEvent SET chargedMicro = 999")
        }
        let report = try await fixture.ledger.verify()
        #expect(report.problems.count == 2)
        #expect(report.problems.contains { $0.contains("balance team 1 month 2026-11") })
        #expect(report.problems.contains { $0.contains("usage event") })
    }
    @Test(arguments: [
        ("UPDATE hold SET periodMonth = '2026-12'", "row says team 1, 2026-12 / 2026-11-21"),
        ("UPDATE hold SET countsAgainstCredit = 1", "credit true; journal says"),
        ("UPDATE usageEvent SET teamID = 2", "usage event of team 2, hold of team 1"),
        ("UPDATE hold SET postedMicro = 0", "row says posted with 0.000000 USD posted, journal says posted with 1.000000 USD"),
        ("INSERT INTO alert (teamID, periodMonth, thresholdPercent, limitMicro, spentMicro, createdAt) VALUES (1, '2026-11', 80, 100000000, 1000000, 0)", "at 80 %, but 1.000000 USD spent is below 80 % of 100.000000 USD"),
    ])
    func verifyNamesEachKindOfTampering(sql: String, problem: String) async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        try await fixture.team("other")
        let hold = try await fixture.ledger.hold(request("a")).hold
        try await fixture.ledger.post(holdID: hold.id, amount: 1_000_000)
        #expect(try await fixture.ledger.verify().isConsistent)
        try await fixture.ledger.writer.write { db in try db.execute(sql: sql) }
        let report = try await fixture.ledger.verify()
        #expect(report.problems.contains { $0.contains(problem) }, "\(report.problems)")
    }

    @Test func verifyChecksThePeriodAgainstTheGrantTimeInTheTeamsZone() async throws {
        // 2026-11-30T23:30Z is already December in Tokyo: the hold counts in 2026-12.
        let fixture = try LedgerFixture(at: instant("2026-11-30T23:30:00Z"))
        try await fixture.team(zone: "Asia/Tokyo")
        let hold = try await fixture.ledger.hold(request("a")).hold
        #expect(hold.periodMonth == "2026-12")
        #expect(try await fixture.ledger.verify().isConsistent)
        // A zone changed behind the ledger's back makes the recorded periods wrong: verify says so.
        try await fixture.ledger.writer.write { db in try db.execute(sql: "UPDATE team SET timeZone = 'UTC'") }
        let problems = try await fixture.ledger.verify().problems
        #expect(problems.contains { $0.contains("which is 2026-11 / 2026-11-30 in UTC, but counted in 2026-12 / 2026-12-01") }, "\(problems)")
    }
    @Test func voidIfNeverSentVoidsOnlyACallStillHeldWithoutATask() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let held = try await fixture.ledger.hold(request("held")).hold
        let sent = try await fixture.ledger.hold(request("sent")).hold
        // Another process records its create as sent (and then sends it): the void must not win.
        try await fixture.ledger.markSubmitted(holdID: sent.id, upstreamTaskID: nil)
        #expect(try await fixture.ledger.voidIfNeverSent(holdID: sent.id) == nil)
        #expect(try await fixture.ledger.hold(id: sent.id).state == .pending)
        let voided = try #require(try await fixture.ledger.voidIfNeverSent(holdID: held.id))
        #expect(voided.state == .voided)
        #expect(voided.callStatus == .cancelled)
        // Once voided, the other side's markSubmitted fails, so nothing is sent for it.
        await expectLedgerError("hold_already_resolved") { try await fixture.ledger.markSubmitted(holdID: held.id, upstreamTaskID: nil) }
        #expect(try await fixture.ledger.voidIfNeverSent(holdID: held.id) == nil)
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPendingMicro == 1_500_000)
        #expect(try await fixture.ledger.verify().isConsistent)
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedgerPostgres
import VideoMeterTesting
@testable import VideoMeterLedger

/// The ledger's contract (``LedgerStore``), run against every store: the SQLite file and the
/// PostgreSQL database must give the same answers to the micro-dollar.
@Suite struct LedgerContractTests {
    @Test(arguments: StoreKind.allCases)
    func holdPostVoidAndExpireMoveExactAmounts(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000)
        let a = try await ledger.hold(request("a", amount: 3_000_000)).hold
        let b = try await ledger.hold(request("b", amount: 2_000_000)).hold
        let c = try await ledger.hold(request("c", amount: 1_000_000, timeout: 60)).hold
        #expect(a.state == .pending && a.periodMonth == "2026-11" && a.periodDay == "2026-11-21")
        var status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPendingMicro == 6_000_000)
        #expect(status.availableMicro == 4_000_000)

        let posted = try await ledger.post(holdID: a.id, amount: 2_500_000)
        #expect(posted.state == .posted && posted.postedMicro == 2_500_000)
        let voided = try await ledger.void(holdID: b.id)
        #expect(voided.state == .voided && voided.postedMicro == 0)
        #expect(try await ledger.expireDue().isEmpty)
        fixture.clock.advance(by: 61)
        let expired = try await ledger.expireDue()
        #expect(expired.map(\.id) == [c.id])
        #expect(expired.first?.state == .expired)

        status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 2_500_000)
        #expect(status.monthPendingMicro == 0)
        #expect(status.dayPostedMicro == 2_500_000)
        #expect(status.availableMicro == 7_500_000)
        let events = try await ledger.usageEvents(team: "acme")
        #expect(events.map(\.outcome) == ["posted", "voided", "expired"])
        #expect(events.map(\.chargedMicro) == [2_500_000, 0, 0])
        #expect(events[0].upstreamCostMicro + events[0].marginMicro + events[0].flatFeeMicro == 2_500_000)
        #expect(try await ledger.holds(state: .pending).isEmpty)
        #expect(try await ledger.holds().count == 3)
        let report = try await ledger.verify()
        #expect(report.problems == [])
        // Three grants and three resolutions.
        #expect(report.journalEntries == 6)
    }

    @Test(arguments: StoreKind.allCases)
    func budgetRefusalsComeMonthlyThenDailyThenCreditWithExactAvailableAmounts(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000, daily: 6_000_000, credit: 4_000_000)
        _ = try await ledger.hold(request("a", amount: 3_000_000))

        // Passes all three: the monthly limit answers first.
        var error = await expectLedgerError("budget_exceeded") { _ = try await ledger.hold(request("b", amount: 7_000_001)) }
        #expect(error?.limit == .monthly)
        #expect(error?.limitMicro == 10_000_000)
        #expect(error?.availableMicro == 7_000_000)
        // Fits the month, passes the day and the credit: the daily limit answers.
        error = await expectLedgerError("budget_exceeded") { _ = try await ledger.hold(request("c", amount: 3_000_001)) }
        #expect(error?.limit == .daily)
        #expect(error?.limitMicro == 6_000_000)
        #expect(error?.availableMicro == 3_000_000)
        // Fits the month and the day, passes the credit.
        error = await expectLedgerError("budget_exceeded") { _ = try await ledger.hold(request("d", amount: 1_000_001)) }
        #expect(error?.limit == .credit)
        #expect(error?.limitMicro == 4_000_000)
        #expect(error?.availableMicro == 1_000_000)
        // Exactly what is left fits.
        _ = try await ledger.hold(request("e", amount: 1_000_000))
        #expect(try await ledger.budgetStatus(team: "acme").availableMicro == 0)
        // A team without a budget fails closed; an unknown team is named.
        try await ledger.createTeam(name: "bare", timeZone: "UTC")
        await expectLedgerError("no_budget") { _ = try await ledger.hold(request("f", team: "bare")) }
        await expectLedgerError("unknown_team") { _ = try await ledger.hold(request("g", team: "nobody")) }
        await expectLedgerError("invalid_amount") { _ = try await ledger.hold(request("h", amount: 0)) }
        #expect(try await ledger.holds().count == 2)
        #expect(try await ledger.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func aKeyReplaysItsFirstHoldAndRefusesOtherParameters(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team()
        try await fixture.team("other")
        let first = try await ledger.hold(request("key-1", amount: 1_500_000))
        #expect(!first.replayed)
        try await ledger.post(holdID: first.hold.id, amount: 1_000_000)
        // The same key and parameters, even after the hold resolved: the first hold, as it was granted.
        let again = try await ledger.hold(request("key-1", amount: 1_500_000))
        #expect(again.replayed)
        #expect(again.hold.id == first.hold.id)
        #expect(again.hold.state == .posted && again.hold.postedMicro == 1_000_000)
        // Other parameters, or another team, under the same key.
        await expectLedgerError("idempotency_key_reused") { _ = try await ledger.hold(request("key-1", amount: 2_000_000)) }
        await expectLedgerError("idempotency_key_reused") { _ = try await ledger.hold(request("key-1", team: "other", amount: 1_500_000)) }
        #expect(try await ledger.hold(idempotencyKey: "key-1")?.id == first.hold.id)
        #expect(try await ledger.hold(idempotencyKey: "key-2") == nil)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 1_000_000)
        #expect(status.monthPendingMicro == 0)
        #expect(try await ledger.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func aHoldResolvesExactlyOnce(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team()
        let hold = try await ledger.hold(request("a", amount: 2_000_000)).hold
        await expectLedgerError("post_exceeds_hold") { try await ledger.post(holdID: hold.id, amount: 2_000_001) }
        try await ledger.post(holdID: hold.id, amount: 2_000_000)
        await expectLedgerError("hold_already_resolved") { try await ledger.post(holdID: hold.id, amount: 1) }
        await expectLedgerError("hold_already_resolved") { try await ledger.void(holdID: hold.id) }
        await expectLedgerError("unknown_hold") { try await ledger.void(holdID: hold.id + 1000) }
        // Posts racing from two stores (two pools on PostgreSQL): one wins, the others are refused.
        let second = try await fixture.another()
        let contested = try await ledger.hold(request("b", amount: 1_000_000)).hold
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                let store = index.isMultiple(of: 2) ? ledger : second
                group.addTask {
                    do {
                        try await store.post(holdID: contested.id, amount: 1_000_000)
                        return true
                    } catch let error as LedgerError where error.code == "hold_already_resolved" {
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        await fixture.close(second)
        #expect(wins == 1)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 3_000_000)
        #expect(status.monthPendingMicro == 0)
        #expect(try await ledger.usageEvents(team: "acme").count == 2)
        #expect(try await ledger.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func callersOfTwoStoresAgainstABudgetForKHoldsGetExactlyK(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let k = 23
        try await fixture.team(monthly: MicroUSD(k) * 1_500_000)
        let second = try await fixture.another()
        let stores = [fixture.store, second]
        let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<120 {
                let store = stores[index % 2]
                group.addTask {
                    do {
                        let hold = try await store.hold(request("task-\(index)")).hold
                        // Half post in full, half stay pending: both keep the money committed.
                        if index.isMultiple(of: 4) { try await store.post(holdID: hold.id, amount: 1_500_000) }
                        return true
                    } catch let error as LedgerError where error.code == "budget_exceeded" {
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        await fixture.close(second)
        #expect(granted == k)
        let status = try await fixture.store.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro + status.monthPendingMicro == MicroUSD(k) * 1_500_000)
        #expect(status.availableMicro == 0)
        #expect(try await fixture.store.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func theDatabaseRefusesToEditOrDeleteTheJournal(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        try await fixture.team(credit: 5_000_000)
        let hold = try await fixture.store.hold(request("a", amount: 1_000_000)).hold
        try await fixture.store.post(holdID: hold.id, amount: 1_000_000)
        for statement in ["UPDATE journalEntry SET amountMicro = 0", "DELETE FROM journalEntry"] {
            await #expect(throws: (any Error).self, "\(statement)") { try await fixture.execute(statement) }
        }
        if kind == .postgres {
            await #expect(throws: (any Error).self) { try await fixture.execute("TRUNCATE journalEntry CASCADE") }
        }
        let report = try await fixture.store.verify()
        #expect(report.problems == [])
        #expect(report.journalEntries == 3)
        #expect(try await fixture.store.budgetStatus(team: "acme").creditPostedMicro == 1_000_000)
    }

    @Test(arguments: StoreKind.allCases)
    func theCallsLifecycleLateSuccessesAndAlertsAreRecorded(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000, alerts: [50, 80])
        let sent = try await ledger.hold(request("sent", amount: 5_000_000)).hold
        let unsent = try await ledger.hold(request("unsent", amount: 1_000_000)).hold
        try await ledger.markSubmitted(holdID: sent.id, upstreamTaskID: "task-1")
        #expect(try await ledger.voidIfNeverSent(holdID: sent.id) == nil)
        try await ledger.markCall(holdID: sent.id, .running)
        await expectLedgerError("illegal_call_transition") { try await ledger.markCall(holdID: sent.id, .sent) }
        #expect(try await ledger.holdsAwaitingReconciliation().map(\.id) == [sent.id])
        #expect(try await ledger.hold(id: sent.id).callStatus == .running)
        let cancelled = try #require(try await ledger.voidIfNeverSent(holdID: unsent.id))
        #expect(cancelled.state == .voided && cancelled.callStatus == .cancelled)

        // 5 of 10 USD posted: the 50 % threshold, once.
        try await ledger.post(holdID: sent.id, amount: 5_000_000, settlement: Settlement(billedSeconds: 5))
        var alerts = try await ledger.alerts(team: "acme").filter { $0.kind == .threshold }
        #expect(alerts.map(\.thresholdPercent) == [50])
        #expect(alerts.first?.spentMicro == 5_000_000)
        let more = try await ledger.hold(request("more", amount: 3_000_000)).hold
        try await ledger.post(holdID: more.id, amount: 3_000_000)
        alerts = try await ledger.alerts(team: "acme").filter { $0.kind == .threshold }
        #expect(alerts.map(\.thresholdPercent) == [50, 80])
        #expect(alerts.map(\.spentMicro) == [5_000_000, 8_000_000])

        await expectLedgerError("hold_not_cancelled") { try await ledger.lateSuccess(holdID: more.id, amountMicro: 1) }
        let late = try await ledger.lateSuccess(holdID: unsent.id, amountMicro: 1_000_000, upstreamRequestID: "r-1", note: "found")
        let again = try await ledger.lateSuccess(holdID: unsent.id, amountMicro: 2)
        #expect(again == late)
        #expect(late.amountMicro == 1_000_000 && late.holdState == "voided")
        #expect(try await ledger.lateSuccesses() == [late])
        #expect(try await ledger.budgetStatus(team: "acme").monthPostedMicro == 8_000_000)
        #expect(try await ledger.verify().problems == [])
    }

    /// What a reconciliation pass reads again for late successes: expired holds with a task
    /// upstream, expired since the horizon, not yet recorded; found by the store, not by reading
    /// every expired hold the ledger has had.
    @Test(arguments: StoreKind.allCases)
    func reconciliationRechecksOnlyRecentExpiredTasksNotYetRecorded(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000)
        let old = try await ledger.hold(request("old", amount: 1_000_000, timeout: 60)).hold
        let noTask = try await ledger.hold(request("no-task", amount: 1_000_000, timeout: 60)).hold
        let recorded = try await ledger.hold(request("recorded", amount: 1_000_000, timeout: 60)).hold
        let posted = try await ledger.hold(request("posted", amount: 1_000_000, timeout: 60)).hold
        try await ledger.markSubmitted(holdID: old.id, upstreamTaskID: "task-old")
        try await ledger.markSubmitted(holdID: noTask.id, upstreamTaskID: nil)
        try await ledger.markSubmitted(holdID: recorded.id, upstreamTaskID: "task-recorded")
        try await ledger.markSubmitted(holdID: posted.id, upstreamTaskID: "task-posted")
        try await ledger.post(holdID: posted.id, amount: 1_000_000)
        fixture.clock.advance(by: 61)
        #expect(try await ledger.expireDue().map(\.id) == [old.id, noTask.id, recorded.id])
        let firstExpiry = Int64(fixture.clock.now().timeIntervalSince1970 * 1000)
        _ = try await ledger.lateSuccess(holdID: recorded.id, amountMicro: 1_000_000, upstreamRequestID: nil, note: nil)
        fixture.clock.advance(by: 100)
        let recent = try await ledger.hold(request("recent", amount: 1_000_000, timeout: 60)).hold
        try await ledger.markSubmitted(holdID: recent.id, upstreamTaskID: "task-recent")
        fixture.clock.advance(by: 61)
        #expect(try await ledger.expireDue().map(\.id) == [recent.id])

        #expect(try await ledger.expiredHoldsToRecheck(resolvedSince: 0).map(\.id) == [old.id, recent.id])
        #expect(try await ledger.expiredHoldsToRecheck(resolvedSince: firstExpiry).map(\.id) == [old.id, recent.id])
        #expect(try await ledger.expiredHoldsToRecheck(resolvedSince: firstExpiry + 1).map(\.id) == [recent.id])
        #expect(try await ledger.expiredHoldsToRecheck(resolvedSince: firstExpiry + 1).first?.upstreamTaskID == "task-recent")
        #expect(try await ledger.verify().problems == [])
    }

    /// Simulator seed 1 (docs/SIMULATION.md): an async create answered after its hold had expired.
    /// Its task id goes on the expired hold, for reconciliation's late-success check; nothing else
    /// changes, and every other ended hold still refuses.
    @Test(arguments: StoreKind.allCases)
    func aTaskIDArrivingAfterItsHoldExpiredIsRecordedOnTheExpiredHoldOnly(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000)
        let late = try await ledger.hold(request("late", amount: 2_000_000, timeout: 60)).hold
        let voided = try await ledger.hold(request("voided", amount: 1_000_000)).hold
        try await ledger.markSubmitted(holdID: late.id, upstreamTaskID: nil)
        try await ledger.void(holdID: voided.id)
        fixture.clock.advance(by: 61)
        #expect(try await ledger.expireDue().map(\.id) == [late.id])
        let journal = try await ledger.verify().journalEntries

        try await ledger.markSubmitted(holdID: late.id, upstreamTaskID: "task-late", upstreamRequestID: "req-late")
        let recorded = try await ledger.hold(id: late.id)
        #expect(recorded.upstreamTaskID == "task-late" && recorded.upstreamRequestID == "req-late")
        #expect(recorded.state == .expired && recorded.callStatus == .expired && recorded.postedMicro == 0)
        // Once there, the id is not replaced; without an id, or on a voided hold, it is refused.
        await expectLedgerError("hold_already_resolved") { try await ledger.markSubmitted(holdID: late.id, upstreamTaskID: "task-other") }
        await expectLedgerError("hold_already_resolved") { try await ledger.markSubmitted(holdID: late.id, upstreamTaskID: nil) }
        await expectLedgerError("hold_already_resolved") { try await ledger.markSubmitted(holdID: voided.id, upstreamTaskID: "task-v") }
        #expect(try await ledger.hold(id: late.id).upstreamTaskID == "task-late")
        #expect(try await ledger.hold(id: voided.id).upstreamTaskID == nil)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 0 && status.monthPendingMicro == 0)
        let report = try await ledger.verify()
        #expect(report.problems == [])
        #expect(report.journalEntries == journal)
    }
}

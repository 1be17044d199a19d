import Foundation
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// The per-team cap on async tasks in flight (``HoldRequest/maxPendingAsync``) on every store:
/// counted in the ledger, so holds racing from two stores on one database (two processes, as far
/// as the database can tell) admit exactly the cap.
extension LedgerContractTests {
    /// An async call's hold under `cap`.
    func asyncRequest(_ key: String, team: String = "acme", amount: MicroUSD = 1_500_000, cap: Int?) -> HoldRequest {
        var held = request(key, team: team, amount: amount)
        held.async = true
        held.maxPendingAsync = cap
        return held
    }

    @Test(arguments: StoreKind.allCases)
    func theCapCountsPendingAsyncHoldsOfTheTeamOnly(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team("acme", monthly: 100_000_000)
        try await fixture.team("beta", monthly: 100_000_000)
        let first = try await ledger.hold(asyncRequest("a1", cap: 2)).hold
        _ = try await ledger.hold(asyncRequest("a2", cap: 2))
        // Sync holds, another team's async holds and uncapped async holds (a CLI) are not refused
        // by this team's cap; the uncapped async one counts against it.
        _ = try await ledger.hold(request("s1"))
        _ = try await ledger.hold(asyncRequest("b1", team: "beta", cap: 2))
        let refused = await expectLedgerError("too_many_pending_tasks") { _ = try await ledger.hold(asyncRequest("a3", cap: 2)) }
        #expect(refused?.pendingCap == 2)
        #expect(refused?.message == "Team 'acme' already has 2 video tasks in flight; wait for some to finish.")
        // Refused: nothing was written, the budget kept nothing.
        #expect(try await ledger.hold(idempotencyKey: "a3") == nil)
        #expect(try await ledger.budgetStatus(team: "acme").monthPendingMicro == 4_500_000)
        // A replay of a held key is answered whatever the count.
        #expect(try await ledger.hold(asyncRequest("a1", cap: 2)).replayed)
        // A resolved hold frees its place; a larger cap admits more.
        try await ledger.post(holdID: first.id, amount: 1_500_000)
        _ = try await ledger.hold(asyncRequest("a3", cap: 2))
        await expectLedgerError("too_many_pending_tasks") { _ = try await ledger.hold(asyncRequest("a4", cap: 2)) }
        _ = try await ledger.hold(asyncRequest("a4", cap: 3))
        _ = try await ledger.hold(asyncRequest("a5", cap: nil))
        await expectLedgerError("too_many_pending_tasks") { _ = try await ledger.hold(asyncRequest("a6", cap: 4)) }
        // A cap on a sync call, or below one, is bad input.
        var sync = request("s2")
        sync.maxPendingAsync = 3
        await expectLedgerError("invalid_amount") { _ = try await ledger.hold(sync) }
        await expectLedgerError("invalid_amount") { _ = try await ledger.hold(asyncRequest("a7", cap: 0)) }
        #expect(try await ledger.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func holdsRacingFromTwoStoresAdmitExactlyTheCap(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        try await fixture.team("acme", monthly: 1_000_000_000)
        let second = try await fixture.another()
        let stores = [fixture.store, second]
        let codes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<24 {
                let store = stores[index % 2]
                group.addTask {
                    do {
                        _ = try await store.hold(self.asyncRequest("race-\(index)", cap: 5))
                        return "held"
                    } catch let error as LedgerError {
                        return error.code
                    }
                }
            }
            return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(codes == ["held": 5, "too_many_pending_tasks": 19])
        #expect(try await second.holds(state: .pending).count == 5)
        #expect(try await fixture.store.budgetStatus(team: "acme").monthPendingMicro == 7_500_000)
        #expect(try await fixture.store.verify().problems == [])
        await fixture.close(second)
    }
}

/// Settlement leases (``SettlementLeaseStore``) on every store: one owner at a time, renewed while
/// live, taken over once expired, given up at settlement; racing claims from two stores on one
/// database leave each hold with exactly one owner.
extension LedgerContractTests {
    @Test(arguments: StoreKind.allCases)
    func aLeaseHasOneOwnerUntilItExpiresThenAnotherTakesIt(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team("acme")
        let a = try await ledger.hold(asyncRequest("a", cap: nil)).hold
        let b = try await ledger.hold(asyncRequest("b", cap: nil)).hold
        let start = Int64(fixture.clock.now().timeIntervalSince1970 * 1000)

        #expect(try await ledger.claimLeases(holdIDs: [a.id, b.id], owner: "gw-1", duration: .seconds(10)) == [a.id, b.id])
        #expect(try await ledger.lease(holdID: a.id) == SettlementLease(holdID: a.id, owner: "gw-1", expiresAt: start + 10_000))
        // Another owner, from another store: both leases are live, nothing is taken.
        let other = try await fixture.another()
        #expect(try await other.claimLeases(holdIDs: [a.id, b.id], owner: "gw-2", duration: .seconds(10)) == [])
        // The owner renews while it polls.
        fixture.clock.advance(by: 6)
        #expect(try await ledger.renewLeases(owner: "gw-1", duration: .seconds(10)) == [a.id, b.id])
        #expect(try await ledger.lease(holdID: b.id)?.expiresAt == start + 16_000)
        fixture.clock.advance(by: 6)
        #expect(try await other.claimLeases(holdIDs: [a.id], owner: "gw-2", duration: .seconds(10)) == [])
        // gw-1 stops renewing (it died): at the expiry instant the lease is free to take.
        fixture.clock.advance(by: 4)
        #expect(try await other.claimLeases(holdIDs: [a.id, b.id], owner: "gw-2", duration: .seconds(10)) == [a.id, b.id])
        #expect(try await ledger.lease(holdID: a.id)?.owner == "gw-2")
        // The old owner renews nothing it lost, and cannot release another's lease.
        #expect(try await ledger.renewLeases(owner: "gw-1", duration: .seconds(10)) == [])
        try await ledger.releaseLeases(holdIDs: [a.id], owner: "gw-1")
        #expect(try await ledger.lease(holdID: a.id)?.owner == "gw-2")
        // Settled: its owner gives it up; a resolved hold cannot be claimed, and renewing drops
        // the owner's leases on holds that are no longer pending.
        try await other.post(holdID: a.id, amount: 1_500_000)
        try await other.releaseLeases(holdIDs: [a.id], owner: "gw-2")
        #expect(try await ledger.lease(holdID: a.id) == nil)
        #expect(try await ledger.claimLeases(holdIDs: [a.id], owner: "gw-1", duration: .seconds(10)) == [])
        try await other.void(holdID: b.id)
        #expect(try await other.renewLeases(owner: "gw-2", duration: .seconds(10)) == [])
        #expect(try await ledger.lease(holdID: b.id) == nil)
        #expect(try await ledger.verify().problems == [])
        await fixture.close(other)
    }

    @Test(arguments: StoreKind.allCases)
    func racingClaimsFromTwoStoresLeaveEachHoldOneOwner(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        try await fixture.team("acme", monthly: 1_000_000_000)
        var ids: [Int64] = []
        for index in 0..<20 { ids.append(try await fixture.store.hold(asyncRequest("h\(index)", cap: nil)).hold.id) }
        let second = try await fixture.another()
        let stores = [fixture.store, second]
        let claims = try await withThrowingTaskGroup(of: (String, Set<Int64>).self) { group in
            for index in 0..<8 {
                let store = stores[index % 2]
                // Overlapping halves, in different orders.
                let wanted = index.isMultiple(of: 2) ? ids : ids.reversed()
                group.addTask { ("gw-\(index)", try await store.claimLeases(holdIDs: wanted, owner: "gw-\(index)", duration: .seconds(30))) }
            }
            return try await group.reduce(into: [(String, Set<Int64>)]()) { $0.append($1) }
        }
        // Every hold claimed by exactly one owner, the one the ledger names.
        var owners: [Int64: String] = [:]
        for (owner, held) in claims {
            for id in held {
                #expect(owners[id] == nil, "hold \(id) claimed by \(owners[id] ?? "") and \(owner)")
                owners[id] = owner
            }
        }
        #expect(Set(owners.keys) == Set(ids))
        for id in ids { #expect(try await second.lease(holdID: id)?.owner == owners[id]) }
        await fixture.close(second)
    }
}

/// A hold that takes its caller's lease (``HoldRequest/settlementLease``) on every store: leased
/// from its own commit, so no other process can claim it first; a replay takes none; resolving it
/// leaves the lease inert, and renewals clear it (the owner's at once, a dead owner's once expired).
extension LedgerContractTests {
    @Test(arguments: StoreKind.allCases)
    func aHoldTakesItsCallersLeaseInItsOwnCommitAndRenewalsClearItOnceSettled(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team("acme")
        let start = Int64(fixture.clock.now().timeIntervalSince1970 * 1000)
        var leased = asyncRequest("a", cap: nil)
        leased.settlementLease = SettlementLease.Claim(owner: "gw-1", duration: .seconds(10))
        let a = try await ledger.hold(leased).hold
        var syncLeased = request("s")
        syncLeased.submitted = true
        syncLeased.settlementLease = SettlementLease.Claim(owner: "gw-1", duration: .seconds(10))
        let s = try await ledger.hold(syncLeased).hold
        let free = try await ledger.hold(asyncRequest("free", cap: nil)).hold
        #expect(try await ledger.lease(holdID: a.id) == SettlementLease(holdID: a.id, owner: "gw-1", expiresAt: start + 10_000))
        #expect(try await ledger.lease(holdID: s.id)?.owner == "gw-1")
        #expect(try await ledger.lease(holdID: free.id) == nil)

        // Another process's reconciler finds the leased calls taken, the unleased one free.
        let other = try await fixture.another()
        #expect(try await other.claimLeases(holdIDs: [a.id, s.id, free.id], owner: "gw-2", duration: .seconds(10)) == [free.id])
        // The same key again (a retry through another gateway) is a replay: the first hold, whose
        // lease stays its first caller's.
        var retry = leased
        retry.settlementLease = SettlementLease.Claim(owner: "gw-2", duration: .seconds(10))
        let replay = try await other.hold(retry)
        #expect(replay.replayed && replay.hold.id == a.id)
        #expect(try await ledger.lease(holdID: a.id)?.owner == "gw-1")
        #expect(try await ledger.renewLeases(owner: "gw-1", duration: .seconds(10)) == [a.id, s.id])

        // Settled: the lease is inert (a resolved hold is never claimed nor renewed) and the
        // owner's next renewal deletes it.
        try await other.post(holdID: a.id, amount: 1_200_000)
        #expect(try await other.claimLeases(holdIDs: [a.id], owner: "gw-2", duration: .seconds(10)) == [])
        #expect(try await ledger.renewLeases(owner: "gw-1", duration: .seconds(10)) == [s.id])
        #expect(try await ledger.lease(holdID: a.id) == nil)

        // gw-1 dies with the sync call leased; another process settles it (a client's retry, the
        // sweeper). Its lease stays until it has expired, then anyone's renewal clears it.
        try await other.void(holdID: s.id)
        #expect(try await other.renewLeases(owner: "gw-2", duration: .seconds(10)) == [free.id])
        #expect(try await ledger.lease(holdID: s.id)?.owner == "gw-1")
        fixture.clock.advance(by: 10)
        #expect(try await other.renewLeases(owner: "gw-2", duration: .seconds(10)) == [])
        #expect(try await ledger.lease(holdID: s.id) == nil)
        #expect(try await ledger.verify().problems == [])
        await fixture.close(other)
    }

    @Test(arguments: StoreKind.allCases)
    func aLeaseWithoutAnOwnerOrDurationIsRefusedAndHoldsNothing(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        try await fixture.team("acme")
        for claim in [SettlementLease.Claim(owner: "", duration: .seconds(10)), SettlementLease.Claim(owner: "gw-1", duration: .zero)] {
            var bad = asyncRequest("bad", cap: nil)
            bad.settlementLease = claim
            await #expect(throws: LedgerError.self) { try await fixture.store.hold(bad) }
        }
        #expect(try await fixture.store.openHolds() == [])
        #expect(try await fixture.store.budgetStatus(team: "acme").monthPendingMicro == 0)
    }
}

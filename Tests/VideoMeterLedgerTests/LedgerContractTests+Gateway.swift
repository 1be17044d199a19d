import Foundation
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// The gateway's part of the contract (``GatewayLedgerStore``) on every store: keys, task ids,
/// stored replays, the pending gauge and the ping answer alike, and a second process on the same
/// database sees what the first stored.
extension LedgerContractTests {
    @Test(arguments: StoreKind.allCases)
    func apiKeysAreCreatedListedFoundByHashAndRevokedOnce(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        let acme = try await fixture.team("acme")
        let beta = try await fixture.team("beta")
        let first = try await ledger.createAPIKey(team: "acme", keyHash: "hash-1", prefix: "vmk_aaaaaaaa", label: "ci")
        let second = try await ledger.createAPIKey(team: "beta", keyHash: "hash-2", prefix: "vmk_bbbbbbbb", label: nil)
        let third = try await ledger.createAPIKey(team: "acme", keyHash: "hash-3", prefix: "vmk_cccccccc", label: "ci")
        #expect(first.teamID == acme.id && first.team == "acme" && first.name == "ci" && first.revokedAt == nil)
        #expect(first.createdAt == Int64(fixture.clock.now().timeIntervalSince1970 * 1000))
        #expect(second.teamID == beta.id && second.name == nil)
        await expectLedgerError("unknown_team") {
            _ = try await ledger.createAPIKey(team: "nobody", keyHash: "hash-4", prefix: "vmk_dddddddd", label: nil)
        }

        #expect(try await ledger.apiKeys().map(\.id) == [first.id, second.id, third.id])
        #expect(try await ledger.apiKeys(team: "acme").map(\.keyHash) == ["hash-1", "hash-3"])
        await expectLedgerError("unknown_team") { _ = try await ledger.apiKeys(team: "nobody") }
        #expect(try await ledger.apiKey(hash: "hash-2") == second)
        #expect(try await ledger.apiKey(hash: "no-such-hash") == nil)

        // Two keys share the label: it names no single key, and nothing changes.
        #expect(try await ledger.revokeAPIKey(matching: "ci") == nil)
        #expect(try await ledger.apiKeys().allSatisfy { $0.revokedAt == nil })
        let revokedAt = Int64(fixture.clock.now().timeIntervalSince1970 * 1000)
        let revoked = try #require(try await ledger.revokeAPIKey(matching: "vmk_cccccccc"))
        #expect(revoked.id == third.id && revoked.revokedAt == revokedAt)
        // Revoking again, by id this time, keeps the first time.
        fixture.clock.advance(by: 60)
        #expect(try await ledger.revokeAPIKey(matching: "\(third.id)")?.revokedAt == revokedAt)
        #expect(try await ledger.revokeAPIKey(matching: "nothing") == nil)

        let other = try await fixture.another()
        #expect(try await other.apiKey(hash: "hash-3")?.revokedAt == revokedAt)
        await fixture.close(other)
    }

    @Test(arguments: StoreKind.allCases)
    func aHoldKeepsItsFirstTaskIdAndItsFirstReplay(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        let acme = try await fixture.team("acme")
        let key = try await ledger.createAPIKey(team: "acme", keyHash: "hash-1", prefix: "vmk_aaaaaaaa", label: nil)
        let a = try await ledger.hold(request("a", amount: 1_000_000)).hold
        let b = try await ledger.hold(request("b", amount: 2_000_000)).hold

        #expect(try await ledger.gatewayTaskID(holdID: a.id, teamID: acme.id, apiKeyID: key.id, candidate: "task_a1") == "task_a1")
        #expect(try await ledger.gatewayTaskID(holdID: a.id, teamID: acme.id, apiKeyID: key.id, candidate: "task_a2") == "task_a1")
        // Another process asking for the same hold gets the same id.
        let other = try await fixture.another()
        #expect(try await other.gatewayTaskID(holdID: a.id, teamID: acme.id, apiKeyID: nil, candidate: "task_a3") == "task_a1")
        #expect(try await other.gatewayTask(id: "task_a1") == GatewayTaskRecord(holdID: a.id, teamID: acme.id))
        #expect(try await ledger.gatewayTask(id: "task_a2") == nil)
        // Racing candidates for one hold agree on one id.
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                let store = index.isMultiple(of: 2) ? ledger : other
                group.addTask { try await store.gatewayTaskID(holdID: b.id, teamID: acme.id, apiKeyID: nil, candidate: "task_b\(index)") }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 1)

        #expect(try await ledger.replay(holdID: a.id) == nil)
        try await ledger.storeReplay(holdID: a.id, responseJSON: #"{"first":true}"#)
        try await other.storeReplay(holdID: a.id, responseJSON: #"{"second":true}"#)
        #expect(try await other.replay(holdID: a.id) == #"{"first":true}"#)
        #expect(try await ledger.replay(holdID: b.id) == nil)
        await fixture.close(other)
    }

    @Test(arguments: StoreKind.allCases)
    func thePendingCountTeamNamesAndPingAnswer(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        let acme = try await fixture.team("acme")
        try await fixture.team("beta")
        try await ledger.ping()
        #expect(try await ledger.pendingHoldCount() == 0)
        let a = try await ledger.hold(request("a", amount: 1_000_000)).hold
        _ = try await ledger.hold(request("b", team: "beta", amount: 1_000_000))
        _ = try await ledger.hold(request("c", amount: 1_000_000))
        #expect(try await ledger.pendingHoldCount() == 3)
        try await ledger.post(holdID: a.id, amount: 1_000_000)
        #expect(try await ledger.pendingHoldCount() == 2)
        #expect(try await ledger.teamName(id: acme.id) == "acme")
        await expectLedgerError("unknown_team") { _ = try await ledger.teamName(id: 999_999) }
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// Writes sent together, so that the group commit puts many of them in one batch (on PostgreSQL,
/// one set-wise batch: ``VideoMeterLedgerPostgres``'s `PostgresHoldBatch`): each must be answered
/// as if it had run alone, in some order, on every store.
extension LedgerContractTests {
    @Test(arguments: StoreKind.allCases)
    func concurrentGrantsAreAdmittedInTurnAndARefusalTouchesNoOther(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000)
        try await fixture.store.createTeam(name: "nobudget", timeZone: "UTC")
        enum Answer: Equatable { case granted(Int64, replayed: Bool), refused(String) }
        // Eight holds of 3 USD against 10 USD; the same 1 USD hold twice, and once more under its key
        // with another fingerprint; a team without a budget; a team that does not exist.
        var requests = (0..<8).map { request("h\($0)", amount: 3_000_000) }
        requests += [request("twice", amount: 1_000_000), request("twice", amount: 1_000_000)]
        requests += [request("twice", amount: 1_000_000, fingerprint: "other")]
        requests += [request("n1", team: "nobudget"), request("u1", team: "nobody")]
        let answers = await withTaskGroup(of: (Int, Answer).self) { group in
            for (index, held) in requests.enumerated() {
                group.addTask {
                    do {
                        let receipt = try await ledger.hold(held)
                        return (index, .granted(receipt.hold.id, replayed: receipt.replayed))
                    } catch let error as LedgerError {
                        return (index, .refused(error.code))
                    } catch {
                        return (index, .refused("\(error)"))
                    }
                }
            }
            return await group.reduce(into: [Int: Answer]()) { $0[$1.0] = $1.1 }
        }
        let big = (0..<8).map { answers[$0]! }
        // The 1 USD hold under "twice" is granted whatever the order (10 - 9 >= 1), so three of
        // 3 USD fit: exactly three, the others refused by the monthly limit.
        #expect(big.filter { if case .granted = $0 { true } else { false } }.count == 3)
        #expect(big.filter { $0 == .refused("budget_exceeded") }.count == 5)
        // Under "twice", whichever came first is granted: two with one fingerprint answer with one
        // hold (once replayed); the other fingerprint is refused, or is the first and refuses them.
        if case .granted(_, let replayed) = answers[10]! {
            #expect(!replayed)
            #expect(answers[8] == .refused("idempotency_key_reused") && answers[9] == .refused("idempotency_key_reused"))
        } else if case .granted(let first, let firstReplayed) = answers[8]!, case .granted(let second, let secondReplayed) = answers[9]! {
            #expect(first == second)
            #expect(firstReplayed != secondReplayed)
            #expect(answers[10] == .refused("idempotency_key_reused"))
        } else {
            Issue.record("one request under the key \"twice\" is granted: \(answers)")
        }
        #expect(answers[11] == .refused("no_budget"))
        #expect(answers[12] == .refused("unknown_team"))
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPendingMicro == 10_000_000)
        #expect(status.availableMicro == 0)
        #expect(try await ledger.holds().count == 4)
        #expect(try await ledger.verify().problems == [])
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentPostsRaiseEachThresholdOnceAtTheSpendThatReachedIt(_ kind: StoreKind) async throws {
        guard let fixture = try await StoreFixture.make(kind) else { return }
        defer { Task { await fixture.close() } }
        let ledger = fixture.store
        try await fixture.team(monthly: 10_000_000, alerts: [50, 80, 100])
        var holds: [Hold] = []
        for index in 0..<10 { holds.append(try await ledger.hold(request("p\(index)", amount: 1_000_000)).hold) }
        // Ten posts of 1 USD at once, two of them twice: whatever the order, the post that brings
        // the month to 5, 8 and 10 USD raises 50, 80 and 100 %, and a hold resolves once.
        let resolved = await withTaskGroup(of: Bool.self) { group in
            for hold in holds + holds.prefix(2) {
                group.addTask { (try? await ledger.post(holdID: hold.id, amount: 1_000_000)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(resolved == 10)
        let alerts = try await ledger.alerts(team: "acme").filter { $0.kind == .threshold }
        #expect(alerts.map(\.thresholdPercent) == [50, 80, 100])
        #expect(alerts.map(\.spentMicro) == [5_000_000, 8_000_000, 10_000_000])
        #expect(alerts.allSatisfy { $0.limitMicro == 10_000_000 })
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 10_000_000)
        #expect(status.monthPendingMicro == 0)
        #expect(try await ledger.usageEvents(team: "acme").map(\.chargedMicro) == Array(repeating: 1_000_000, count: 10))
        let report = try await ledger.verify()
        #expect(report.problems == [])
        #expect(report.journalEntries == 20)
    }
}

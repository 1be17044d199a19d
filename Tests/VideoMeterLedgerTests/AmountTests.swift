import Foundation
import GRDB
import Testing
import VideoMeter
@testable import VideoMeterLedger

/// Every hold, journal entry and usage event stores its amount split the one way: upstream cost,
/// margin line, flat fee, adding up to the amount.
@Suite struct AmountTests {
    func hold(_ key: String, upstream: MicroUSD, margin: MicroUSD, fee: MicroUSD, amount: MicroUSD) -> HoldRequest {
        var request = request(key, amount: amount)
        request.upstreamCostMicro = upstream
        request.marginMicro = margin
        request.flatFeeMicro = fee
        return request
    }

    @Test func aPartialPostSharesTheSplitAndEveryRowAddsUp() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let held = try await fixture.ledger.hold(hold("a", upstream: 158_500, margin: 31_700, fee: 10_000, amount: 200_200)).hold
        #expect(held.split == ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 31_700, flatFeeMicro: 10_000))
        try await fixture.ledger.post(holdID: held.id, amount: 100_100)
        let rows = try await fixture.ledger.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, amountMicro, upstreamCostMicro, marginMicro, flatFeeMicro FROM journalEntry ORDER BY id")
        }
        #expect(rows.map { "\($0[0] as String) \($0[1] as Int64) \($0[2] as Int64) \($0[3] as Int64) \($0[4] as Int64)" } == [
            "hold 200200 158500 31700 10000",
            "post 100100 79250 10850 10000",
        ])
        let event = try #require(try await fixture.ledger.usageEvents(team: "acme").first)
        #expect(event.chargedMicro == 100_100)
        #expect(event.upstreamCostMicro + event.marginMicro + event.flatFeeMicro == 100_100)
        #expect(event.flatFeeMicro == 10_000)
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func aPostWithItsOwnSplitStoresIt() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let held = try await fixture.ledger.hold(hold("a", upstream: 158_500, margin: 31_700, fee: 10_000, amount: 200_200)).hold
        let repriced = ChargeSplit(upstreamCostMicro: 95_900, marginMicro: 19_180, flatFeeMicro: 10_000)
        try await fixture.ledger.post(holdID: held.id, amount: 125_080, settlement: Settlement(billedSeconds: 3, split: repriced))
        let event = try #require(try await fixture.ledger.usageEvents(team: "acme").first)
        #expect(ChargeSplit(upstreamCostMicro: event.upstreamCostMicro, marginMicro: event.marginMicro, flatFeeMicro: event.flatFeeMicro) == repriced)
    }

    @Test func partsThatDoNotAddUpAreRefusedAndChangeNothing() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        let before = try await snapshot(fixture.path)
        await expectLedgerError("invalid_amount") {
            _ = try await fixture.ledger.hold(hold("a", upstream: 158_500, margin: 31_700, fee: 0, amount: 200_200))
        }
        #expect(try await snapshot(fixture.path) == before)
        let held = try await fixture.ledger.hold(hold("b", upstream: 150_000, margin: 50_200, fee: 0, amount: 200_200)).hold
        let afterHold = try await snapshot(fixture.path)
        await expectLedgerError("invalid_amount") {
            try await fixture.ledger.post(holdID: held.id, amount: 100_000, settlement: Settlement(split: ChargeSplit(upstreamCostMicro: 100_000, marginMicro: 1, flatFeeMicro: 0)))
        }
        #expect(try await snapshot(fixture.path) == afterHold)
        #expect(try await fixture.ledger.hold(id: held.id).state == .pending)
    }
}

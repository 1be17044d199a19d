import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering

/// What the metered client keeps in memory to spare the hot path work (docs/GATEWAY.md, "Where the
/// time goes") changes nothing it records or answers.
@Suite("Hot path")
struct HotPathTests {
    @Test func everyHoldStoresItsOwnQuoteAsJSONAlsoWhenTheQuoteWasEncodedBefore() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let requests = [
            MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "a cat", durationSeconds: 5),
            MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "a dog", durationSeconds: 5),
            MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "a cat", durationSeconds: 8),
        ]
        for request in requests {
            let priced = try fixture.client.price(request)
            guard case .settled(let outcome) = try await fixture.client.start(priced) else {
                Issue.record("a sync call should be settled")
                return
            }
            let hold = try await fixture.ledger.hold(id: outcome.holdID)
            #expect(hold.quoteJSON == String(decoding: try priced.quote.jsonData(pretty: false), as: UTF8.self))
        }
        // 5 s at 0.030 + 5 % twice, then 8 s: the stored quotes' totals.
        let totals = try await fixture.ledger.holds().map(\.amountMicro)
        #expect(totals == [157_500, 157_500, 252_000])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func eachOutcomeNamesTheTeamOfItsHold() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team("acme")
        try await fixture.team("globex")
        for team in ["acme", "globex", "acme", "globex"] {
            let outcome = try await fixture.client.generate(
                MeteredRequest(team: team, model: "bytedance/seedance-1.5-pro", prompt: "a kite", durationSeconds: 5))
            #expect(outcome.team == team)
            #expect(outcome.chargedMicro == 157_500)
        }
        #expect(try await fixture.balance("acme").posted == 315_000)
        #expect(try await fixture.balance("globex").posted == 315_000)
        await fixture.shutdown()
    }
}

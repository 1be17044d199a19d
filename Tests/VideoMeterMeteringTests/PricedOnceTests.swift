import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterLedger
import VideoMeterMetering

/// A call is priced once, at one instant, and settled at the rates stored on its hold.
@Suite("Priced once")
struct PricedOnceTests {
    /// The shipped catalog plus a WorldRouter price list `id`, in force from `from`, at 0.10 USD a
    /// second for 720p (0.07 in the shipped list).
    static func catalog(addingVersion id: String, from: String) throws -> Catalog {
        let shipped = try #require(Catalog.bundledFiles().first { $0.name == "worldrouter.json" })
        var object = try #require(try JSONSerialization.jsonObject(with: shipped.data) as? [String: Any])
        var versions = try #require(object["versions"] as? [[String: Any]])
        var next = versions[0]
        next["version"] = id
        next["effective_from"] = from
        var models = try #require(next["models"] as? [[String: Any]])
        models[0]["per_second"] = ["480p": "0.05", "720p": "0.10"]
        next["models"] = models
        versions.append(next)
        object["versions"] = versions
        let data = try JSONSerialization.data(withJSONObject: object)
        return try Catalog.decode(files: [("worldrouter.json", data)])
    }

    @Test func aPriceChangeBetweenPricingAndSendingDoesNotChangeWhatIsHeld() async throws {
        // The new price list takes effect one second after the fixture's clock (10:00:00Z).
        let catalog = try Self.catalog(addingVersion: "worldrouter-2026-11-21", from: "2026-11-21T10:00:01Z")
        let fixture = try await MeteringFixture.make(catalog: catalog)
        try await fixture.team()
        let priced = try fixture.client.price(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "a kite", durationSeconds: 4, resolution: "720p"))
        #expect(priced.quote.catalogVersion == "worldrouter-2026-01")
        #expect(priced.quote.totalMicro == 280_000)
        fixture.clock.advance(by: 5)
        // Sent after the change: held and charged at the price it was given.
        guard case .running(let call) = try await fixture.client.start(priced) else {
            Issue.record("an async call should be running")
            return
        }
        let hold = try await fixture.ledger.hold(id: call.holdID)
        #expect(hold.amountMicro == 280_000)
        #expect(hold.catalogVersion == "worldrouter-2026-01")
        let outcome = try await fixture.client.finish(holdID: call.holdID)
        #expect(outcome.chargedMicro == 280_000)
        // A request priced now gets the new list.
        #expect(try fixture.client.price(priced.request).quote.totalMicro == 400_000)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aSettledCallIsChargedAtItsStoredRatesAfterTheCatalogChanged() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        // 8 s at 720p held (0.56); the emulator delivers half (4 s).
        guard case .running(let call) = try await fixture.client.start(MeteredRequest(
            team: "acme", model: "grok-imagine-video", prompt: "a kite [emulate:shorter]", durationSeconds: 8, resolution: "720p"))
        else {
            Issue.record("an async call should be running")
            return
        }
        #expect(try await fixture.ledger.hold(id: call.holdID).amountMicro == 560_000)
        // The process restarts with price files that back-date a new list to before the hold:
        // looking the hold's date up again would now find 0.10 a second.
        let changed = try Self.catalog(addingVersion: "worldrouter-2026-11", from: "2026-11-01T00:00:00Z")
        #expect(try changed.quote(QuoteRequest(model: "grok-imagine-video", durationSeconds: 4, resolution: "720p"), at: fixture.clock.now()).totalMicro == 400_000)
        let outcome = try await fixture.client(catalog: changed).finish(holdID: call.holdID)
        // 4 s at the stored list's 0.07: 0.28, neither the new rate nor the whole hold.
        #expect(outcome.billedSeconds == 4)
        #expect(outcome.chargedMicro == 280_000)
        let entries = try await fixture.ledger.usageEvents(team: "acme")
        #expect(entries.map(\.chargedMicro) == [280_000])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aHoldWhosePriceListIsGoneIsChargedAsHeld() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        guard case .running(let call) = try await fixture.client.start(MeteredRequest(
            team: "acme", model: "grok-imagine-video", prompt: "a kite [emulate:shorter]", durationSeconds: 8, resolution: "720p"))
        else {
            Issue.record("an async call should be running")
            return
        }
        // A catalog without the hold's price list cannot reprice the shorter video: the quoted
        // (held) call is charged, never a rate looked up by date.
        let replaced = try #require(Catalog.bundledFiles().first { $0.name == "worldrouter.json" })
        let renamed = String(decoding: replaced.data, as: UTF8.self).replacingOccurrences(of: "worldrouter-2026-01", with: "worldrouter-2026-02")
        let other = try Catalog.decode(files: [("worldrouter.json", Data(renamed.utf8))])
        let outcome = try await fixture.client(catalog: other).finish(holdID: call.holdID)
        #expect(outcome.chargedMicro == 560_000)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// A price list's `billable_outcomes` decide what is charged when no video comes back.
@Suite("Billable outcomes")
struct BillableOutcomesTests {
    /// The shipped catalog with grok-imagine-video billing failed tasks too (as xAI bills
    /// moderation-blocked jobs).
    /// And every BlockRun model too.
    func catalogBillingFailures() throws -> Catalog {
        var json = try String(decoding: Catalog.bundledFiles().first { $0.name == "worldrouter.json" }!.data, as: UTF8.self)
        let range = try #require(json.range(of: #""billable_outcomes": ["succeeded"]"#))
        json.replaceSubrange(range, with: #""billable_outcomes": ["succeeded", "failed"]"#)
        let blockRun = try String(decoding: Catalog.bundledFiles().first { $0.name == "blockrun.json" }!.data, as: UTF8.self)
            .replacingOccurrences(of: #""billable_outcomes": ["succeeded"]"#, with: #""billable_outcomes": ["succeeded", "failed"]"#)
        return try Catalog.decode(files: [("worldrouter.json", Data(json.utf8)), ("blockrun.json", Data(blockRun.utf8))])
    }

    @Test func aFailedTaskIsChargedTheQuoteWhenThePriceListBillsFailures() async throws {
        let fixture = try await MeteringFixture.make(catalog: try catalogBillingFailures())
        try await fixture.team()
        let failed = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "blocked [emulate:failed]", durationSeconds: 4))
        #expect(failed.status == .failed)
        #expect(failed.chargedMicro == 280_000)  // 4 s x 0.07, as quoted
        let cancelled = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "stopped [emulate:cancelled]", durationSeconds: 4))
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.chargedMicro == 0)
        #expect(try await fixture.balance() == (280_000, 0))
        let events = try await fixture.ledger.usageEvents(team: "acme")
        #expect(events.map(\.status) == ["failed", "cancelled"])
        #expect(events.map(\.chargedMicro) == [280_000, 0])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func refusalsAreNeverBilledEvenWhenFailuresAre() async throws {
        let fixture = try await MeteringFixture.make(
            catalog: try catalogBillingFailures(),
            createRetry: CreateRetryPolicy(maxAttempts: 2, initialInterval: .milliseconds(1), maxInterval: .milliseconds(2)))
        try await fixture.team()
        // A 424 created no task; a BlockRun 500 delivered no video: nothing ran that could be billed.
        let noTask = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "x [emulate:upstream_failure]"))
        }
        #expect(noTask == "upstream_failure")
        let serverError = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: "x [emulate:failed]"))
        }
        #expect(serverError == "upstream_server_error")
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.chargedMicro) == [0, 0])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aCatalogCannotBillARefusalOrATimeout() {
        let json = String(decoding: Catalog.bundledFiles().first { $0.name == "blockrun.json" }!.data, as: UTF8.self)
            .replacingOccurrences(of: #""billable_outcomes": ["succeeded"]"#, with: #""billable_outcomes": ["succeeded", "timed_out"]"#)
        #expect(throws: CatalogErrors.self) { try Catalog.decode(files: [("blockrun.json", Data(json.utf8))]) }
    }

    @Test func withTheShippedCatalogAFailedTaskCostsNothing() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let failed = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "blocked [emulate:failed]", durationSeconds: 4))
        #expect(failed.chargedMicro == 0)
        #expect(try await fixture.balance() == (0, 0))
        await fixture.shutdown()
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// `reprice` over the report fixture's November: read-only, exact per team and model, unpriced
/// calls listed and never counted as 0.
@Suite("Re-pricing a month")
struct RepriceTests {
    /// BlockRun's sheet with one rate changed: seedance-1.5-pro 0.030 -> 0.040 per second
    /// (5 s = 0.200 + 5 % = 0.210000); seedance-2.0 at the sheet's 0.300 (5 s = 1.575000).
    static let newSheet = """
        {"provider": "blockrun", "versions": [
          {"version": "blockrun-2026-12", "effective_from": "2026-12-01T00:00:00Z", "source": "test: one rate changed",
           "margin_percent": "5", "settlement_scale": 6, "rounding": "half_up", "display_scale": 3,
           "models": [
             {"id": "bytedance/seedance-1.5-pro", "api_style": "sync", "resolutions": ["720p"],
              "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.040"}, "source": "test"},
             {"id": "bytedance/seedance-2.0", "api_style": "sync", "resolutions": ["720p"],
              "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.300"}, "source": "test"}
           ]}
        ]}
        """

    static func newCatalog() throws -> Catalog {
        try Catalog.decode(files: [("blockrun.json", Data(newSheet.utf8))])
    }

    func reprice(_ fixture: ReportFixture, _ selection: UsageSelection, team: String? = nil) async throws -> RepriceReport {
        let calls = try await LedgerSnapshot(path: fixture.path).chargedCalls(selection, team: team)
        return RepriceReport(
            month: "2026-11", timeZone: nil, pricing: "test sheet", calls: calls, catalog: try Self.newCatalog(), at: .distantFuture,
            chargedRoundings: ReportFixture.roundings)
    }

    @Test func aMonthUnderACatalogWithOneRateChanged() async throws {
        let fixture = try await ReportFixture()
        let report = try await reprice(fixture, .budgetMonth("2026-11"))

        let studio = try #require(report.teams.first { $0.team == "studio" })
        #expect(studio.models.map(\.model) == ["bytedance/seedance-1.5-pro", "bytedance/seedance-2.0"])
        // Three 5 s calls (one held for 10 s, charged for the 5 s reported) charged 157,500 +
        // 157,500 + 126,000; each 210,000 under the new sheet.
        #expect(studio.models[0].calls == 3)
        #expect(studio.models[0].chargedMicro == 441_000)
        #expect(studio.models[0].repricedMicro == 630_000)
        #expect(studio.models[0].differenceMicro == 189_000)
        #expect(studio.models[1].calls == 1)
        #expect(studio.models[1].chargedMicro == 787_500)
        #expect(studio.models[1].repricedMicro == 1_575_000)
        #expect(studio.chargedMicro == 1_228_500)
        #expect(studio.repricedMicro == 2_205_000)
        // Invoiced: the old lists round their shares (0.315 at 3 places; 0.9135 -> 0.91 half-even),
        // the new list its own (2.205).
        #expect(studio.chargedInvoiceMicro == 1_225_000)
        #expect(studio.repricedInvoiceMicro == 2_205_000)

        // tokyo's WorldRouter calls: the new catalog has no WorldRouter, so they are unpriced, not 0.
        #expect(!report.teams.contains { $0.team == "tokyo" })
        #expect(report.unpriced.map(\.team) == ["tokyo", "tokyo"])
        #expect(report.unpriced.allSatisfy { $0.code == "unknown_provider" && $0.provider == "worldrouter" })
        #expect(report.unpriced.map(\.chargedMicro).sorted() == [52_000, 420_000])
        #expect(report.unpricedChargedMicro == 472_000)

        #expect(report.chargedMicro == 1_228_500)
        #expect(report.repricedMicro == 2_205_000)
        #expect(report.differenceMicro == 976_500)
        #expect(report.catalogVersion == "blockrun-2026-12")

        let document = try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as! [String: Any]
        #expect(document["charged"] as? String == "1.228500")
        #expect(document["repriced"] as? String == "2.205000")
        #expect(document["difference"] as? String == "0.976500")
        #expect(document["catalog_version"] as? String == "blockrun-2026-12")
        let teams = try #require(document["teams"] as? [[String: Any]])
        #expect(teams.map { $0["team"] as? String } == ["studio"])
        #expect((teams[0]["models"] as? [[String: Any]])?.first?["repriced"] as? String == "0.630000")
        #expect((document["unpriced"] as? [[String: Any]])?.count == 2)
    }

    @Test func aMonthInAnotherZoneSelectsByInstants() async throws {
        let fixture = try await ReportFixture()
        // November in UTC: tokyo's Oct 31 15:30Z call (Nov 1 in Tokyo) is out, its Nov 30 15:30Z
        // seedance call (Dec 1 in Tokyo) is in, priced 210,000 under the new sheet.
        let period = ReportPeriod(month: ReportFixture.november, timeZone: TimeZone(identifier: "UTC")!)
        let report = try await reprice(fixture, .instants(start: period.start * 1000, end: period.end * 1000))
        let tokyo = try #require(report.teams.first { $0.team == "tokyo" })
        #expect(tokyo.calls == 1)
        #expect(tokyo.chargedMicro == 157_500)
        #expect(tokyo.repricedMicro == 210_000)
        #expect(report.unpriced.map(\.chargedMicro) == [52_000])
    }

    @Test func oneTeamAndAnUnknownTeam() async throws {
        let fixture = try await ReportFixture()
        let report = try await reprice(fixture, .budgetMonth("2026-11"), team: "studio")
        #expect(report.teams.map(\.team) == ["studio"])
        #expect(report.unpriced.isEmpty)
        #expect(report.repricedMicro == 2_205_000)
        await #expect(throws: LedgerError.unknownTeam("nobody")) {
            try await LedgerSnapshot(path: fixture.path).chargedCalls(.budgetMonth("2026-11"), team: "nobody")
        }
    }

    @Test func aCallLongerThanTheNewMaximumIsUnpricedWithTheReason() async throws {
        let fixture = try await ReportFixture()
        let shorter = Self.newSheet.replacingOccurrences(of: #""max": 10}, "per_second": {"720p": "0.300"}"#, with: #""max": 4}, "per_second": {"720p": "0.300"}"#)
            .replacingOccurrences(of: #"{"default": 5, "min": 1, "max": 4}"#, with: #"{"default": 4, "min": 1, "max": 4}"#)
        let catalog = try Catalog.decode(files: [("blockrun.json", Data(shorter.utf8))])
        let calls = try await LedgerSnapshot(path: fixture.path).chargedCalls(.budgetMonth("2026-11"), team: "studio")
        let report = RepriceReport(
            month: "2026-11", timeZone: nil, pricing: "shorter", calls: calls, catalog: catalog, at: .distantFuture,
            chargedRoundings: ReportFixture.roundings)
        let item = try #require(report.unpriced.first)
        #expect(item.model == "bytedance/seedance-2.0")
        #expect(item.code == "duration_above_max")
        #expect(item.chargedMicro == 787_500)
        #expect(report.repricedMicro == 630_000)
        #expect(report.chargedMicro == 441_000)
    }

    @Test func theSnapshotNeverWrites() async throws {
        let fixture = try await ReportFixture()
        let before = try await fixture.ledger.verify()
        let snapshot = try LedgerSnapshot(path: fixture.path)
        _ = try await snapshot.chargedCalls(.budgetMonth("2026-11"))
        let after = try await fixture.ledger.verify()
        #expect(before == after)
        #expect(after.problems.isEmpty)
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
@testable import VideoMeterReports

@Suite("Monthly report from a ledger month")
struct MonthlyReportTests {
    @Test func studioTotalsMatchTheLedgerToTheMicroDollar() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "studio")
        let studio = try #require(report.teams.first)
        #expect(report.teams.count == 1)
        #expect(studio.chargedMicro == 1_228_500)
        #expect(studio.upstreamCostMicro == 1_170_000)
        #expect(studio.marginMicro == 58_500)
        #expect(studio.secondsGenerated == 20)
        #expect(studio.ledgerChargedMicro == 1_228_500)
        #expect(try await fixture.ledgerPosted(team: "studio", month: "2026-11") == studio.chargedMicro)
        let outcomes = studio.outcomes
        #expect(outcomes[.succeeded] == 4)
        #expect(outcomes[.timedOut] == 1)
        #expect(outcomes[.failed] == 1)
        #expect(outcomes[.expired] == 1)
        #expect(outcomes[.cancelled] == 0 && outcomes[.rejected] == 0 && outcomes[.unknown] == 0)
        #expect(outcomes.total == 7)

        #expect(studio.lines.map { "\($0.model) \($0.chargedMicro) \($0.upstreamCostMicro) \($0.marginMicro) \($0.seconds) \($0.outcomes.total)" } == [
            "bytedance/seedance-2.0 787500 750000 37500 5 2",
            "bytedance/seedance-1.5-pro 441000 420000 21000 15 4",
            "xai/grok-imagine-video 0 0 0 0 1",
        ])
        let days = studio.daily.filter { $0.requests > 0 }.map { "\($0.date) \($0.requests) \($0.chargedMicro)" }
        #expect(days == [
            "2026-11-03 2 157500", "2026-11-05 1 0", "2026-11-10 1 157500", "2026-11-12 1 0",
            "2026-11-20 1 126000", "2026-11-25 1 787500",
        ])
        #expect(studio.daily.count == 30)
        #expect(studio.daily.reduce(0) { $0 + $1.chargedMicro } == 1_228_500)
        #expect(studio.catalogVersions.map { "\($0.version) \($0.requests) \($0.chargedMicro)" } == [
            "blockrun-2026-04 5 315000", "blockrun-2026-11-15 2 913500",
        ])
        #expect(studio.topCallers.map { "\($0.caller) \($0.requests) \($0.chargedMicro)" } == ["alice 4 1071000", "bob 3 157500"])
        #expect(studio.openItems.map { "\($0.kind.rawValue) \($0.amountMicro)" } == ["open_hold 157500", "unknown 157500", "late_success 157500"])
        #expect(studio.alerts.map { "\($0.thresholdPercent) \($0.spentMicro ?? -1)" } == ["50 1228500"])
        #expect(studio.budget?.monthlyLimitMicro == 2_000_000)
    }

    @Test func invoiceRoundsEachLineToTheCentThenSumsAndExplainsTheDifference() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "studio")
        let invoice = try #require(report.teams.first).invoice
        #expect(invoice.lines.map { "\($0.model) \($0.exactMicro) \($0.roundedMicro) \($0.differenceMicro)" } == [
            "bytedance/seedance-2.0 787500 790000 2500",
            "bytedance/seedance-1.5-pro 441000 440000 -1000",
        ])
        #expect(invoice.invoicedTotalMicro == 1_230_000)
        #expect(invoice.ledgerTotalMicro == 1_228_500)
        #expect(invoice.differenceMicro == 1_500)
        #expect(invoice.linesMatchLedger)
        #expect(invoice.explanation.contains("1.23 USD"))
        #expect(invoice.explanation.contains("1.228500 USD"))
        #expect(invoice.explanation.contains("+0.001500 USD"))
        #expect(invoice.explanation.contains("+0.002500 (blockrun bytedance/seedance-2.0 720p) -0.001000 (blockrun bytedance/seedance-1.5-pro 720p)"))
    }

    @Test func aTeamInTokyoGetsTheTokyoMonth() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo")
        let tokyo = try #require(report.teams.first)
        #expect(tokyo.timeZone == "Asia/Tokyo")
        #expect(tokyo.periodStart == Int64(ReportFixture.utc("2026-10-31T15:00:00Z").timeIntervalSince1970))
        #expect(tokyo.chargedMicro == 470_000)
        #expect(tokyo.ledgerChargedMicro == 470_000)
        #expect(try await fixture.ledgerPosted(team: "tokyo", month: "2026-11") == 470_000)
        #expect(tokyo.outcomes[.succeeded] == 2 && tokyo.outcomes[.cancelled] == 1 && tokyo.outcomes[.rejected] == 1)
        #expect(tokyo.daily.first.map { "\($0.date) \($0.requests) \($0.chargedMicro)" } == "2026-11-01 1 420000")
        #expect(tokyo.invoice.invoicedTotalMicro == 470_000)
        #expect(tokyo.invoice.differenceMicro == 0)
    }

    @Test func aTimeZoneOverrideMovesTheBoundaryEvents() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo", timeZone: "UTC")
        let tokyo = try #require(report.teams.first)
        #expect(tokyo.periodStart == Int64(ReportFixture.utc("2026-11-01T00:00:00Z").timeIntervalSince1970))
        #expect(tokyo.chargedMicro == 207_500)
        #expect(tokyo.ledgerChargedMicro == 207_500)
        #expect(tokyo.requests == 4)
        #expect(tokyo.daily.last.map { "\($0.date) \($0.chargedMicro)" } == "2026-11-30 157500")
    }

    @Test func allTeamsIsTheSumOfTheTeams() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        #expect(report.teams.map(\.team) == ["studio", "tokyo"])
        let all = report.allTeams
        #expect(all.chargedMicro == 1_698_500)
        #expect(all.ledgerChargedMicro == 1_698_500)
        #expect(all.upstreamCostMicro == 1_620_000)
        #expect(all.marginMicro == 78_500)
        #expect(all.requests == 11)
        #expect(all.daily.reduce(0) { $0 + $1.chargedMicro } == 1_698_500)
        #expect(all.invoice.invoicedTotalMicro == 1_700_000)
        #expect(all.openItems.count == 3)
    }

    @Test func anEmptyMonthIsAValidReportThatSaysSo() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: try ReportMonth(parsing: "2027-02"))
        #expect(report.isEmpty)
        #expect(report.teams.count == 2)
        #expect(report.allTeams.chargedMicro == 0)
        #expect(report.teams[0].daily.count == 28)
        let renderer = ReportRenderer()
        #expect(ReportRenderer.csv(report) == ReportRenderer.csvHeader.joined(separator: ",") + "\r\n")
        #expect(try renderer.render(report, as: .md).contains("No activity in 2027-02: no requests were metered and nothing is open."))
        #expect(try renderer.render(report, as: .html).contains("No activity in 2027-02"))
        #expect(try renderer.render(report, as: .json).contains(#""is_empty" : true"#))
    }

    @Test func anUnknownTeamIsRefused() async throws {
        let fixture = try await ReportFixture(empty: true)
        await #expect(throws: ReportError.unknownTeam("nobody")) {
            try await fixture.builder().build(month: ReportFixture.november, team: "nobody")
        }
    }

    @Test func aBadTimeZoneIsRefused() async throws {
        let fixture = try await ReportFixture(empty: true)
        await #expect(throws: ReportError.invalidTimeZone("Mars/Olympus")) {
            try await fixture.builder().build(month: ReportFixture.november, timeZone: "Mars/Olympus")
        }
    }

    @Test(arguments: ["2026-13", "2026-1", "26-11", "2026/11", "november", "", "2026-11-01", "2026-00", "２０２６-11"])
    func aMalformedMonthIsRefused(_ text: String) {
        #expect(throws: ReportError.invalidMonth(text)) { try ReportMonth(parsing: text) }
    }
}

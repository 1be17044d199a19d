import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// The monthly report's forecast: present while the month runs, from the section's daily spend;
/// the HTML report's summary table and dashed projection bars.
@Suite("The report's forecast")
struct ForecastReportTests {
    @Test func aReportMadeMidMonthProjectsEachTeam() async throws {
        let fixture = try await ReportFixture()
        let now = ReportFixture.utc("2026-11-20T12:00:00Z")
        let report = try await fixture.builder().build(month: ReportFixture.november, now: now)
        let studio = try #require(report.teams.first { $0.team == "studio" })
        let forecast = try #require(studio.forecast)
        // Posted up to today: 0.1575 (Nov 3) + 0.1575 (Nov 10) + 0.126 (Nov 20); the window Nov 14-20
        // holds 0.126 over 156 h, and 252 h are left: 0.441 + 0.126 x 252 / 156 = 0.644538.
        #expect(forecast.postedMicro == 441_000)
        #expect(forecast.windowPostedMicro == 126_000)
        #expect(forecast.windowStart == Int64(ReportFixture.utc("2026-11-14T00:00:00Z").timeIntervalSince1970) * 1000)
        #expect(forecast.projectedMonthEndMicro == 644_538)
        #expect(forecast.ratePerDayMicro == 19_385)
        #expect(forecast.monthlyExhaustedAt == nil)
        #expect(studio.forecastToday == 19)

        let html = try ReportRenderer().render(report, as: .html)
        #expect(html.contains("Forecast: where each team's month is heading"))
        #expect(html.contains("<td>studio</td><td class=\"n\">0.441000</td><td class=\"n\">0.019385</td><td class=\"n\">0.644538</td><td class=\"n\">2.000000</td><td>not this month</td><td>within the limit</td>"))
        // Nov 21 to 30: ten dashed bars at the run rate.
        #expect(html.components(separatedBy: "class=\"projected\"").count - 1 >= 10)
        #expect(html.contains("2026-11-30: 0.019385 USD projected"))

        let json = try ReportRenderer().render(report, as: .json)
        #expect(json.contains("\"projected_month_end\" : \"0.644538\""))
    }

    @Test func aMonthThatHasEndedHasNoForecast() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, now: ReportFixture.utc("2026-12-02T00:00:00Z"))
        #expect(report.teams.allSatisfy { $0.forecast == nil })
        let html = try ReportRenderer().render(report, as: .html)
        #expect(!html.contains("Forecast: where each team's month is heading"))
        #expect(!html.contains("class=\"projected\""))
        #expect(!(try ReportRenderer().render(report, as: .json)).contains("projected_month_end"))
    }
}

import Foundation
import Testing
import VideoMeter
@testable import VideoMeterReports

@Suite("Rendering every format")
struct RenderingTests {
    @Test func csvIsRFC4180WithOneRowPerLineItem() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let csv = ReportRenderer.csv(report)
        let header = "month,team,time_zone,period_start,period_end,provider,model,resolution,requests,succeeded,failed,timed_out,cancelled,expired,rejected,unknown,seconds,charged,upstream_cost,margin,invoice_amount,rounding_difference,currency"
        let expected = [
            header,
            "2026-11,studio,UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,bytedance/seedance-2.0,720p,2,1,1,0,0,0,0,0,5,0.787500,0.750000,0.037500,0.79,0.002500,USD",
            "2026-11,studio,UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,bytedance/seedance-1.5-pro,720p,4,3,0,0,0,1,0,0,15,0.441000,0.420000,0.021000,0.44,-0.001000,USD",
            "2026-11,studio,UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,xai/grok-imagine-video,720p,1,0,0,1,0,0,0,0,0,0.000000,0.000000,0.000000,0.00,0.000000,USD",
            "2026-11,tokyo,Asia/Tokyo,2026-10-31T15:00:00Z,2026-11-30T15:00:00Z,worldrouter,grok-imagine-video,720p,3,1,0,0,1,0,1,0,6,0.420000,0.400000,0.020000,0.42,0.000000,USD",
            "2026-11,tokyo,Asia/Tokyo,2026-10-31T15:00:00Z,2026-11-30T15:00:00Z,worldrouter,grok-imagine-video,480p,1,1,0,0,0,0,0,0,1,0.050000,0.050000,0.000000,0.05,0.000000,USD",
        ].map { $0 + "\r\n" }.joined()
        #expect(csv == expected)
    }

    @Test func csvQuotesFieldsThatNeedIt() {
        #expect(CSVWriter.field("plain") == "plain")
        #expect(CSVWriter.field("a,b") == "\"a,b\"")
        #expect(CSVWriter.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVWriter.field("two\nlines") == "\"two\nlines\"")
        var writer = CSVWriter(header: ["a", "b"])
        writer.append(["x,y", "z"])
        #expect(writer.text == "a,b\r\n\"x,y\",z\r\n")
    }

    @Test func detailCSVHasOneRowPerCall() async throws {
        let fixture = try await ReportFixture()
        let builder = try fixture.builder()
        let collected = Collected()
        try await builder.writeUsageDetail(month: ReportFixture.november, team: "studio") { collected.append($0) }
        let lines = collected.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count == 8)
        #expect(lines[0] == MonthlyReportBuilder.detailHeader.joined(separator: ","))
        #expect(lines[1].hasPrefix("1,1,studio,2026-11-03T10:00:00.000Z,2026-11-03T10:00:00.000Z,2026-11-03,alice,key-1,blockrun,bytedance/seedance-1.5-pro,720p,5,,succeeded,posted,0.157500,0.157500,0.150000,0.007500,blockrun-2026-04"))
        let charged = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[16] }
        let total = charged.compactMap { Money.parseMicro(String($0)) }.reduce(0, +)
        #expect(total == 1_228_500)
    }

    @Test func jsonCarriesAmountsAsDecimalStrings() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let data = Data(try ReportRenderer.json(report).utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["month"] as? String == "2026-11")
        let teams = try #require(object["teams"] as? [[String: Any]])
        let studio = teams[0]
        #expect(studio["charged"] as? String == "1.228500")
        #expect(studio["upstream_cost"] as? String == "1.170000")
        #expect(studio["margin"] as? String == "0.058500")
        #expect((studio["seconds_generated"] as? NSNumber)?.int64Value == 20)
        #expect((studio["timed_out"] as? NSNumber)?.int64Value == 1)
        let invoice = try #require(studio["invoice"] as? [String: Any])
        #expect(invoice["invoiced_total"] as? String == "1.23")
        #expect(invoice["ledger_total"] as? String == "1.228500")
        #expect(invoice["difference"] as? String == "+0.001500")
        let all = try #require(object["all_teams"] as? [String: Any])
        #expect(all["charged"] as? String == "1.698500")
        #expect((teams[1]["daily"] as? [[String: Any]])?.first?["charged"] as? String == "0.420000")
        #expect(studio["charts"] == nil)
    }

    @Test func markdownShowsEveryTotal() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let markdown = try ReportRenderer().render(report, as: .md)
        #expect(markdown.contains("| 7 | 4 | 1 | 1 | 0 | 1 | 0 | 0 | 20 | 1.228500 | 1.170000 | 0.058500 |"))
        #expect(markdown.contains("| 4 | 2 | 0 | 0 | 1 | 0 | 1 | 0 | 7 | 0.470000 | 0.450000 | 0.020000 |"))
        #expect(markdown.contains("| 11 | 6 | 1 | 1 | 1 | 1 | 1 | 0 | 27 | 1.698500 | 1.620000 | 0.078500 |"))
        #expect(markdown.contains("| blockrun | bytedance/seedance-2.0 | 720p | 1 | 5 | 0.787500 | 0.79 | +0.002500 |"))
        #expect(markdown.contains("| **total** | | | | | **1.228500** (ledger) | **1.23** | **+0.001500** |"))
        #expect(markdown.contains("| 2026-11-25 | 1 | 0.787500 |"))
        #expect(markdown.contains("| late success | studio |"))
        #expect(markdown.contains("| blockrun-2026-11-15 | 2 | 0.913500 |"))
        #expect(markdown.contains("| 1 | studio | alice | 4 | 1.071000 |"))
        #expect(markdown.contains("| studio | 50 % |"))
        #expect(markdown.contains("Monthly limit 2.000000. Charged 1.228500 (61.4 %), 0.771500 left."))
        #expect(markdown.contains("## all teams"))
    }

    @Test func htmlIsSelfContainedWithBothCharts() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "studio")
        let html = try ReportRenderer().render(report, as: .html)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("<style>"))
        #expect(html.contains(#"aria-label="Daily spend""#))
        #expect(html.contains(#"aria-label="Charged by model""#))
        // 30 day bars; the tallest (Nov 25, 0.787500 of a 0.79 axis) is 180 * 787500 / 790000 = 179 px.
        #expect(html.components(separatedBy: #"<rect class="day""#).count - 1 == 30)
        #expect(html.contains(#"height="179"><title>2026-11-25: 0.787500 USD</title>"#))
        // Two model bars: the largest is full width (380 px), the other 380 * 441000 / 787500 = 212 px.
        #expect(html.contains(#"width="380" height="20"><title>bytedance/seedance-2.0 720p (blockrun): 0.787500 USD"#))
        #expect(html.contains(#"width="212" height="20"><title>bytedance/seedance-1.5-pro 720p (blockrun): 0.441000 USD"#))
        #expect(html.contains(#"<td class="n">1.228500</td><td class="n">1.23</td><td class="n">+0.001500</td>"#))
        #expect(html.contains("<div class=\"label\">charged</div><div class=\"value\">1.228500</div>"))
    }

    @Test func templatesEscapeWhatTheyPrint() throws {
        let team = TeamReport(
            team: "<b>R&D</b> | ops", timeZone: "UTC", periodStart: 0, periodEnd: 0, lines: [], daily: [], budget: nil,
            alerts: [], topCallers: [], openItems: [], catalogVersions: [], ledgerChargedMicro: 0
        )
        let report = MonthlyReport(month: ReportFixture.november, timeZoneOverride: nil, generatedAt: 0, teams: [team])
        let renderer = ReportRenderer()
        #expect(try renderer.render(report, as: .html).contains("&lt;b&gt;R&amp;D&lt;/b&gt; | ops"))
        #expect(try renderer.render(report, as: .md).contains("## &lt;b&gt;R&D&lt;/b&gt; \\| ops"))
    }

    @Test func embeddedTemplatesMatchTheFilesInReports() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let markdown = try String(contentsOf: root.appendingPathComponent("reports/monthly.md.mustache"), encoding: .utf8)
        let html = try String(contentsOf: root.appendingPathComponent("reports/monthly.html.mustache"), encoding: .utf8)
        #expect(markdown == EmbeddedTemplates.markdown + "\n", "run reports/embed.sh after editing the templates")
        #expect(html == EmbeddedTemplates.html + "\n", "run reports/embed.sh after editing the templates")
    }

    @Test func aTemplatesDirectoryWinsOverTheEmbeddedCopy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "{{% CONTENT_TYPE: TEXT}}custom {{month}}".write(to: directory.appendingPathComponent("monthly.md.mustache"), atomically: true, encoding: .utf8)
        let templates = try ReportTemplates.load(directory: directory.path)
        let report = MonthlyReport(month: ReportFixture.november, timeZoneOverride: nil, generatedAt: 0, teams: [])
        #expect(try ReportRenderer(templates: templates).render(report, as: .md) == "custom 2026-11")
        #expect(templates.sources[ReportTemplates.htmlFileName] == "embedded")
        #expect(throws: ReportError.self) { try ReportTemplates.load(directory: directory.appendingPathComponent("missing").path) }
    }

    @Test(arguments: [
        (MicroUSD(0), MicroUSD(0)), (4_999, 0), (5_000, 10_000), (441_000, 440_000), (787_500, 790_000),
        (1_234_565_000, 1_234_570_000), (-5_000, -10_000), (-4_999, 0),
    ])
    func invoiceRoundingIsHalfUpToTheCent(_ micro: MicroUSD, _ expected: MicroUSD) {
        #expect(InvoiceStatement.roundToInvoiceScale(micro) == expected)
        #expect(Money.microUnits(Money.round(Money.dollars(micro), scale: 2, .halfUp)) == expected)
    }

    @Test func aMonthWithADaylightSavingChangeHasA25HourDay() throws {
        let period = ReportPeriod(month: try ReportMonth(parsing: "2026-10"), timeZone: try ReportPeriod.timeZone(named: "Europe/Paris"))
        #expect(period.days.count == 31)
        #expect(period.days[24].end - period.days[24].start == 90_000)
        #expect(period.start == Int64(ReportFixture.utc("2026-09-30T22:00:00Z").timeIntervalSince1970))
        #expect(period.end == Int64(ReportFixture.utc("2026-10-31T23:00:00Z").timeIntervalSince1970))
        #expect(period.dayIndex(of: Int64(ReportFixture.utc("2026-10-25T22:59:59Z").timeIntervalSince1970)) == 24)
        #expect(period.dayIndex(of: Int64(ReportFixture.utc("2026-10-25T23:00:00Z").timeIntervalSince1970)) == 25)
        #expect(MonthlyReportBuilder.dayExpression("t", period).hasPrefix("(CASE WHEN t < "))
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [String] = []
    func append(_ text: String) { lock.withLock { parts.append(text) } }
    var text: String { lock.withLock { parts.joined() } }
}

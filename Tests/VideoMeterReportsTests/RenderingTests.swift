import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
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
            "2026-11,studio,UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,bytedance/seedance-1.5-pro,720p,5,3,0,0,0,1,0,1,15,0.441000,0.420000,0.021000,0.441,0.000000,USD",
            "2026-11,studio,UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,xai/grok-imagine-video,720p,1,0,0,1,0,0,0,0,0,0.000000,0.000000,0.000000,0.000,0.000000,USD",
            "2026-11,tokyo,Asia/Tokyo,2026-10-31T15:00:00Z,2026-11-30T15:00:00Z,worldrouter,grok-imagine-video,720p,3,1,0,0,1,0,1,0,6,0.420000,0.400000,0.020000,0.42,0.000000,USD",
            "2026-11,tokyo,Asia/Tokyo,2026-10-31T15:00:00Z,2026-11-30T15:00:00Z,worldrouter,grok-imagine-video,480p,1,1,0,0,0,0,0,0,1,0.052000,0.052000,0.000000,0.05,-0.002000,USD",
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

    @Test func detailCSVHasOneRowPerCallOfEveryTeam() async throws {
        let fixture = try await ReportFixture()
        let builder = try fixture.builder()
        let collected = Collected()
        try await builder.writeUsageDetail(month: ReportFixture.november) { collected.append($0) }
        let lines = collected.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count == 1 + 7 + 4)
        #expect(lines[0] == MonthlyReportBuilder.detailHeader.joined(separator: ","))
        #expect(lines[1].hasPrefix("1,1,studio,2026-11-03T10:00:00.000Z,2026-11-03T10:00:00.000Z,2026-11-03,alice,key-1,blockrun,bytedance/seedance-1.5-pro,720p,5,,succeeded,posted,0.157500,0.157500,0.150000,0.007500,blockrun-2026-04"))
        // Tokyo's first call, 00:30 on Nov 1 in Tokyo, is on its local Nov 1.
        #expect(lines.contains { $0.hasPrefix("8,10,tokyo,2026-10-31T15:30:00.000Z,2026-10-31T15:30:00.000Z,2026-11-01,,key-10,worldrouter,grok-imagine-video,720p,6,,succeeded,posted,0.420000,0.420000,0.400000,0.020000,worldrouter-2026-04") })
        func charged(_ team: String) -> MicroUSD {
            lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .filter { $0[2] == team }.compactMap { Money.parseMicro(String($0[16])) }.reduce(0, +)
        }
        #expect(charged("studio") == 1_228_500)
        #expect(charged("tokyo") == 472_000)
    }

    @Test func theDetailRowsOfABuildComeFromTheReportsOwnSnapshot() async throws {
        let fixture = try await ReportFixture()
        let collected = Collected()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo") { collected.append($0) }
        let rows = collected.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.dropFirst()
        #expect(Int64(rows.count) == report.teams[0].requests)
        let charged = rows.compactMap { Money.parseMicro(String($0.split(separator: ",", omittingEmptySubsequences: false)[16])) }
        #expect(charged.reduce(0, +) == report.teams[0].chargedMicro)
    }

    @Test func jsonCarriesEveryTotalAsDecimalStrings() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let data = Data(try ReportRenderer.json(report).utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["month"] as? String == "2026-11")
        #expect(object["time_zone"] as? String == "each team's own")
        let teams = try #require(object["teams"] as? [[String: Any]])
        func totals(_ section: [String: Any]) -> String {
            let invoice = section["invoice"] as? [String: Any] ?? [:]
            let counts = ["requests", "succeeded", "failed", "timed_out", "cancelled", "expired", "rejected", "unknown", "seconds_generated"]
                .map { "\((section[$0] as? NSNumber)?.int64Value ?? -1)" }
            let amounts = ["charged", "upstream_cost", "margin"].map { section[$0] as? String ?? "?" }
            let invoiceFields = ["invoiced_total", "ledger_total", "lines_total", "difference"].map { invoice[$0] as? String ?? "?" }
            return (counts + amounts + invoiceFields).joined(separator: " ")
        }
        #expect(teams.map { $0["team"] as? String } == ["studio", "tokyo"])
        #expect(totals(teams[0]) == "8 4 1 1 0 1 0 1 20 1.228500 1.170000 0.058500 1.231 1.228500 1.228500 +0.002500")
        #expect(totals(teams[1]) == "4 2 0 0 1 0 1 0 7 0.472000 0.452000 0.020000 0.47 0.472000 0.472000 -0.002000")
        let all = try #require(object["all_teams"] as? [String: Any])
        #expect(totals(all) == "12 6 1 1 1 1 1 1 27 1.700500 1.622000 0.078500 1.701 1.700500 1.700500 +0.000500")
        let tokyoInvoice = try #require(teams[1]["invoice"] as? [String: Any])
        let tokyoLines = try #require(tokyoInvoice["lines"] as? [[String: Any]])
        #expect(tokyoLines.map { "\($0["resolution"]!) \($0["exact"]!) \($0["invoiced"]!) \($0["difference"]!) \($0["scale"]!) \($0["rule"]!)" } == [
            "720p 0.420000 0.42 0.000000 2 half_up", "480p 0.052000 0.05 -0.002000 2 half_up",
        ])
        #expect(tokyoLines[1]["unknown_price_lists"] as? [String] == ["worldrouter-2026-04"])
        #expect(tokyoInvoice["explanation"] as? String == report.teams[1].invoice.explanation)
        #expect((all["invoice"] as? [String: Any])?["explanation"] as? String == report.allTeams.invoice.explanation)
        #expect(all["note"] as? String == report.allTeams.note)
        let budget = try #require(teams[0]["budget"] as? [String: Any])
        #expect(budget["used"] as? String == "1.228500")
        #expect(budget["pending"] as? String == "0.315000")
        #expect(budget["remaining"] as? String == "0.456500")
        #expect((teams[1]["daily"] as? [[String: Any]])?.first?["charged"] as? String == "0.420000")
        #expect(teams[0]["charts"] == nil)
    }

    @Test func markdownShowsEveryTotal() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let markdown = try ReportRenderer().render(report, as: .md)
        // Totals: studio, tokyo, all teams.
        #expect(markdown.contains("| 8 | 4 | 1 | 1 | 0 | 1 | 0 | 1 | 20 | 1.228500 | 1.170000 | 0.058500 |"))
        #expect(markdown.contains("| 4 | 2 | 0 | 0 | 1 | 0 | 1 | 0 | 7 | 0.472000 | 0.452000 | 0.020000 |"))
        #expect(markdown.contains("| 12 | 6 | 1 | 1 | 1 | 1 | 1 | 1 | 27 | 1.700500 | 1.622000 | 0.078500 |"))
        // Invoices: studio, tokyo, all teams, with each line's rounding.
        #expect(markdown.contains("| blockrun | bytedance/seedance-2.0 | 720p | 1 | 5 | 0.787500 | 0.79 | +0.002500 | 2 decimal places, half-even (price list blockrun-2026-11-15) |"))
        #expect(markdown.contains("| blockrun | bytedance/seedance-1.5-pro | 720p | 3 | 15 | 0.441000 | 0.441 | 0.000000 | 3 decimal places, half-up (the largest display scale among price lists blockrun-2026-04, blockrun-2026-11-15) |"))
        #expect(markdown.contains("| **total** | | | | | **1.228500** (ledger) | **1.231** | **+0.002500** | |"))
        #expect(markdown.contains("| worldrouter | grok-imagine-video | 480p | 1 | 1 | 0.052000 | 0.05 | -0.002000 | 2 decimal places, half-up (worldrouter-2026-04 is not in the catalog, so the fallback of 2 decimal places, half-up applies) |"))
        #expect(markdown.contains("| **total** | | | | | **0.472000** (ledger) | **0.47** | **-0.002000** | |"))
        #expect(markdown.contains("| worldrouter | grok-imagine-video | 480p | 1 | 1 | 0.052000 | 0.05 | -0.002000 | sum of the team lines |"))
        #expect(markdown.contains("| **total** | | | | | **1.700500** (ledger) | **1.701** | **+0.000500** | |"))
        for section in report.teams + [report.allTeams] {
            #expect(markdown.contains("\n" + section.invoice.explanation + "\n"))
        }
        #expect(markdown.contains("| 2026-11-25 | 1 | 0.787500 |"))
        #expect(markdown.contains("| late success | studio |"))
        #expect(markdown.contains("| unknown outcome | studio |"))
        #expect(markdown.contains("| blockrun-2026-11-15 | 3 | 0.913500 |"))
        #expect(markdown.contains("| 1 | studio | alice | 4 | 1.071000 |"))
        #expect(markdown.contains("| studio | 50 % |"))
        #expect(markdown.contains("Budget month 2026-11 (UTC). Monthly limit 2.000000. Posted 1.228500 (61.4 %), held 0.315000, 0.456500 left."))
        #expect(markdown.contains("Budget month 2026-11 (Asia/Tokyo). Monthly limit 10.000000. Posted 0.472000 (4.7 %), held 0.000000, 9.528000 left."))
        #expect(markdown.contains("## all teams"))
        #expect(markdown.contains("Time zone: each team's own."))
        #expect(markdown.contains(try #require(report.allTeams.note)))
    }

    @Test func aSingleTeamReportNamesThatTeamsZone() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo")
        #expect(try ReportRenderer().render(report, as: .md).contains("Time zone: Asia/Tokyo."))
        #expect(try ReportRenderer().render(report, as: .html).contains("time zone: Asia/Tokyo"))
        #expect(try ReportRenderer.json(report).contains(#""time_zone" : "Asia/Tokyo""#))
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
        #expect(html.contains("<div class=\"label\">charged</div><div class=\"value\">1.228500</div>"))
    }

    @Test func longModelNamesWidenTheLabelColumnAndAreShortenedPastSeventyCharacters() {
        func line(_ model: String, _ charged: MicroUSD) -> UsageLine {
            UsageLine(provider: "p", model: model, resolution: "720p", outcomes: OutcomeCounts([.succeeded: 1]), seconds: 5,
                      chargedMicro: charged, upstreamCostMicro: 0, marginMicro: charged)
        }
        let long = String(repeating: "m", count: 90)
        let team = TeamReport(
            team: "t", timeZone: "UTC", periodStart: 0, periodEnd: 0,
            lines: [line("grok-imagine-video-1.5-preview-extended", 300_000), line(long, 100_000)],
            daily: [], budget: nil, alerts: [], topCallers: [], openItems: [], catalogVersions: [], ledgerChargedMicro: 400_000
        )
        let charts = Charts(team)
        #expect(charts.modelLabelX == 430 && charts.modelBarX == 440)
        #expect(charts.modelBars.map(\.width) == [220, 73])
        #expect(charts.modelBars.allSatisfy { charts.modelBarX + $0.width + Charts.modelValueRoom <= charts.modelWidth })
        #expect(charts.modelBars[1].label == String(repeating: "m", count: 69) + "…")
        #expect(charts.modelBars[1].fullLabel == long + " 720p (p)")
    }

    @Test func htmlShowsEveryTotalAndInvoice() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let html = try ReportRenderer().render(report, as: .html)
        func card(_ label: String, _ value: String) -> String {
            "<div class=\"card\"><div class=\"label\">\(label)</div><div class=\"value\">\(value)</div></div>"
        }
        func totalRow(_ ledger: String, _ invoiced: String, _ difference: String) -> String {
            #"<tr class="total"><td colspan="5">total (exact: ledger)</td><td class="n">\#(ledger)</td><td class="n">\#(invoiced)</td><td class="n">\#(difference)</td><td></td></tr>"#
        }
        // studio, tokyo, all teams: requests, charged, upstream cost, margin.
        for (requests, charged, upstream, margin) in [
            ("8", "1.228500", "1.170000", "0.058500"), ("4", "0.472000", "0.452000", "0.020000"), ("12", "1.700500", "1.622000", "0.078500"),
        ] {
            #expect(html.contains(card("requests", requests)))
            #expect(html.contains(card("charged", charged)))
            #expect(html.contains(card("upstream cost", upstream)))
            #expect(html.contains(card("margin", margin)))
        }
        // Outcomes: succeeded, failed, timed out, cancelled, expired, rejected, unknown.
        for counts in [[4, 1, 1, 0, 1, 0, 1], [2, 0, 0, 1, 0, 1, 0], [6, 1, 1, 1, 1, 1, 1]] {
            #expect(html.contains("<tr>" + counts.map { #"<td class="n">\#($0)</td>"# }.joined() + "</tr>"))
        }
        #expect(html.contains(totalRow("1.228500", "1.231", "+0.002500")))
        #expect(html.contains(totalRow("0.472000", "0.47", "-0.002000")))
        #expect(html.contains(totalRow("1.700500", "1.701", "+0.000500")))
        #expect(html.contains(#"<td class="n">0.052000</td><td class="n">0.05</td><td class="n">-0.002000</td><td class="small">2 decimal places, half-up (worldrouter-2026-04 is not in the catalog, so the fallback of 2 decimal places, half-up applies)</td>"#))
        for section in report.teams + [report.allTeams] {
            let explanation = section.invoice.explanation.replacingOccurrences(of: "'", with: "&#39;")
            #expect(html.contains("<p class=\"note\">\(explanation)</p>"))
        }
    }

    @Test func userChosenNamesAreEscapedInEveryFormat() async throws {
        let hostileTeam = "R&D, \"ops\" | [x](http://e) *b* _i_ `c` <b>\nline 2"
        let hostileCaller = "eve, \"root\" <admin> | [k]"
        let fixture = try await ReportFixture(empty: true)
        try await fixture.ledger.createTeam(name: hostileTeam)
        try await fixture.ledger.setBudget(team: hostileTeam, BudgetSettings(monthlyLimitMicro: 1_000_000))
        let id = try await fixture.hold(hostileTeam, at: "2026-11-02T10:00:00Z", model: "m*1_[x]", amount: 157_500, upstream: 150_000, caller: hostileCaller)
        try await fixture.ledger.post(holdID: id, amount: 157_500)
        let report = try await fixture.builder().build(month: ReportFixture.november, team: hostileTeam)
        let renderer = ReportRenderer()

        let markdown = try renderer.render(report, as: .md)
        #expect(markdown.contains(#"## R&amp;D, "ops" \| \[x\](http://e) \*b\* \_i\_ \`c\` &lt;b&gt; line 2"#))
        #expect(markdown.contains(#"| 1 | R&amp;D, "ops" \| \[x\](http://e) \*b\* \_i\_ \`c\` &lt;b&gt; line 2 | eve, "root" &lt;admin&gt; \| \[k\] | 1 | 0.157500 |"#))
        #expect(markdown.contains(#"| blockrun | m\*1\_\[x\] | 720p |"#))

        let html = try renderer.render(report, as: .html)
        #expect(html.contains("<h2>R&amp;D, &quot;ops&quot; | [x](http://e) *b* _i_ `c` &lt;b&gt;\nline 2</h2>"))
        #expect(html.contains("<td>eve, &quot;root&quot; &lt;admin&gt; | [k]</td>"))
        #expect(!html.contains("<b>") && !html.contains("<admin>"))

        let csv = ReportRenderer.csv(report)
        #expect(csv.contains("\r\n2026-11,\"R&D, \"\"ops\"\" | [x](http://e) *b* _i_ `c` <b>\nline 2\",UTC,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,blockrun,m*1_[x],720p,1,1,"))

        let collected = Collected()
        try await fixture.builder().writeUsageDetail(month: ReportFixture.november, team: hostileTeam) { collected.append($0) }
        #expect(collected.text.contains(",\"R&D, \"\"ops\"\" | [x](http://e) *b* _i_ `c` <b>\nline 2\",2026-11-02T10:00:00.000Z,"))
        #expect(collected.text.contains(",\"eve, \"\"root\"\" <admin> | [k]\",key-1,blockrun,m*1_[x],720p,"))
    }

    @Test func templatesEscapeWhatTheyPrint() throws {
        let team = TeamReport(
            team: "<b>R&D</b> | ops", timeZone: "UTC", periodStart: 0, periodEnd: 0, lines: [], daily: [], budget: nil,
            alerts: [], topCallers: [], openItems: [], catalogVersions: [], ledgerChargedMicro: 0
        )
        let report = MonthlyReport(month: ReportFixture.november, timeZoneOverride: nil, generatedAt: 0, teams: [team])
        let renderer = ReportRenderer()
        #expect(try renderer.render(report, as: .html).contains("&lt;b&gt;R&amp;D&lt;/b&gt; | ops"))
        #expect(try renderer.render(report, as: .md).contains("## &lt;b&gt;R&amp;D&lt;/b&gt; \\| ops"))
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
        defer { try? FileManager.default.removeItem(at: directory) }
        try "{{% CONTENT_TYPE: TEXT}}custom {{month}}".write(to: directory.appendingPathComponent("monthly.md.mustache"), atomically: true, encoding: .utf8)
        let templates = try ReportTemplates.load(directory: directory.path)
        let report = MonthlyReport(month: ReportFixture.november, timeZoneOverride: nil, generatedAt: 0, teams: [])
        #expect(try ReportRenderer(templates: templates).render(report, as: .md) == "custom 2026-11")
        #expect(templates.sources[ReportTemplates.markdownFileName] == directory.appendingPathComponent("monthly.md.mustache").path)
        #expect(templates.sources[ReportTemplates.htmlFileName] == "built-in")
        #expect(throws: ReportError.self) { try ReportTemplates.load(directory: directory.appendingPathComponent("missing").path) }
    }

    @Test func onlyTheTemplatesOfTheFormatsAskedForAreRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let broken = directory.appendingPathComponent("monthly.html.mustache")
        try "{{#sections}} never closed".write(to: broken, atomically: true, encoding: .utf8)
        let report = MonthlyReport(month: ReportFixture.november, timeZoneOverride: nil, generatedAt: 0, teams: [])

        let forCSV = try ReportTemplates.load(directory: directory.path, formats: [.csv, .json])
        #expect(forCSV.sources.isEmpty)
        #expect(try ReportRenderer(templates: forCSV).render(report, as: .csv) == ReportRenderer.csvHeader.joined(separator: ",") + "\r\n")
        #expect(throws: ReportError.self) { try ReportRenderer(templates: forCSV).render(report, as: .md) }

        let forMarkdown = try ReportTemplates.load(directory: directory.path, formats: [.md])
        #expect(forMarkdown.sources == [ReportTemplates.markdownFileName: "built-in"])
        #expect(try ReportRenderer(templates: forMarkdown).render(report, as: .md).contains("# VideoMeter usage report — 2026-11"))

        #expect {
            _ = try ReportTemplates.load(directory: directory.path, formats: [.html])
        } throws: { error in
            (error as? ReportError)?.code == "invalid_template" && (error as? ReportError)?.message.contains(broken.path) == true
        }
    }

    @Test(arguments: [
        (MicroUSD(0), MicroUSD(0)), (4_999, 0), (5_000, 10_000), (441_000, 440_000), (787_500, 790_000),
        (1_234_565_000, 1_234_570_000), (-5_000, -10_000), (-4_999, 0),
    ])
    func twoPlacesHalfUpRoundsToTheCent(_ micro: MicroUSD, _ expected: MicroUSD) {
        #expect(InvoiceRounding.fallback.round(micro) == expected)
        #expect(Money.microUnits(Money.round(Money.dollars(micro), scale: 2, .halfUp)) == expected)
    }

    @Test func integerRoundingAgreesWithDecimalRoundingForEveryScaleAndRule() {
        var random = SplitMix64(seed: 7)
        var amounts: [MicroUSD] = [0, 1, -1, 5, -5, 15, 25, 157_500, 787_500, 1_575_000, -157_500, 999_999, 1_000_500, 2_500, 3_500]
        for _ in 0..<300 { amounts.append(MicroUSD(random.next() % 20_000_000) - 10_000_000) }
        for scale in 0...6 {
            for rule in RoundingRule.allCases {
                let rounding = InvoiceRounding(scale: scale, rule: rule)
                for micro in amounts {
                    let decimal = Money.microUnits(Money.round(Money.dollars(micro), scale: scale, rule))
                    #expect(rounding.round(micro) == decimal, "\(micro) at \(scale) \(rule)")
                }
            }
        }
        #expect(InvoiceRounding(scale: 3, rule: .halfUp).format(158_000) == "0.158")
        #expect(InvoiceRounding(scale: 0, rule: .halfUp).format(2_000_000) == "2")
        #expect(InvoiceRounding(scale: 6, rule: .halfUp).format(1) == "0.000001")
    }

    @Test func aLineSpanningPriceListsTakesTheLargestScale() {
        let roundings = InvoiceRoundings([
            "a": InvoiceRounding(scale: 2, rule: .halfUp), "b": InvoiceRounding(scale: 3, rule: .halfEven),
            "c": InvoiceRounding(scale: 3, rule: .down),
        ])
        #expect(roundings.choose(["a", "b"]).rounding == InvoiceRounding(scale: 3, rule: .halfEven))
        #expect(roundings.choose(["a"]).rounding == InvoiceRounding(scale: 2, rule: .halfUp))
        let disagreeing = roundings.choose(["b", "c"])
        #expect(disagreeing.rounding == InvoiceRounding(scale: 3, rule: .halfUp))
        #expect(disagreeing.rulesDisagreed)
        let unknown = roundings.choose(["zz"])
        #expect(unknown.rounding == .fallback)
        #expect(unknown.unknownVersions == ["zz"])
        #expect(roundings.choose(["zz", "b"]).rounding == InvoiceRounding(scale: 3, rule: .halfEven))
    }

    @Test func aReportWithoutACatalogSaysSoInsteadOfBlamingEachPriceList() async throws {
        let fixture = try await ReportFixture()
        let report = try await MonthlyReportBuilder(ledger: fixture.ledger).build(month: ReportFixture.november, team: "studio")
        let invoice = try #require(report.teams.first).invoice
        #expect(invoice.lines.map(\.formattedRounded) == ["0.79", "0.44"])
        #expect(InvoiceStatement.roundingReason(invoice.lines[0]) == "2 decimal places, half-up (the report was given no price catalog, so the fallback of 2 decimal places, half-up applies)")
    }

    @Test func theCatalogsPriceListsGiveTheirDisplayScales() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pricing = root.appendingPathComponent("pricing")
        let names = try FileManager.default.contentsOfDirectory(atPath: pricing.path).filter { $0.hasSuffix(".json") }.sorted()
        let files = try names.map { (name: $0, data: try Data(contentsOf: pricing.appendingPathComponent($0))) }
        let roundings = InvoiceRoundings(catalog: try Catalog.decode(files: files))
        #expect(roundings.byVersion["blockrun-2026-04"] == InvoiceRounding(scale: 3, rule: .halfUp))
        #expect(roundings.byVersion["worldrouter-2026-01"] == InvoiceRounding(scale: 2, rule: .halfUp))
    }

    @Test func timestampsAreISO8601InUTC() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var random = SplitMix64(seed: 11)
        var instants: [Int64] = [0, -1, 86_399, 86_400, 951_782_400, 1_793_491_200, 4_107_542_399]
        for _ in 0..<500 { instants.append(Int64(random.next() % 8_000_000_000) - 2_000_000_000) }
        for instant in instants {
            #expect(ReportView.iso(instant) == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(instant))), "\(instant)")
        }
    }

    @Test func renderingSeveralFormatsAtOnceGivesWhatEachGivesAlone() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let renderer = ReportRenderer()
        let together = try renderer.render(report, as: ReportFormat.allCases)
        #expect(together.count == 4)
        for format in ReportFormat.allCases {
            #expect(together[format] == (format == .csv ? ReportRenderer.csv(report) : format == .json ? try ReportRenderer.json(report) : try renderer.render(report, as: [format])[format]))
        }
    }

    @Test func aMonthWithADaylightSavingChangeHasA25HourDay() throws {
        let period = ReportPeriod(month: try ReportMonth(parsing: "2026-10"), timeZone: try ReportPeriod.timeZone(named: "Europe/Paris"))
        #expect(period.days.count == 31)
        #expect(period.days[24].end - period.days[24].start == 90_000)
        #expect(period.start == Int64(ReportFixture.utc("2026-09-30T22:00:00Z").timeIntervalSince1970))
        #expect(period.end == Int64(ReportFixture.utc("2026-10-31T23:00:00Z").timeIntervalSince1970))
        #expect(period.dayIndex(of: Int64(ReportFixture.utc("2026-10-25T22:59:59Z").timeIntervalSince1970)) == 24)
        #expect(period.dayIndex(of: Int64(ReportFixture.utc("2026-10-25T23:00:00Z").timeIntervalSince1970)) == 25)
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [String] = []
    func append(_ text: String) { lock.withLock { parts.append(text) } }
    var text: String { lock.withLock { parts.joined() } }
}

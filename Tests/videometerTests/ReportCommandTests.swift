import Foundation
import Testing
import VideoMeterTesting

@Suite("videometer report, run as a user would")
struct ReportCommandTests {
    /// A temporary directory holding a ledger with team `studio` (UTC, 10 USD a month); commands run
    /// in the directory, so the built-in templates are used unless a test adds `reports/`.
    final class Workspace {
        let directory: URL
        var db: String { directory.appendingPathComponent("ledger.sqlite").path }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-report-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try await expectSuccess(["team", "create", "studio"])
            try await expectSuccess(["budget", "set", "--team", "studio", "--monthly", "10"])
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        @discardableResult
        func run(_ arguments: [String]) async throws -> CLI.Result {
            try await CLI.run(arguments + ["--db", db], in: directory)
        }

        func expectSuccess(_ arguments: [String]) async throws {
            let result = try await run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }

        /// A sandbox call through the meter, its outcome forced by an emulator prompt tag.
        @discardableResult
        func generate(_ model: String, tag: String = "succeeded", caller: String = "alice") async throws -> CLI.Result {
            try await run([
                "generate", "--team", "studio", "--model", model, "--prompt", "a cat [emulate:\(tag)]",
                "--caller", caller, "--sandbox-latency-ms", "0",
            ])
        }

        func file(_ name: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
    }

    /// The test clock's month (`2026-11`): what `generate`, run on that clock, charges counts in.
    static let thisMonth = TestClock.month

    @Test(arguments: ["2026-13", "26-11", "november", "2026-11-01"])
    func aMalformedMonthIsInvalidMonth(_ month: String) async throws {
        let workspace = try await Workspace()
        let result = try await workspace.run(["report", "--month", month, "--format", "csv"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "error: invalid_month: '\(month)' is not a month; write it as YYYY-MM, for example 2026-11.\n")
    }

    @Test func anUnknownTeamIsUnknownTeam() async throws {
        let workspace = try await Workspace()
        let result = try await workspace.run(["report", "--month", "2026-11", "--team", "nobody", "--format", "csv"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "error: unknown_team: No team is named 'nobody'; `videometer team create` creates one.\n")
    }

    @Test func anUnknownTimeZoneIsInvalidTimeZone() async throws {
        let workspace = try await Workspace()
        let result = try await workspace.run(["report", "--month", "2026-11", "--timezone", "Mars/Olympus", "--format", "csv"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: invalid_time_zone: 'Mars/Olympus'"))
    }

    @Test func aMissingLedgerIsNoLedgerAndIsNotCreated() async throws {
        let workspace = try await Workspace()
        let missing = workspace.directory.appendingPathComponent("typo.sqlite").path
        let result = try await CLI.run(["report", "--month", "2026-11", "--format", "csv", "--db", missing], in: workspace.directory)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: no_ledger: "))
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func anEmptyMonthIsAValidReportThatSaysSo() async throws {
        let workspace = try await Workspace()
        let markdown = try await workspace.run(["report", "--month", "2025-02", "--format", "md"])
        #expect(markdown.status == 0)
        #expect(markdown.stdout.contains("**No activity in 2025-02: no requests were metered and nothing is open.**"))
        #expect(markdown.stderr.contains("No activity in 2025-02"))
        let csv = try await workspace.run(["report", "--month", "2025-02", "--format", "csv"])
        #expect(csv.status == 0)
        #expect(csv.stdout == "month,team,time_zone,period_start,period_end,provider,model,resolution,requests,succeeded,failed,timed_out,cancelled,expired,rejected,unknown,seconds,charged,upstream_cost,margin,invoice_amount,rounding_difference,currency\r\n")
        #expect(csv.stderr == "No activity in 2025-02: no requests were metered and nothing is open; the report says so.\n")
    }

    @Test(arguments: [
        ["--format", "csv", "--format", "json"],
        ["--format", "md", "--detail"],
        [],
        ["--format", "pdf"],
    ])
    func aCommandLineThatCannotWorkIsAUsageError(_ options: [String]) async throws {
        let workspace = try await Workspace()
        let result = try await workspace.run(["report", "--month", "2026-11"] + options)
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("Error: "))
    }

    @Test func severalOutputsWithoutOutSayWhatIsMissing() async throws {
        let workspace = try await Workspace()
        let result = try await workspace.run(["report", "--month", "2026-11", "--format", "csv", "--format", "json", "--detail"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("Several outputs (csv, json, detail) need --out DIR; only one can go to standard output."))
    }

    @Test func outWritesEveryFormatAndTheDetailWithTheCatalogsDisplayScale() async throws {
        let workspace = try await Workspace()
        // One success (0.157500 at BlockRun's 3 places: 0.158), a 504 and a failure (both voided).
        #expect(try await workspace.generate("bytedance/seedance-1.5-pro").status == 0)
        #expect(try await workspace.generate("xai/grok-imagine-video", tag: "timeout", caller: "bob").status == 1)
        #expect(try await workspace.generate("bytedance/seedance-2.0", tag: "failed", caller: "bob").status == 1)
        let month = Self.thisMonth
        let out = workspace.directory.appendingPathComponent("out").path
        let result = try await workspace.run([
            "report", "--month", month, "--format", "csv", "--format", "json", "--format", "md", "--format", "html",
            "--detail", "--out", out,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let names = ["csv", "json", "md", "html"].map { "videometer-\(month).\($0)" } + ["videometer-\(month)-detail.csv"]
        #expect(result.stdout == names.map { "wrote \(out)/\($0)\n" }.joined())
        #expect(result.stderr == "template monthly.md.mustache: built-in\ntemplate monthly.html.mustache: built-in\n")

        let csv = try workspace.file("out/videometer-\(month).csv")
        let rows = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }.dropFirst().map { row in
            row.split(separator: ",", omittingEmptySubsequences: false).dropFirst(5).joined(separator: ",")
        }
        #expect(rows == [
            "blockrun,bytedance/seedance-1.5-pro,720p,1,1,0,0,0,0,0,0,5,0.157500,0.150000,0.007500,0.158,0.000500,USD",
            "blockrun,bytedance/seedance-2.0,720p,1,0,1,0,0,0,0,0,0,0.000000,0.000000,0.000000,0.000,0.000000,USD",
            "blockrun,xai/grok-imagine-video,720p,1,0,0,1,0,0,0,0,0,0.000000,0.000000,0.000000,0.000,0.000000,USD",
        ])

        let json = try #require(try JSONSerialization.jsonObject(with: Data(workspace.file("out/videometer-\(month).json").utf8)) as? [String: Any])
        let studio = try #require((json["teams"] as? [[String: Any]])?.first)
        #expect(studio["charged"] as? String == "0.157500")
        #expect((studio["timed_out"] as? NSNumber)?.intValue == 1 && (studio["failed"] as? NSNumber)?.intValue == 1)
        let invoice = try #require(studio["invoice"] as? [String: Any])
        #expect(invoice["invoiced_total"] as? String == "0.158")
        #expect(invoice["ledger_total"] as? String == "0.157500")
        #expect(invoice["difference"] as? String == "+0.000500")
        #expect(invoice["explanation"] as? String == """
            Each line is rounded to the display scale and rule of the price list that priced its calls, then the rounded \
            lines are summed: blockrun bytedance/seedance-1.5-pro 720p to 3 decimal places, half-up (price list \
            blockrun-2026-04). Invoiced total 0.158 USD; exact ledger total 0.157500 USD; difference +0.000500 USD, the \
            sum of the per-line rounding differences +0.000500 (blockrun bytedance/seedance-1.5-pro 720p).
            """)
        let callers = try #require(studio["top_callers"] as? [[String: Any]])
        #expect(callers.map { "\($0["caller"]!) \($0["requests"]!) \($0["charged"]!)" } == ["alice 1 0.157500", "bob 2 0.000000"])

        let markdown = try workspace.file("out/videometer-\(month).md")
        #expect(markdown.contains("| **total** | | | | | **0.157500** (ledger) | **0.158** | **+0.000500** | |"))
        let html = try workspace.file("out/videometer-\(month).html")
        #expect(html.contains(#"<td class="n">0.157500</td><td class="n">0.158</td><td class="n">+0.000500</td>"#))
        #expect(html.contains(#"aria-label="Daily spend""#))

        let detail = try workspace.file("out/videometer-\(month)-detail.csv").components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(detail.count == 4)
        #expect(detail.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[13] } == ["succeeded", "timed_out", "failed"])
    }

    @Test func aSingleFormatGoesToStandardOutput() async throws {
        let workspace = try await Workspace()
        #expect(try await workspace.generate("bytedance/seedance-1.5-pro").status == 0)
        let month = Self.thisMonth
        let json = try await workspace.run(["report", "--month", month, "--format", "json", "--team", "studio"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["time_zone"] as? String == "UTC")
        #expect((object["all_teams"] as? [String: Any])?["charged"] as? String == "0.157500")
        #expect(json.stderr.isEmpty)

        let html = try await workspace.run(["report", "--month", month, "--format", "html"])
        #expect(html.status == 0)
        #expect(html.stdout.hasPrefix("<!DOCTYPE html>"))
        #expect(html.stderr == "template monthly.html.mustache: built-in\n")
        #expect(!FileManager.default.fileExists(atPath: workspace.directory.appendingPathComponent("videometer-\(month).html").path))
    }

    @Test func aBrokenHTMLTemplateStopsOnlyTheHTMLReport() async throws {
        let workspace = try await Workspace()
        let templates = workspace.directory.appendingPathComponent("reports")
        try FileManager.default.createDirectory(at: templates, withIntermediateDirectories: true)
        try "{{#sections}} never closed".write(to: templates.appendingPathComponent("monthly.html.mustache"), atomically: true, encoding: .utf8)
        let csv = try await workspace.run(["report", "--month", "2026-11", "--format", "csv"])
        #expect(csv.status == 0)
        let html = try await workspace.run(["report", "--month", "2026-11", "--format", "html"])
        #expect(html.status == 1)
        #expect(html.stderr.hasPrefix("error: invalid_template: The report template '\(templates.path)/monthly.html.mustache' cannot be used: "))
        let markdown = try await workspace.run(["report", "--month", "2026-11", "--format", "md"])
        #expect(markdown.status == 0)
        #expect(markdown.stderr.hasPrefix("template monthly.md.mustache: built-in\n"))
    }
}

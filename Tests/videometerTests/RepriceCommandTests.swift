import Foundation
import Testing
import VideoMeterTesting

/// `videometer reprice` and the forecast of `budget show`, run as a user would.
@Suite("Pricing intelligence commands, run as a user would")
struct RepriceCommandTests {
    /// BlockRun's sheet with seedance-1.5-pro at 0.040 a second instead of 0.030: 5 s = 0.210000.
    static let newSheet = """
        {"provider": "blockrun", "versions": [
          {"version": "blockrun-2026-12", "effective_from": "2026-12-01T00:00:00Z", "source": "test: one rate changed",
           "margin_percent": "5", "settlement_scale": 6, "rounding": "half_up", "display_scale": 3,
           "models": [
             {"id": "bytedance/seedance-1.5-pro", "api_style": "sync", "resolutions": ["720p"],
              "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.040"}, "source": "test"}
           ]}
        ]}
        """

    /// A ledger with team `studio` and two sandbox seedance-1.5-pro calls (5 s, 0.157500 each),
    /// charged in the test clock's month; `new.json` holds ``newSheet``.
    final class Workspace {
        let directory: URL
        var db: String { directory.appendingPathComponent("ledger.sqlite").path }
        var sheet: String { directory.appendingPathComponent("new.json").path }

        init(calls: Int = 2) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-reprice-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(RepriceCommandTests.newSheet.utf8).write(to: URL(fileURLWithPath: sheet))
            #expect(try await run(["team", "create", "studio"]).status == 0)
            #expect(try await run(["budget", "set", "--team", "studio", "--monthly", "10"]).status == 0)
            for _ in 0..<calls {
                let call = try await run([
                    "generate", "--team", "studio", "--model", "bytedance/seedance-1.5-pro", "--prompt", "a cat",
                    "--sandbox-latency-ms", "0",
                ])
                #expect(call.status == 0, "\(call.stderr)")
            }
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> CLI.Result {
            try await CLI.run(arguments + ["--db", db], environment: environment, in: directory)
        }

        func json(_ arguments: [String], environment: [String: String] = [:]) async throws -> [String: Any] {
            let result = try await run(arguments, environment: environment)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }

        /// The ledger's durable files (the database and its write-ahead log) and their bytes: what a
        /// read-only command must leave as they were. The `-shm` file is SQLite's shared-memory
        /// index, where every reader, read-only ones included, marks what it reads; and a reader of
        /// a WAL database may leave an empty `-wal` file where there was none (no content).
        func files() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path)
            where name.hasPrefix("ledger.sqlite") && !name.hasSuffix("-shm") {
                let data = try Data(contentsOf: directory.appendingPathComponent(name))
                if !data.isEmpty { files[name] = data }
            }
            return files
        }
    }

    static let month = TestClock.month

    @Test func aMonthUnderANewSheetWithExactAmountsAndNothingWritten() async throws {
        let workspace = try await Workspace()
        let before = try workspace.files()
        let document = try await workspace.json(["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--json"])
        #expect(document["month"] as? String == Self.month)
        #expect(document["catalog_version"] as? String == "blockrun-2026-12")
        #expect(document["charged"] as? String == "0.315000")
        #expect(document["repriced"] as? String == "0.420000")
        #expect(document["difference"] as? String == "0.105000")
        #expect(document["repriced_invoice"] as? String == "0.420000")
        let teams = try #require(document["teams"] as? [[String: Any]])
        #expect(teams.count == 1)
        #expect(teams[0]["team"] as? String == "studio")
        #expect(teams[0]["calls"] as? Int == 2)
        let models = try #require(teams[0]["models"] as? [[String: Any]])
        #expect(models.map { $0["model"] as? String } == ["bytedance/seedance-1.5-pro"])
        #expect(models[0]["difference"] as? String == "0.105000")
        #expect((document["unpriced"] as? [Any])?.isEmpty == true)
        let after = try workspace.files()
        #expect(after == before, "reprice opened the ledger read-only: \(after.keys.sorted()) vs \(before.keys.sorted())")

        let text = try await workspace.run(["reprice", "--month", Self.month, "--pricing", workspace.sheet])
        #expect(text.status == 0)
        #expect(text.stdout.contains("Charged 0.315000 USD, repriced 0.420000 USD, difference +0.105000 USD"))
        let csv = try await workspace.run(["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--format", "csv"])
        #expect(csv.stdout.contains("\(Self.month),studio,blockrun,bytedance/seedance-1.5-pro,priced,2,0.315000,0.420000,0.105000,,\r\n"))
        let out = workspace.directory.appendingPathComponent("out").path
        let files = try await workspace.run(["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--format", "md", "--format", "html", "--out", out])
        #expect(files.status == 0, "\(files.stderr)")
        let html = try String(contentsOfFile: out + "/videometer-reprice-\(Self.month).html", encoding: .utf8)
        #expect(html.contains("0.420000"))
        let markdown = try String(contentsOfFile: out + "/videometer-reprice-\(Self.month).md", encoding: .utf8)
        #expect(markdown.contains("| studio | blockrun bytedance/seedance-1.5-pro | 2 | 0.315000 | 0.420000 | +0.105000 |"))
    }

    @Test func theCatalogInForceAtAnInstantAndCallsItCannotPrice() async throws {
        let workspace = try await Workspace(calls: 1)
        // The same price list as charged: no difference.
        let same = try await workspace.json(["reprice", "--month", Self.month, "--at", "\(Self.month)-15T00:00:00Z", "--json"])
        #expect(same["charged"] as? String == "0.157500")
        #expect(same["repriced"] as? String == "0.157500")
        #expect(same["difference"] as? String == "0.000000")
        // Before any BlockRun price list: unpriced with the reason, never 0.
        let early = try await workspace.json(["reprice", "--month", Self.month, "--at", "2020-01-01T00:00:00Z", "--json"])
        #expect(early["repriced"] as? String == "0.000000")
        let unpriced = try #require(early["unpriced"] as? [[String: Any]])
        #expect(unpriced.count == 1)
        #expect(unpriced[0]["code"] as? String == "no_price_in_force")
        #expect(unpriced[0]["charged"] as? String == "0.157500")
        #expect(early["unpriced_charged"] as? String == "0.157500")
    }

    @Test func badInputGetsItsCodeAndChangesNothing() async throws {
        let workspace = try await Workspace(calls: 1)
        let before = try workspace.files()
        let broken = workspace.directory.appendingPathComponent("broken.json").path
        try Data(Self.newSheet.replacingOccurrences(of: "\"0.040\"", with: "\"-1\"").utf8).write(to: URL(fileURLWithPath: broken))
        let cases: [([String], Int32, String)] = [
            (["reprice", "--month", "2026-13", "--pricing", workspace.sheet], 1, "error: invalid_month: "),
            (["reprice", "--month", Self.month, "--pricing", broken], 1, "error: invalid_catalog: "),
            (["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--team", "nobody"], 1, "error: unknown_team: "),
            (["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--timezone", "Mars/Base"], 1, "error: invalid_time_zone: "),
            (["reprice", "--month", Self.month], 64, "Name the other prices"),
            (["reprice", "--month", Self.month, "--pricing", workspace.sheet, "--at", "2026-11-01"], 64, "Give --pricing or --at, not both."),
            (["reprice", "--month", Self.month, "--at", "yesterday"], 64, "--at 'yesterday' is not an ISO 8601 date"),
        ]
        for (arguments, status, message) in cases {
            let result = try await workspace.run(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let after = try workspace.files()
        #expect(after == before, "\(after.keys.sorted()) vs \(before.keys.sorted())")
        let missing = try await CLI.run(["reprice", "--month", Self.month, "--at", "2026-11-01", "--db", workspace.directory.appendingPathComponent("none.sqlite").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: no_ledger: "))
    }

    @Test func budgetShowForecastsTheMonthOnTheProcessClock() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-forecast-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("ledger.sqlite").path
        // Frozen clocks: the run rate depends on the exact instant, to the millisecond.
        let tenth = ["VIDEOMETER_NOW": "2026-11-10T12:00:00Z", "VIDEOMETER_CLOCK": "frozen"]
        #expect(try await CLI.run(["team", "create", "acme", "--db", db], environment: tenth).status == 0)
        #expect(try await CLI.run(["budget", "set", "--team", "acme", "--monthly", "10", "--db", db], environment: tenth).status == 0)
        // 3.00 posted on Nov 10 (two postings of 1.50). At the second, the window Nov 4-10 (156 h)
        // projects 3.00 + 3.00 x 492 / 156 = 12.461538: past 10.00, a projected_overrun alert.
        #expect(try await CLI.run(["ledger", "exercise", "--team", "acme", "--count", "2", "--amount", "1.5", "--db", db], environment: tenth).status == 0)

        let sixteenth = ["VIDEOMETER_NOW": "2026-11-16T00:00:00Z", "VIDEOMETER_CLOCK": "frozen"]
        let show = try await CLI.run(["budget", "show", "--team", "acme", "--json", "--db", db], environment: sixteenth)
        #expect(show.status == 0, "\(show.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        // On Nov 16 00:00 the window is Nov 10-16 (144 h) and 360 h are left: 3.00 + 7.50.
        let forecast = try #require(json["forecast"] as? [String: Any])
        #expect(forecast["projected_month_end"] as? String == "10.500000")
        #expect(forecast["run_rate_per_day"] as? String == "0.500000")
        // 7.00 left at 0.50 a day: 14 days on.
        #expect(forecast["exhausted_on"] as? String == "2026-11-30")
        #expect(forecast["window_start"] as? String == "2026-11-10T00:00:00Z")
        #expect(forecast["daily_exhausted_at"] is NSNull)
        let alerts = try #require(json["alerts"] as? [[String: Any]])
        #expect(alerts.map { $0["kind"] as? String } == ["projected_overrun"])

        let text = try await CLI.run(["budget", "show", "--team", "acme", "--db", db], environment: sixteenth)
        #expect(text.stdout.contains("forecast: 10.500000 USD by the end of 2026-11 at 0.500000 USD/day"))
        #expect(text.stdout.contains("monthly budget runs out on 2026-11-30"))
        #expect(text.stdout.contains("projected_overrun recorded 2026-11-10T12:00:00Z: the projection (12.461538 USD) passed the monthly limit"))
    }
}

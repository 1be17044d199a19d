import Foundation
import Testing
import VideoMeter
import VideoMeterTesting

/// `VIDEOMETER_NOW`: a process a test starts runs on the test's clock, and a bad value is refused.
@Suite("The process clock, VIDEOMETER_NOW")
struct ProcessClockTests {
    @Test func aProcessChargesIntoTheMonthItsClockSays() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-clock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("ledger.sqlite").path
        // Tokyo is UTC+9: 2027-02-28T16:00Z is already 1 March there.
        let march = ["VIDEOMETER_NOW": "2027-02-28T16:00:00Z"]
        #expect(try await CLI.run(["team", "create", "acme", "--timezone", "Asia/Tokyo", "--db", db], environment: march).status == 0)
        #expect(try await CLI.run(["budget", "set", "--team", "acme", "--monthly", "10", "--db", db], environment: march).status == 0)
        let exercise = try await CLI.run(
            ["ledger", "exercise", "--team", "acme", "--count", "1", "--amount", "2.5", "--hold-only", "--db", db], environment: march)
        #expect(exercise.status == 0, "\(exercise.stderr)")

        let show = try await CLI.run(["budget", "show", "--team", "acme", "--json", "--db", db], environment: march)
        let monthly = try #require((try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])?["monthly"] as? [String: Any])
        #expect(monthly["period"] as? String == "2027-03")
        #expect(monthly["pending"] as? String == "2.500000")
        #expect(monthly["period_end"] as? String == "2027-04-01T00:00:00+09:00")

        // The same ledger read on the suite's clock (November 2026): March's hold is not in it.
        let november = try await CLI.run(["budget", "show", "--team", "acme", "--json", "--db", db])
        let novemberMonthly = try #require((try JSONSerialization.jsonObject(with: Data(november.stdout.utf8)) as? [String: Any])?["monthly"] as? [String: Any])
        #expect(novemberMonthly["period"] as? String == "2026-11")
        #expect(novemberMonthly["pending"] as? String == "0.000000")
    }

    @Test func aQuoteWithoutAtUsesThePriceListInForceOnTheProcessClock() async throws {
        let quote = try await CLI.run(["quote", "--model", "grok-imagine-video", "--json"], environment: ["VIDEOMETER_NOW": "2026-11-21T10:00:00Z"])
        #expect(quote.status == 0, "\(quote.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(quote.stdout.utf8)) as? [String: Any])
        let at = try await CLI.json(["quote", "--model", "grok-imagine-video", "--at", "2026-11-21T10:00:00Z", "--json"])
        #expect(json["catalog_version"] as? String == at["catalog_version"] as? String)
        #expect(json["total"] as? String == at["total"] as? String)
    }

    @Test(arguments: ["tomorrow", "2026-13-01T00:00:00Z", "1700000000"])
    func aMalformedClockIsRefusedBeforeAnythingRuns(_ value: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-clock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("ledger.sqlite").path
        let result = try await CLI.run(["team", "create", "acme", "--db", db], environment: ["VIDEOMETER_NOW": value])
        #expect(result.status == 64)
        #expect(result.stderr.contains("VIDEOMETER_NOW '\(value)' is not an ISO 8601 instant such as 2026-11-21T10:00:00Z"))
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func aFrozenClockStaysAtItsInstantAndAnUnknownModeIsRefused() async throws {
        let frozen = try await CLI.run(
            ["quote", "--model", "grok-imagine-video", "--json"],
            environment: ["VIDEOMETER_NOW": "2026-11-21T10:00:00Z", "VIDEOMETER_CLOCK": "frozen"])
        #expect(frozen.status == 0, "\(frozen.stderr)")
        let refused = try await CLI.run(["quote", "--model", "grok-imagine-video"], environment: ["VIDEOMETER_CLOCK": "sometimes"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("VIDEOMETER_CLOCK 'sometimes' is not 'running' or 'frozen'."))
    }

    @Test func anOffsetClockStartsAtItsInstantAndRunsAtItsBaseRate() {
        let base = ManualWallClock(CatalogDate.parse("2030-01-01T00:00:00Z")!)
        let clock = OffsetWallClock(startingAt: TestClock.start, base: base)
        #expect(clock.now() == TestClock.start)
        base.advance(by: 90)
        #expect(clock.now() == TestClock.start.addingTimeInterval(90))
    }
}

/// xAI direct from the CLI, as a user would: in the sandbox, charged exactly.
@Suite("videometer with provider xai")
struct XAICommandTests {
    @Test func generateAndModelsTakeProviderXAI() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-xai-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("ledger.sqlite").path
        #expect(try await CLI.run(["team", "create", "studio", "--db", db]).status == 0)
        #expect(try await CLI.run(["budget", "set", "--team", "studio", "--monthly", "5", "--db", db]).status == 0)
        let generate = try await CLI.run([
            "generate", "--team", "studio", "--provider", "xai", "--model", "grok-imagine-video", "--prompt", "a kite",
            "--duration", "6", "--resolution", "720p", "--sandbox-latency-ms", "0", "--json", "--db", db,
        ])
        #expect(generate.status == 0, "\(generate.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(generate.stdout.utf8)) as? [String: Any])
        #expect(json["provider"] as? String == "xai")
        #expect(json["charged"] as? String == "0.420000")

        let models = try await CLI.run(["models", "--provider", "xai", "--json"])
        #expect(models.status == 0)
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(models.stdout.utf8)) as? [[String: Any]])
        #expect(listed.map { $0["model"] as? String } == ["grok-imagine-video", "grok-imagine-video-1.5-preview"])
        // Without --provider the name is WorldRouter's, as before.
        let quote = try await CLI.json(["quote", "--model", "grok-imagine-video", "--json"])
        #expect(quote["provider"] as? String == "worldrouter")
    }
}

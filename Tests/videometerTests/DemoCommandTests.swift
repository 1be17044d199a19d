import Foundation
import Testing

@Suite("videometer demo, run as a user would")
struct DemoCommandTests {
    @Test func theDemoMetersARealisticMixAndCanRunAgain() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for _ in 0..<2 {
            let result = try await CLI.run(["demo", "--latency-ms", "0"], in: directory)
            #expect(result.status == 0, "\(result.stderr)")
            let out = result.stdout
            #expect(out.contains("ledger    SQLite file videometer-demo.sqlite (new)"))
            #expect(out.contains("async  grok-imagine-video-1.5-preview, image         200 task succeeded, charged 1.130000 USD"))
            #expect(out.contains("sync   bytedance/seedance-2.0 (upstream 504)         504 upstream_timeout"))
            #expect(out.contains("async  grok-imagine-video (task fails)               200 task failed, charged 0.000000 USD"))
            #expect(out.contains("(replayed: first result, not charged again)"))
            #expect(out.contains("marketing  sync   xai/grok-imagine-video (over budget)          402 budget_exceeded, available 0.212500 USD"))
            // Every run starts from a fresh ledger, so the budgets come out the same.
            #expect(out.contains(/studio     \d{4}-\d{2}  5\.000000  2\.547500  0\.000000   2\.452500/))
            #expect(out.contains(/marketing  \d{4}-\d{2}  1\.000000  0\.787500  0\.000000   0\.212500/))
            #expect(out.contains("ledger verify: consistent"))
        }
        let reports = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("reports/out").path)
        #expect(reports.count == 1 && reports[0].hasSuffix(".html"))
        // The user's own ledger is never created or touched.
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("videometer.sqlite").path))
    }

    @Test func aLedgerThatExistsIsNeverUsedByTheDemo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let existing = directory.appendingPathComponent("real.sqlite").path
        #expect(try await CLI.run(["team", "create", "studio", "--db", existing]).status == 0)
        let result = try await CLI.run(["demo", "--db", existing, "--latency-ms", "0"], in: directory)
        #expect(result.status == 64)
        #expect(result.stderr.contains("--db \(existing) exists"))
    }
}

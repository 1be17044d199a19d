import Foundation
import GRDB
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// The monthly report over 1,000,000 usage events (50 teams, 4 models, one month), against the
/// report's main aggregate query run by the `sqlite3` shell on the same file in the same run.
let reportBenchmark = Benchmark(
    name: "report",
    summary: "monthly report (all teams, 4 formats) over 1,000,000 usage events vs the same aggregate in the sqlite3 shell"
) {
    let eventCount = 1_000_000
    let teamCount = 50
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-report-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("ledger.sqlite").path
    let month = try ReportMonth(parsing: "2026-11")
    let monthStart: Int64 = 1_793_491_200_000 // 2026-11-01T00:00:00Z in milliseconds
    let monthMilliseconds: Int64 = 30 * 86_400_000

    let ledger = try Ledger(path: path)
    // (model, provider, resolution, seconds, price in micro-dollars, upstream cost)
    let models: [(String, String, String, Int64, MicroUSD, MicroUSD)] = [
        ("bytedance/seedance-1.5-pro", "blockrun", "720p", 5, 157_500, 150_000),
        ("bytedance/seedance-2.0", "blockrun", "720p", 5, 787_500, 750_000),
        ("xai/grok-imagine-video", "blockrun", "720p", 8, 420_000, 400_000),
        ("grok-imagine-video", "worldrouter", "480p", 6, 300_000, 300_000),
    ]
    let clock = ContinuousClock()
    let insertStart = clock.now
    let expectedCharged: MicroUSD = try await ledger.writer.write { db in
        var expectedCharged: MicroUSD = 0
        for team in 1...teamCount {
            try db.execute(sql: "INSERT INTO team (id, name, timeZone, createdAt) VALUES (?, ?, 'UTC', 0)", arguments: [team, "team-\(team)"])
            try db.execute(sql: """
                INSERT INTO budget (teamID, monthlyLimitMicro, alertThresholds, updatedAt) VALUES (?, 1000000000000, '50,80,100', 0)
                """, arguments: [team])
        }
        let hold = try db.makeStatement(sql: """
            INSERT INTO hold (id, teamID, idempotencyKey, fingerprint, amountMicro, postedMicro, state, callStatus, provider,
                model, resolution, seconds, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, periodMonth, periodDay,
                countsAgainstCredit, createdAt, deadline, resolvedAt)
            VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, '2026-11', ?, 0, ?, ?, ?)
            """)
        let entry = try db.makeStatement(sql: """
            INSERT INTO journalEntry (kind, teamID, holdID, amountMicro, releasedMicro, periodMonth, createdAt)
            VALUES (?, ?, ?, ?, ?, '2026-11', ?)
            """)
        let usage = try db.makeStatement(sql: """
            INSERT INTO usageEvent (holdID, teamID, idempotencyKey, provider, model, resolution, seconds, imageCount, status,
                outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, catalogVersion, periodMonth, periodDay,
                createdAt, finishedAt, caller)
            VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, '2026-11', ?, ?, ?, ?)
            """)
        var random = SplitMix64(seed: 42)
        for id in 1...eventCount {
            let team = Int64(random.next() % UInt64(teamCount)) + 1
            let model = models[Int(random.next() % UInt64(models.count))]
            let createdAt = monthStart + Int64(random.next() % UInt64(monthMilliseconds))
            let roll = random.next() % 100
            let status = roll < 90 ? "succeeded" : roll < 94 ? "failed" : roll < 97 ? "timed_out" : roll < 98 ? "cancelled" : roll < 99 ? "expired" : "rejected"
            let posted = status == "succeeded"
            let charged: MicroUSD = posted ? model.4 : 0
            let upstream: MicroUSD = posted ? model.5 : 0
            let state = posted ? "posted" : status == "expired" ? "expired" : "voided"
            let version = createdAt < monthStart + monthMilliseconds / 2 ? "v1" : "v2"
            let day = "2026-11-\(String(format: "%02d", (createdAt - monthStart) / 86_400_000 + 1))"
            let key = "k\(id)"
            expectedCharged += charged
            try hold.execute(arguments: [
                id, team, key, model.4, charged, state, status, model.1, model.0, model.2, model.3, version,
                model.5, model.4 - model.5, day, createdAt, createdAt + 600_000, createdAt + 60_000,
            ])
            try entry.execute(arguments: [posted ? "post" : status == "expired" ? "expire" : "void", team, id, charged, model.4 - charged, createdAt + 60_000])
            try usage.execute(arguments: [
                id, team, key, model.1, model.0, model.2, model.3, status, state, model.4, charged, upstream,
                charged - upstream, version, day, createdAt, createdAt + 60_000, "key-\(team)-\(random.next() % 20)",
            ])
        }
        return expectedCharged
    }
    let insertSeconds = seconds(insertStart.duration(to: clock.now))
    print("  (inserted \(eventCount) holds, journal entries, usage events and callers in \(format(insertSeconds)) s)")
    try await ledger.writer.writeWithoutTransaction { db in try db.execute(sql: "ANALYZE") }

    // The report: build for every team and render all four formats.
    var rendered = 0
    var reportCharged: MicroUSD = 0
    let reportStart = clock.now
    let builder = try MonthlyReportBuilder(ledger: ledger)
    let report = try await builder.build(month: month)
    let renderer = ReportRenderer()
    for format in ReportFormat.allCases { rendered += try renderer.render(report, as: format).utf8.count }
    let reportSeconds = seconds(reportStart.duration(to: clock.now))
    reportCharged = report.allTeams.chargedMicro
    guard reportCharged == expectedCharged, report.allTeams.ledgerChargedMicro == expectedCharged,
          report.allTeams.requests == Int64(eventCount), rendered > 0
    else {
        throw BenchmarkError("report total \(Money.format(micro: reportCharged)) differs from the inserted \(Money.format(micro: expectedCharged))")
    }

    // Baseline: the same aggregate query in the sqlite3 shell, on the same file.
    let sql = try await builder.inlineSQL(month: month).joined(separator: ";\n") + ";\n"
    let shellStart = clock.now
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = ["-readonly", path, sql]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let shellSeconds = seconds(shellStart.duration(to: clock.now))
    guard process.terminationStatus == 0 else { throw BenchmarkError("sqlite3 exited with \(process.terminationStatus)") }
    let shellRows = output.split(separator: UInt8(ascii: "\n")).count
    print("  (sqlite3 returned \(shellRows) grouped rows; report total \(Money.format(micro: reportCharged)) USD = inserted total)")

    return [
        Measurement(
            label: "monthly report, 50 teams, 1,000,000 events (build + csv/json/md/html)", value: reportSeconds, unit: "s",
            baseline: ("sqlite3 shell, same aggregate", shellSeconds), aim: "aim: < 2 s"
        ),
    ]
}

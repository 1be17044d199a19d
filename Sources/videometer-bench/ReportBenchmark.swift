import Foundation
import GRDB
import VideoMeter
import VideoMeterCatalog
import VideoMeterLedger
import VideoMeterReports

/// The monthly report over 1,000,000 usage events (50 teams — 20 of them in Asia/Tokyo and
/// America/New_York, whose November has a daylight-saving change — 4 models, one month, recorded in
/// time order as a live ledger records them), against the same SQL statements the report runs, run
/// by the `sqlite3` shell on the same file in the same run. The shell's start-up (`SELECT 1`) is
/// measured separately and subtracted, so the ratio compares query work with query work plus what
/// the report adds (merging, rendering four formats).
///
/// Two measurements on the ledger's schema as shipped (its migrations include the indexes the
/// report's queries are shaped for, v3-report-indexes): each team's own month, and
/// `--timezone America/New_York` (periods from instants, local days computed in SQL across the
/// daylight-saving change).
let reportBenchmark = Benchmark(
    name: "report",
    summary: "monthly report (all teams, 4 formats) over 1,000,000 usage events vs the report's SQL in the sqlite3 shell"
) {
    let eventCount = 1_000_000
    let teamCount = 50
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-report-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    // VIDEOMETER_BENCH_KEEP=1 keeps the million-event ledger for a closer look (its path is printed).
    let keep = ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_KEEP"] == "1"
    defer { if !keep { try? FileManager.default.removeItem(at: directory) } }
    let path = directory.appendingPathComponent("ledger.sqlite").path
    if keep { print("  (keeping the ledger at \(path))") }
    let month = try ReportMonth(parsing: "2026-11")
    // Calls from Oct 31 00:00 to Dec 1 24:00 UTC, so every zone's month boundaries cut through them.
    let spanStart: Int64 = 1_793_404_800_000 // 2026-10-31T00:00:00Z in milliseconds
    let spanMilliseconds: Int64 = 32 * 86_400_000
    let zone: @Sendable (Int) -> String = { $0 % 5 == 0 ? "Asia/Tokyo" : $0 % 5 == 1 ? "America/New_York" : "UTC" }
    let windows = Dictionary(uniqueKeysWithValues: (1...teamCount).map { team in
        let period = ReportPeriod(month: month, timeZone: TimeZone(identifier: zone(team))!)
        return (Int64(team), (period.start * 1000, period.end * 1000))
    })

    // The budget month and day of an instant in a team's zone (October to December 2026).
    let periods = Dictionary(uniqueKeysWithValues: (1...teamCount).map { team in
        (Int64(team), ["2026-10", "2026-11", "2026-12"].map { ReportPeriod(month: try! ReportMonth(parsing: $0), timeZone: TimeZone(identifier: zone(team))!) })
    })
    let budgetPeriod: @Sendable (Int64, Int64) -> (String, String) = { team, instant in
        for period in periods[team]! {
            if let day = period.dayIndex(of: instant / 1000) { return (period.month.description, period.days[day].date) }
        }
        preconditionFailure("\(instant) is outside October to December 2026")
    }

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
    // Setup only: a large page cache makes the million inserts quicker (the report does not get it).
    try await ledger.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -262144") }
    let (expectedCharged, expectedRequests): (MicroUSD, Int64) = try await ledger.writer.write { db in
        var expectedCharged: MicroUSD = 0
        var expectedRequests: Int64 = 0
        for team in 1...teamCount {
            try db.execute(sql: "INSERT INTO team (id, name, timeZone, createdAt) VALUES (?, ?, ?, 0)", arguments: [team, "team-\(team)", zone(team)])
            try db.execute(sql: """
                INSERT INTO budget (teamID, monthlyLimitMicro, alertThresholds, updatedAt) VALUES (?, 1000000000000, '50,80,100', 0)
                """, arguments: [team])
        }
        let hold = try db.makeStatement(sql: """
            INSERT INTO hold (id, teamID, idempotencyKey, fingerprint, amountMicro, postedMicro, state, callStatus, provider,
                model, resolution, seconds, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, periodMonth, periodDay,
                countsAgainstCredit, createdAt, deadline, resolvedAt, caller)
            VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, 0, ?, ?, ?, ?)
            """)
        let entry = try db.makeStatement(sql: """
            INSERT INTO journalEntry (kind, teamID, holdID, amountMicro, releasedMicro, periodMonth, createdAt)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let usage = try db.makeStatement(sql: """
            INSERT INTO usageEvent (holdID, teamID, idempotencyKey, provider, model, resolution, seconds, imageCount, status,
                outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, catalogVersion, periodMonth, periodDay,
                createdAt, finishedAt, caller)
            VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // Random teams, models, outcomes and instants, recorded in time order as a live ledger
        // records them; each call carries its team's budget month and day, as the ledger stamps them.
        var random = SplitMix64(seed: 42)
        let calls = (1...eventCount).map { _ -> (team: Int64, model: Int, createdAt: Int64, roll: UInt64, caller: UInt64) in
            (Int64(random.next() % UInt64(teamCount)) + 1, Int(random.next() % UInt64(models.count)),
             spanStart + Int64(random.next() % UInt64(spanMilliseconds)), random.next() % 100, random.next() % 20)
        }.sorted { $0.createdAt < $1.createdAt }
        for (index, call) in calls.enumerated() {
            let id = index + 1
            let team = call.team
            let model = models[call.model]
            let createdAt = call.createdAt
            let roll = call.roll
            let status = roll < 90 ? "succeeded" : roll < 94 ? "failed" : roll < 97 ? "timed_out" : roll < 98 ? "cancelled" : roll < 99 ? "expired" : "rejected"
            let posted = status == "succeeded"
            let charged: MicroUSD = posted ? model.4 : 0
            let upstream: MicroUSD = posted ? model.5 : 0
            let state = posted ? "posted" : status == "expired" ? "expired" : "voided"
            let version = createdAt < spanStart + spanMilliseconds / 2 ? "blockrun-2026-04" : "blockrun-2026-11-15"
            let (periodMonth, periodDay) = budgetPeriod(team, createdAt)
            let key = "k\(id)"
            let caller = "key-\(team)-\(call.caller)"
            let (start, end) = windows[team]!
            if createdAt >= start && createdAt < end {
                expectedCharged += charged
                expectedRequests += 1
            }
            try hold.execute(arguments: [
                id, team, key, model.4, charged, state, status, model.1, model.0, model.2, model.3, version,
                model.5, model.4 - model.5, periodMonth, periodDay, createdAt, createdAt + 600_000, createdAt + 60_000, caller,
            ])
            try entry.execute(arguments: [
                posted ? "post" : status == "expired" ? "expire" : "void", team, id, charged, model.4 - charged, periodMonth,
                createdAt + 60_000,
            ])
            try usage.execute(arguments: [
                id, team, key, model.1, model.0, model.2, model.3, status, state, model.4, charged, upstream,
                charged - upstream, version, periodMonth, periodDay, createdAt, createdAt + 60_000, caller,
            ])
        }
        try db.execute(sql: """
            INSERT INTO balance (teamID, scope, periodKey, postedMicro, pendingMicro)
            SELECT teamID, 'month', periodMonth, SUM(postedMicro), 0 FROM hold GROUP BY teamID, periodMonth
            """)
        return (expectedCharged, expectedRequests)
    }
    let insertSeconds = seconds(insertStart.duration(to: clock.now))
    print("  (inserted \(eventCount) holds, journal entries and usage events for \(teamCount) teams in UTC, Asia/Tokyo and America/New_York in \(format(insertSeconds)) s)")
    try await ledger.writer.writeWithoutTransaction { db in try db.execute(sql: "ANALYZE; PRAGMA cache_size = -2000") }

    let roundings = InvoiceRoundings(catalog: try Catalog.bundled())
    let builder = MonthlyReportBuilder(ledger: ledger, invoiceRoundings: roundings)
    let renderer = ReportRenderer()

    func shell(_ input: String) throws -> (seconds: Double, lines: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-readonly", path]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        let start = clock.now
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let elapsed = seconds(start.duration(to: clock.now))
        guard process.terminationStatus == 0 else { throw BenchmarkError("sqlite3 exited with \(process.terminationStatus)") }
        return (elapsed, output.split(separator: UInt8(ascii: "\n")).count)
    }

    /// Times the report (build for every team in one read transaction, render all four formats),
    /// then every statement it ran, in one transaction in the sqlite3 shell on the same file: the
    /// median of three runs each.
    func measure(_ label: String, timeZone: String? = nil) async throws -> Measurement {
        var reportRuns: [Double] = []
        // What the report over the override zone must find.
        var expected = (charged: expectedCharged, requests: expectedRequests)
        if let timeZone {
            let period = ReportPeriod(month: month, timeZone: TimeZone(identifier: timeZone)!)
            expected = try await ledger.writer.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT SUM(chargedMicro), COUNT(*) FROM usageEvent WHERE +createdAt >= ? AND +createdAt < ?",
                                           arguments: [period.start * 1000, period.end * 1000])!
                return (row[0], row[1])
            }
        }
        for _ in 0..<3 {
            let reportStart = clock.now
            let report = try await builder.build(month: month, timeZone: timeZone)
            let rendered = try renderer.render(report, as: ReportFormat.allCases).values.reduce(0) { $0 + $1.utf8.count }
            reportRuns.append(seconds(reportStart.duration(to: clock.now)))
            let reportCharged = report.allTeams.chargedMicro
            guard reportCharged == expected.charged, report.allTeams.ledgerChargedMicro == expected.charged,
                  report.allTeams.requests == expected.requests, rendered > 0
            else {
                throw BenchmarkError("report total \(Money.format(micro: reportCharged)) USD over \(report.allTeams.requests) calls differs from the inserted \(Money.format(micro: expected.charged)) USD over \(expected.requests)")
            }
        }
        let statements = try await ledger.reportSQL(MonthlyUsageRequest(year: month.year, month: month.month, timeZone: timeZone))
        let script = "BEGIN;\n" + statements.map { $0 + ";\n" }.joined() + "COMMIT;\n"
        // Start-up: opening the same file and answering SELECT 1, the median of five runs.
        let startup = try (0..<5).map { _ in try shell("SELECT 1;\n").seconds }.sorted()[2]
        var shellRuns: [Double] = []
        var shellRows = 0
        for _ in 0..<3 {
            let run = try shell(script)
            shellRuns.append(run.seconds)
            shellRows = run.lines
        }
        let reportSeconds = reportRuns.sorted()[1]
        let shellWork = max(shellRuns.sorted()[1] - startup, 0)
        let runs = { (values: [Double]) in values.map(format).joined(separator: ", ") }
        print("  (\(label): report total \(Money.format(micro: expected.charged)) USD = inserted total; runs \(runs(reportRuns)) s. sqlite3: \(statements.count) statements, \(shellRows) rows, runs \(runs(shellRuns)) s, start-up \(format(startup)) s (median of 5 runs of SELECT 1))")
        return Measurement(
            label: "monthly report, \(label) (build + csv/json/md/html, median of 3)", value: reportSeconds, unit: "s",
            baseline: ("sqlite3 shell, the same \(statements.count) statements, median of 3, start-up subtracted", shellWork), aim: "aim: < 2 s"
        )
    }

    // The ledger's migrations include the indexes that let SQLite stream a team's month (v3).
    let current = try await measure("50 teams in 3 zones, 1,000,000 events")
    let overridden = try await measure("same ledger, --timezone America/New_York", timeZone: "America/New_York")

    /// `videometer reprice` of the same month under the catalog in force on 1 December 2026: read
    /// the charged calls grouped by what prices them (read-only), price each group through the exact
    /// fast path, total per team and model. Baseline: the grouping query alone in the sqlite3 shell.
    func measureReprice() async throws -> Measurement {
        let catalog = try Catalog.bundled()
        let at = CatalogDate.parse("2026-12-01T00:00:00Z")!
        var runs: [Double] = []
        var report: RepriceReport?
        var calls: [ChargedCalls] = []
        for _ in 0..<3 {
            let start = clock.now
            calls = try await LedgerSnapshot(path: path).chargedCalls(.budgetMonth(month.description))
            report = RepriceReport(
                month: month.description, timeZone: nil, pricing: "embedded at 2026-12-01", calls: calls, catalog: catalog, at: at,
                chargedRoundings: roundings)
            runs.append(seconds(start.duration(to: clock.now)))
        }
        guard let report else { throw BenchmarkError("no reprice run") }
        // The same groups through the Decimal engine, call by call in aggregate: the totals must agree.
        var decimalTotal: MicroUSD = 0
        for group in calls {
            if let quote = try? catalog.reprice(
                provider: group.provider, model: group.model, seconds: group.seconds, resolution: group.resolution,
                imageCount: group.imageCount, at: at) {
                decimalTotal += quote.totalMicro * group.calls
            }
        }
        let charged = try await ledger.writer.read { db in
            try MicroUSD.fetchOne(db, sql: "SELECT SUM(chargedMicro) FROM usageEvent WHERE periodMonth = ? AND outcome = 'posted'", arguments: [month.description]) ?? 0
        }
        guard report.repricedMicro == decimalTotal, report.chargedMicro + report.unpricedChargedMicro == charged, report.calls > 0 else {
            throw BenchmarkError("reprice total \(Money.format(micro: report.repricedMicro)) differs from the Decimal engine's \(Money.format(micro: decimalTotal)), or charged \(Money.format(micro: report.chargedMicro)) from the ledger's \(Money.format(micro: charged))")
        }
        let query = """
            BEGIN; SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds, COUNT(*), SUM(chargedMicro)
            FROM usageEvent INDEXED BY usageEvent_reprice WHERE periodMonth = '\(month)' AND outcome = 'posted'
            GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds; COMMIT;
            """
        let startup = try (0..<5).map { _ in try shell("SELECT 1;\n").seconds }.sorted()[2]
        let shellRuns = try (0..<3).map { _ in try shell(query).seconds }.sorted()
        print("  (reprice: \(report.calls) charged calls in \(calls.count) groups, charged \(Money.format(micro: report.chargedMicro)) USD, repriced \(Money.format(micro: report.repricedMicro)) USD = the Decimal engine's; runs \(runs.map(format).joined(separator: ", ")) s)")
        return Measurement(
            label: "reprice a month (1,000,000 events, all teams)", value: runs.sorted()[1], unit: "s",
            baseline: ("sqlite3 shell, the grouping query alone, start-up subtracted", max(shellRuns[1] - startup, 0)), aim: "aim: < 1 s"
        )
    }
    let reprice = try await measureReprice()
    return [current, overridden, reprice]
}

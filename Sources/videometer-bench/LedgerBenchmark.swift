import Foundation
import GRDB
import VideoMeter
import VideoMeterLedger

/// Durable hold+post pairs per second through the ledger (group commit), with 1 and with 64
/// concurrent callers, against raw SQLite with the same durability (WAL, synchronous = FULL)
/// measured in the same run: single-row commits, and batched inserts.
let ledgerBenchmark = Benchmark(
    name: "ledger",
    summary: "durable hold+post pairs/s (1 and 64 callers) vs raw SQLite commits with WAL + synchronous=FULL"
) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    let (single, batched) = try rawSQLiteBaselines(directory: directory)

    let ledger = try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path)
    try await ledger.createTeam(name: "bench")
    try await ledger.setBudget(team: "bench", BudgetSettings(monthlyLimitMicro: Ledger.maximumMicro))

    @Sendable func pair(_ key: String) async throws {
        let request = HoldRequest(
            team: "bench", idempotencyKey: key, fingerprint: "bench", amountMicro: 1_500_000, timeoutSeconds: 600,
            provider: "blockrun", model: "bytedance/seedance-1.5-pro", resolution: "720p", seconds: 5,
            catalogVersion: "bench", quoteJSON: #"{"total":"1.500000"}"#, upstreamCostMicro: 1_428_571, marginMicro: 71_429)
        let hold = try await ledger.hold(request).hold
        try await ledger.post(holdID: hold.id, amount: 1_200_000)
    }

    let onePairs = 300
    let one = try await opsPerSecond(iterations: onePairs) {
        for index in 0..<onePairs { try await pair("one-\(index)") }
    }

    let callers = 64, perCaller = 400
    let many = try await opsPerSecond(iterations: callers * perCaller) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    for index in 0..<perCaller { try await pair("many-\(caller)-\(index)") }
                }
            }
            try await group.waitForAll()
        }
    }

    let report = try await ledger.verify()
    guard report.isConsistent, report.holds == onePairs + callers * perCaller else {
        throw BenchmarkError("the ledger is inconsistent after the run: \(report.problems.prefix(3))")
    }
    return [
        Measurement(label: "raw SQLite single-row durable commits", value: single, unit: "rows/s"),
        Measurement(label: "raw SQLite batched inserts (1000 rows/commit)", value: batched, unit: "rows/s"),
        Measurement(
            label: "hold+post pairs, 1 caller", value: one, unit: "pairs/s",
            baseline: ("raw single-row commits", single), aim: "2 commits per pair: expect ratio ~0.5"),
        Measurement(
            label: "hold+post pairs, 64 callers (group commit)", value: many, unit: "pairs/s",
            baseline: ("raw batched inserts", batched), aim: "aim: >= 20000 pairs/s"),
        Measurement(
            label: "hold+post pairs, 64 callers vs single-row commits", value: many, unit: "pairs/s",
            baseline: ("raw single-row commits", single)),
    ]
}

/// Raw SQLite with the ledger's durability settings: single-row commits/s and batched rows/s.
private func rawSQLiteBaselines(directory: URL) throws -> (single: Double, batched: Double) {
    let configuration = Configuration()
    let raw = try DatabasePool(path: directory.appendingPathComponent("raw.sqlite").path, configuration: configuration)
    // GRDB sets NORMAL when it enables WAL; the baseline must pay the same fsync as the ledger.
    try raw.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try raw.write { db in
        try db.execute(sql: "CREATE TABLE entry (id INTEGER PRIMARY KEY, holdID INTEGER NOT NULL, amountMicro INTEGER NOT NULL, createdAt INTEGER NOT NULL)")
    }
    let singleRows = 400
    let single = try opsPerSecond(iterations: singleRows) {
        for index in 0..<singleRows {
            try raw.write { db in
                try db.execute(sql: "INSERT INTO entry (holdID, amountMicro, createdAt) VALUES (?, ?, ?)", arguments: [index, 1_500_000, index])
            }
        }
    }
    let batchedRows = 100_000, batchSize = 1_000
    let batched = try opsPerSecond(iterations: batchedRows) {
        for batch in 0..<(batchedRows / batchSize) {
            try raw.write { db in
                let statement = try db.cachedStatement(sql: "INSERT INTO entry (holdID, amountMicro, createdAt) VALUES (?, ?, ?)")
                for index in 0..<batchSize {
                    try statement.execute(arguments: [batch * batchSize + index, 1_500_000, index])
                }
            }
        }
    }
    return (single, batched)
}

import Foundation
import GRDB
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// A fresh directory under the system's temporary directory, for one test's SQLite files.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-ledger-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// ``TestClock/start`` (2026-11-21T10:00:00Z) unless told otherwise.
func instant(_ iso: String = TestClock.iso) -> Date {
    ISO8601DateFormatter().date(from: iso)!
}

struct LedgerFixture {
    let directory: URL
    let path: String
    let clock: ManualWallClock
    let ledger: Ledger

    init(at start: Date = instant()) throws {
        directory = try temporaryDirectory()
        path = directory.appendingPathComponent("ledger.sqlite").path
        clock = ManualWallClock(start)
        ledger = try Ledger(path: path, clock: clock)
    }

    /// A team with a budget, UTC unless told otherwise; amounts in micro-dollars.
    @discardableResult
    func team(
        _ name: String = "acme", zone: String = "UTC", monthly: MicroUSD = 100_000_000, daily: MicroUSD? = nil,
        credit: MicroUSD? = nil, alerts: [Int]? = nil
    ) async throws -> Team {
        let team = try await ledger.createTeam(name: name, timeZone: zone)
        try await ledger.setBudget(team: name, BudgetSettings(
            monthlyLimitMicro: monthly, dailyLimitMicro: daily.map { .some($0) }, creditTopUpMicro: credit, alertThresholds: alerts))
        return team
    }
}

func request(
    _ key: String, team: String = "acme", amount: MicroUSD = 1_500_000, fingerprint: String? = nil, timeout: Int64 = 600
) -> HoldRequest {
    HoldRequest(
        team: team, idempotencyKey: key, fingerprint: fingerprint ?? "seedance-1.5-pro|720p|5s|\(amount)",
        amountMicro: amount, timeoutSeconds: timeout, provider: "blockrun", model: "bytedance/seedance-1.5-pro",
        resolution: "720p", seconds: 5, imageCount: 0, catalogVersion: "2026-11-01",
        quoteJSON: #"{"lines":[{"rate":"0.300000","seconds":"5"}],"total":"1.500000"}"#,
        upstreamCostMicro: amount * 20 / 21, marginMicro: amount - amount * 20 / 21)
}

/// Asserts that `body` throws a ``LedgerError`` with `code`, and returns it.
@discardableResult
func expectLedgerError(
    _ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> LedgerError? {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as LedgerError {
        #expect(error.code == code, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Runs the built `videometer` binary on the test's clock (``TestClock``).
enum VideometerBinary {
    typealias Output = VideometerProcess.Output

    static func process(_ arguments: [String]) -> (Process, Pipe, Pipe) {
        VideometerProcess.process(arguments)
    }

    static func run(_ arguments: [String]) throws -> Output {
        try VideometerProcess.run(arguments)
    }
}

/// Every row of every ledger table, as text, to compare a database before and after.
func snapshot(_ path: String) async throws -> [String] {
    let ledger = try Ledger(path: path, clock: TestClock.manualWallClock())
    return try await ledger.writer.read { db in
        var lines: [String] = []
        for table in ["team", "budget", "hold", "journalEntry", "balance", "usageEvent", "alert", "lateSuccess"] {
            for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2, 3") { lines.append("\(table) \(row)") }
        }
        return lines
    }
}

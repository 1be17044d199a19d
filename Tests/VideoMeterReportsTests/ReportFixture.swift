import Foundation
import GRDB
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// A ledger in a temporary directory with a month (2026-11) of known activity, built through the
/// ledger's public API with a manual clock.
///
/// Team `studio` (UTC, monthly limit 2.00, alerts 50/80/100):
/// - Nov 3  seedance-1.5-pro 5 s, 0.157500 posted (caller alice), price list v1
/// - Nov 3  grok-imagine-video 8 s, 0.420000 held, voided as timed_out (a 504)
/// - Nov 5  seedance-2.0 5 s, 0.787500 held, voided as failed
/// - Nov 10 seedance-1.5-pro 10 s held 0.315000, partial post 0.157500 (5 s billed, caller bob)
/// - Nov 12 seedance-1.5-pro 0.157500 held, expired by the sweeper, then reported as a late success
/// - Nov 20 seedance-1.5-pro 5 s, 0.126000 posted under price list v2 (caller alice)
/// - Nov 25 seedance-2.0 5 s, 0.787500 posted under v2 (caller alice): crosses the 50 % alert
/// - Nov 28 0.157500 held and left open; Nov 29 0.157500 held, sent, outcome unknown
///
/// Team `tokyo` (Asia/Tokyo, UTC+9), priced by a WorldRouter list the catalog does not know:
/// - 2026-10-31T15:30Z (Nov 1 00:30 in Tokyo) grok 720p 0.420000 posted
/// - 2026-11-15T12:00Z grok 480p 1 s with an image, 0.052000 posted
/// - 2026-11-16T12:00Z grok 720p voided as cancelled; 2026-11-20T12:00Z voided as rejected
/// - 2026-11-30T15:30Z (Dec 1 00:30 in Tokyo) seedance-1.5-pro 0.157500 posted
///
/// Price lists (``roundings``): `blockrun-2026-04` shows 3 decimals half-up (as in pricing/),
/// `blockrun-2026-11-15` (the price change of Nov 15) 2 decimals half-even; `worldrouter-2026-04` is
/// unknown, so its lines fall back to 2 decimals half-up.
struct ReportFixture {
    let directory: URL
    let path: String
    let clock: ManualWallClock
    let ledger: Ledger

    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    static let november = try! ReportMonth(parsing: "2026-11")

    static let roundings = InvoiceRoundings([
        "blockrun-2026-04": InvoiceRounding(scale: 3, rule: .halfUp),
        "blockrun-2026-11-15": InvoiceRounding(scale: 2, rule: .halfEven),
    ])

    init(empty: Bool = false) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-reports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("ledger.sqlite").path
        clock = ManualWallClock(Self.utc("2026-10-01T00:00:00Z"))
        ledger = try Ledger(path: path, clock: clock)
        try await ledger.createTeam(name: "studio")
        try await ledger.createTeam(name: "tokyo", timeZone: "Asia/Tokyo")
        try await ledger.setBudget(team: "studio", BudgetSettings(monthlyLimitMicro: 2_000_000, alertThresholds: [50, 80, 100]))
        try await ledger.setBudget(team: "tokyo", BudgetSettings(monthlyLimitMicro: 10_000_000))
        if !empty { try await record() }
    }

    var counter = Counter()
    final class Counter: @unchecked Sendable { var value = 0 }

    @discardableResult
    func hold(
        _ team: String, at time: String, provider: String = "blockrun", model: String, resolution: String = "720p",
        seconds: Int = 5, amount: MicroUSD, upstream: MicroUSD, version: String = "blockrun-2026-04",
        timeout: Int64 = 3600, caller: String? = nil
    ) async throws -> Int64 {
        clock.set(Self.utc(time))
        counter.value += 1
        let receipt = try await ledger.hold(HoldRequest(
            team: team, idempotencyKey: "key-\(counter.value)", fingerprint: "fp-\(counter.value)", amountMicro: amount,
            timeoutSeconds: timeout, provider: provider, model: model, resolution: resolution, seconds: seconds,
            catalogVersion: version, quoteJSON: "{}", upstreamCostMicro: upstream, marginMicro: amount - upstream, caller: caller
        ))
        return receipt.hold.id
    }

    func record() async throws {
        let v2 = "blockrun-2026-11-15"
        // studio
        var id = try await hold("studio", at: "2026-11-03T10:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 157_500, upstream: 150_000, caller: "alice")
        try await ledger.post(holdID: id, amount: 157_500)
        id = try await hold("studio", at: "2026-11-03T11:00:00Z", model: "xai/grok-imagine-video", seconds: 8, amount: 420_000, upstream: 400_000, caller: "alice")
        try await ledger.void(holdID: id, settlement: Settlement(status: .timedOut))
        id = try await hold("studio", at: "2026-11-05T09:00:00Z", model: "bytedance/seedance-2.0", amount: 787_500, upstream: 750_000, caller: "bob")
        try await ledger.void(holdID: id, settlement: Settlement(status: .failed))
        id = try await hold("studio", at: "2026-11-10T09:00:00Z", model: "bytedance/seedance-1.5-pro", seconds: 10, amount: 315_000, upstream: 300_000, caller: "bob")
        try await ledger.post(holdID: id, amount: 157_500, settlement: Settlement(billedSeconds: 5))
        id = try await hold("studio", at: "2026-11-12T09:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 157_500, upstream: 150_000, timeout: 60, caller: "bob")
        clock.set(Self.utc("2026-11-12T09:05:00Z"))
        try await ledger.expireDue()
        try await ledger.lateSuccess(holdID: id, amountMicro: 157_500, note: "task succeeded after the deadline")
        id = try await hold("studio", at: "2026-11-20T09:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 126_000, upstream: 120_000, version: v2, caller: "alice")
        try await ledger.post(holdID: id, amount: 126_000)
        id = try await hold("studio", at: "2026-11-25T09:00:00Z", model: "bytedance/seedance-2.0", amount: 787_500, upstream: 750_000, version: v2, caller: "alice")
        try await ledger.post(holdID: id, amount: 787_500)
        try await hold("studio", at: "2026-11-28T09:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 157_500, upstream: 150_000, version: v2, timeout: 86_400 * 60)
        id = try await hold("studio", at: "2026-11-29T09:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 157_500, upstream: 150_000, version: v2, timeout: 86_400 * 60)
        try await ledger.markSubmitted(holdID: id, upstreamTaskID: nil)
        try await ledger.markCall(holdID: id, .lost)
        // tokyo
        id = try await hold("tokyo", at: "2026-10-31T15:30:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        try await ledger.post(holdID: id, amount: 420_000)
        id = try await hold("tokyo", at: "2026-11-15T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", resolution: "480p", seconds: 1, amount: 52_000, upstream: 52_000, version: "worldrouter-2026-04")
        try await ledger.post(holdID: id, amount: 52_000)
        id = try await hold("tokyo", at: "2026-11-16T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        try await ledger.void(holdID: id, settlement: Settlement(status: .cancelled))
        id = try await hold("tokyo", at: "2026-11-20T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        try await ledger.void(holdID: id, settlement: Settlement(status: .rejected))
        id = try await hold("tokyo", at: "2026-11-30T15:30:00Z", model: "bytedance/seedance-1.5-pro", amount: 157_500, upstream: 150_000)
        try await ledger.post(holdID: id, amount: 157_500)
        clock.set(Self.utc("2026-12-02T00:00:00Z"))
    }

    func builder() throws -> MonthlyReportBuilder { try MonthlyReportBuilder(ledger: ledger, invoiceRoundings: Self.roundings) }

    /// The ledger's own posted total for a team and budget month, from its public usage-event API.
    func ledgerPosted(team: String, month: String) async throws -> MicroUSD {
        try await ledger.usageEvents(team: team).filter { $0.periodMonth == month && $0.outcome == "posted" }.reduce(0) { $0 + $1.chargedMicro }
    }
}

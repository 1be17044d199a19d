import Foundation
import VideoMeter
import VideoMeterLedger

/// A ledger with a known month of activity (2026-11, and October's daylight-saving change in Paris),
/// written through the contract into any store on a manual clock, so that the SQLite and the
/// PostgreSQL store hold the same rows with the same ids.
///
/// - `studio` (UTC, 2.00 a month, alerts 50/80/100): posts of 0.1575, a partial post of 0.1575
///   for 5 of 10 seconds, 0.7875 under price list v2 (crosses 50 %) and an xAI call of 0.30 with a
///   seller cost; a timed-out void; an expiry reported as a late success; an open hold; a call
///   whose outcome is unknown.
/// - `newyork` (America/New_York, where 1 November 2026 has 25 hours): a post on 31 October local
///   time (1 November in UTC), two on 1 November at 01:30 before and after the clocks go back, an
///   image call, a cancelled void, and a post on 30 November at 22:00 (1 December in UTC).
/// - `tokyo` (Asia/Tokyo): a post at 00:30 on 1 November local (31 October in UTC), one at 00:30
///   on 1 December local (30 November in UTC), a rejected void.
/// - `paris` (Europe/Paris): three posts around 25 October 2026 (25 hours there).
/// - `bare`: a team without a budget.
///
/// Charged in November by each team's budget month: studio 1.4025, newyork 0.5245, tokyo 0.42.
enum ReportLedger {
    static let novemberCharged: [String: MicroUSD] = ["studio": 1_402_500, "newyork": 524_500, "tokyo": 420_000]
    /// November in America/New_York for every team (`--timezone America/New_York`).
    static let novemberNewYorkCharged: [String: MicroUSD] = ["studio": 1_402_500, "newyork": 524_500, "tokyo": 157_500]

    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    static func fill(_ store: any LedgerStore, clock: ManualWallClock) async throws {
        clock.set(utc("2026-10-01T00:00:00Z"))
        for (name, zone) in [("studio", "UTC"), ("newyork", "America/New_York"), ("tokyo", "Asia/Tokyo"), ("paris", "Europe/Paris"), ("bare", "UTC")] {
            _ = try await store.createTeam(name: name, timeZone: zone)
        }
        _ = try await store.setBudget(team: "studio", BudgetSettings(monthlyLimitMicro: 2_000_000, alertThresholds: [50, 80, 100]))
        _ = try await store.setBudget(team: "newyork", BudgetSettings(monthlyLimitMicro: 10_000_000, dailyLimitMicro: .some(5_000_000)))
        _ = try await store.setBudget(team: "tokyo", BudgetSettings(monthlyLimitMicro: 10_000_000, creditTopUpMicro: 8_000_000))
        _ = try await store.setBudget(team: "paris", BudgetSettings(monthlyLimitMicro: 1_000_000))

        var counter = 0
        func hold(
            _ team: String, at time: String, provider: String = "blockrun", model: String = "bytedance/seedance-1.5-pro",
            resolution: String = "720p", seconds: Int = 5, images: Int = 0, amount: MicroUSD, upstream: MicroUSD,
            version: String = "blockrun-2026-04", timeout: Int64 = 3600, caller: String? = nil
        ) async throws -> Int64 {
            clock.set(utc(time))
            counter += 1
            return try await store.hold(HoldRequest(
                team: team, idempotencyKey: "key-\(counter)", fingerprint: "fp-\(counter)", amountMicro: amount, timeoutSeconds: timeout,
                provider: provider, model: model, resolution: resolution, seconds: seconds, imageCount: images, catalogVersion: version,
                quoteJSON: "{}", upstreamCostMicro: upstream, marginMicro: amount - upstream, caller: caller)).hold.id
        }
        let v2 = "blockrun-2026-11-15"

        // studio
        var id = try await hold("studio", at: "2026-11-03T10:00:00Z", amount: 157_500, upstream: 150_000, caller: "alice")
        _ = try await store.post(holdID: id, amount: 157_500, settlement: Settlement(latencyMs: 42_000, upstreamRequestID: "req-1"))
        id = try await hold("studio", at: "2026-11-03T11:00:00Z", model: "xai/grok-imagine-video", seconds: 8, amount: 420_000, upstream: 400_000, caller: "alice")
        _ = try await store.void(holdID: id, settlement: Settlement(status: .timedOut))
        id = try await hold("studio", at: "2026-11-10T09:00:00Z", seconds: 10, amount: 315_000, upstream: 300_000, caller: "bob")
        _ = try await store.post(holdID: id, amount: 157_500, settlement: Settlement(billedSeconds: 5))
        id = try await hold("studio", at: "2026-11-12T09:00:00Z", amount: 157_500, upstream: 150_000, timeout: 60, caller: "bob")
        clock.set(utc("2026-11-12T09:05:00Z"))
        try await store.expireDue()
        _ = try await store.lateSuccess(holdID: id, amountMicro: 157_500, upstreamRequestID: "late-1", note: "succeeded after the deadline")
        id = try await hold("studio", at: "2026-11-25T09:00:00Z", model: "bytedance/seedance-2.0", amount: 787_500, upstream: 750_000, version: v2, caller: "alice")
        _ = try await store.post(holdID: id, amount: 787_500)
        id = try await hold("studio", at: "2026-11-30T23:30:00Z", provider: "xai", model: "grok-imagine-video", seconds: 6, amount: 300_000, upstream: 280_000, version: "xai-2026-04")
        try await store.markSubmitted(holdID: id, upstreamTaskID: "task-8", upstreamRequestID: "req-8")
        _ = try await store.post(holdID: id, amount: 300_000, settlement: Settlement(status: .succeeded, latencyMs: 61_000, sellerCostTicks: 2_900_000_000))

        // newyork
        id = try await hold("newyork", at: "2026-11-01T03:30:00Z", amount: 420_000, upstream: 400_000)
        _ = try await store.post(holdID: id, amount: 420_000)
        id = try await hold("newyork", at: "2026-11-01T05:30:00Z", amount: 210_000, upstream: 200_000, caller: "carol")
        _ = try await store.post(holdID: id, amount: 210_000)
        id = try await hold("newyork", at: "2026-11-01T06:30:00Z", amount: 210_000, upstream: 200_000, caller: "carol")
        _ = try await store.post(holdID: id, amount: 105_000, settlement: Settlement(billedSeconds: 3))
        id = try await hold("newyork", at: "2026-11-15T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", resolution: "480p", seconds: 1, images: 1, amount: 52_000, upstream: 52_000, version: "worldrouter-2026-04")
        _ = try await store.post(holdID: id, amount: 52_000)
        id = try await hold("newyork", at: "2026-11-16T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        _ = try await store.void(holdID: id, settlement: Settlement(status: .cancelled))
        id = try await hold("newyork", at: "2026-12-01T03:00:00Z", amount: 157_500, upstream: 150_000, caller: "dave, \"the intern\"")
        _ = try await store.post(holdID: id, amount: 157_500)

        // tokyo
        id = try await hold("tokyo", at: "2026-10-31T15:30:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        _ = try await store.post(holdID: id, amount: 420_000)
        id = try await hold("tokyo", at: "2026-11-30T15:30:00Z", amount: 157_500, upstream: 150_000)
        _ = try await store.post(holdID: id, amount: 157_500)
        id = try await hold("tokyo", at: "2026-11-20T12:00:00Z", provider: "worldrouter", model: "grok-imagine-video", seconds: 6, amount: 420_000, upstream: 400_000, version: "worldrouter-2026-04")
        _ = try await store.void(holdID: id, settlement: Settlement(status: .rejected))

        // paris, around the end of summer time on 25 October
        for (time, amount) in [("2026-10-25T00:30:00Z", MicroUSD(100_000)), ("2026-10-25T22:30:00Z", 200_000), ("2026-10-25T23:30:00Z", 50_000)] {
            id = try await hold("paris", at: time, amount: amount, upstream: amount * 20 / 21)
            _ = try await store.post(holdID: id, amount: amount)
        }

        // Left open: a hold never answered, and a call sent whose outcome is unknown.
        _ = try await hold("studio", at: "2026-11-28T09:00:00Z", amount: 157_500, upstream: 150_000, version: v2, timeout: 86_400 * 60)
        id = try await hold("studio", at: "2026-11-29T09:00:00Z", amount: 157_500, upstream: 150_000, version: v2, timeout: 86_400 * 60)
        try await store.markSubmitted(holdID: id, upstreamTaskID: nil)
        try await store.markCall(holdID: id, .lost)
        clock.set(utc("2026-12-02T00:00:00Z"))
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// The month-end forecast: the pure rule on chosen figures, and through the ledger on a manual
/// clock (the `projected_overrun` alert, a daylight-saving month in a far zone).
@Suite("Budget forecast")
struct ForecastTests {
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 24 * hour

    static func ms(_ iso: String) -> Int64 { Int64(instant(iso).timeIntervalSince1970 * 1000) }

    @Test func midMonth() {
        // Six days of window, 1.00 a day; fifteen days left.
        let forecast = BudgetForecast(
            now: Self.ms("2026-11-16T00:00:00Z"), monthEnd: Self.ms("2026-12-01T00:00:00Z"),
            windowStart: Self.ms("2026-11-10T00:00:00Z"), postedMicro: 15_000_000, windowPostedMicro: 6_000_000,
            monthlyLimitMicro: 20_000_000)
        #expect(forecast.projectedMonthEndMicro == 30_000_000)
        #expect(forecast.ratePerDayMicro == 1_000_000)
        #expect(forecast.projectsOverrun)
        // 5.00 left at 1.00 a day: five days on.
        #expect(forecast.monthlyExhaustedAt == Self.ms("2026-11-21T00:00:00Z"))
        #expect(forecast.document(zoneIdentifier: "UTC").exhaustedOn == "2026-11-21")
    }

    @Test func firstHourOfTheMonthDividesByAtLeastAnHour() {
        let forecast = BudgetForecast(
            now: Self.ms("2026-11-01T00:30:00Z"), monthEnd: Self.ms("2026-12-01T00:00:00Z"),
            windowStart: Self.ms("2026-11-01T00:00:00Z"), postedMicro: 100_000, windowPostedMicro: 100_000,
            monthlyLimitMicro: 100_000_000)
        // 0.10 per hour (not per half hour) for the 719.5 hours left.
        #expect(forecast.projectedMonthEndMicro == 100_000 + 71_950_000)
        #expect(forecast.ratePerDayMicro == 2_400_000)
        #expect(forecast.monthlyExhaustedAt == nil)
        #expect(!forecast.projectsOverrun)
    }

    @Test func lastHourOfTheMonth() {
        // 167 hours of window at 0.10 an hour; one hour left.
        let forecast = BudgetForecast(
            now: Self.ms("2026-11-30T23:00:00Z"), monthEnd: Self.ms("2026-12-01T00:00:00Z"),
            windowStart: Self.ms("2026-11-24T00:00:00Z"), postedMicro: 50_000_000, windowPostedMicro: 16_700_000,
            monthlyLimitMicro: 50_050_000, dailyLimitMicro: 2_500_000, dayPostedMicro: 2_420_000, dayEnd: Self.ms("2026-12-01T00:00:00Z"))
        #expect(forecast.projectedMonthEndMicro == 50_100_000)
        // 0.05 left of the month at 0.10 an hour: half an hour on; 0.08 of the day: 48 minutes on.
        #expect(forecast.monthlyExhaustedAt == Self.ms("2026-11-30T23:30:00Z"))
        #expect(forecast.dailyExhaustedAt == Self.ms("2026-11-30T23:48:00Z"))
    }

    @Test func noSpendExhaustsNothingAndAReachedLimitIsExhaustedNow() {
        let idle = BudgetForecast(
            now: Self.ms("2026-11-16T00:00:00Z"), monthEnd: Self.ms("2026-12-01T00:00:00Z"),
            windowStart: Self.ms("2026-11-10T00:00:00Z"), postedMicro: 4_000_000, windowPostedMicro: 0, monthlyLimitMicro: 5_000_000)
        #expect(idle.projectedMonthEndMicro == 4_000_000)
        #expect(idle.monthlyExhaustedAt == nil)
        let spent = BudgetForecast(
            now: Self.ms("2026-11-16T00:00:00Z"), monthEnd: Self.ms("2026-12-01T00:00:00Z"),
            windowStart: Self.ms("2026-11-10T00:00:00Z"), postedMicro: 5_000_000, windowPostedMicro: 0, monthlyLimitMicro: 5_000_000)
        #expect(spent.monthlyExhaustedAt == Self.ms("2026-11-16T00:00:00Z"))
        #expect(!spent.projectsOverrun, "reaching the limit exactly is not passing it")
    }

    func post(_ fixture: LedgerFixture, _ key: String, _ amount: MicroUSD, at iso: String) async throws -> [Alert] {
        fixture.clock.set(instant(iso))
        let receipt = try await fixture.ledger.hold(request(key, amount: amount))
        try await fixture.ledger.post(holdID: receipt.hold.id, amount: amount)
        return try await fixture.ledger.alerts(team: "acme")
    }

    @Test func projectedOverrunIsRecordedOncePerPeriod() async throws {
        let fixture = try LedgerFixture(at: instant("2026-11-10T12:00:00Z"))
        try await fixture.team(monthly: 3_000_000)
        // 0.20 on Nov 10: 0.20 + 0.20 x 492 h / 156 h = 0.830769, under 3.00.
        var alerts = try await post(fixture, "a", 200_000, at: "2026-11-10T12:00:00Z")
        #expect(alerts.isEmpty)
        // 0.70 more on Nov 16 00:00: window Nov 10-16 (144 h) holds 0.90; 360 h left:
        // 0.90 + 0.90 x 360 / 144 = 3.15, past 3.00.
        alerts = try await post(fixture, "b", 700_000, at: "2026-11-16T00:00:00Z")
        #expect(alerts.map(\.kind) == [.projectedOverrun])
        #expect(alerts.first?.projectedMicro == 3_150_000)
        #expect(alerts.first?.spentMicro == 900_000)
        #expect(alerts.first?.periodMonth == "2026-11")
        // Another posting: no second projected_overrun this month.
        alerts = try await post(fixture, "c", 100_000, at: "2026-11-16T01:00:00Z")
        #expect(alerts.map(\.kind) == [.projectedOverrun])

        let status = try await fixture.ledger.budgetStatus(team: "acme")
        // 1.00 over 145 h, 359 h left: 1.00 + 2.475862 (half up).
        #expect(status.forecast.projectedMonthEndMicro == 3_475_862)
        // 2.00 left at 1.00 per 145 h: 290 h on, Nov 28 03:00.
        #expect(status.forecast.monthlyExhaustedAt == Self.ms("2026-11-28T03:00:00Z"))
        #expect(status.forecast.document(zoneIdentifier: "UTC").exhaustedOn == "2026-11-28")
        #expect(status.forecast.windowStart == Self.ms("2026-11-10T00:00:00Z"))
        // A forecast holds and charges nothing; the ledger stays consistent.
        #expect(status.monthPendingMicro == 0)
        #expect(status.monthPostedMicro == 1_000_000)
        #expect(try await fixture.ledger.verify().problems.isEmpty)
    }

    @Test func aDaylightSavingMonthInAFarZone() async throws {
        // Pacific/Auckland moves to daylight saving on Sunday 27 September 2026 (02:00 -> 03:00):
        // that local day has 23 hours.
        let fixture = try LedgerFixture(at: instant("2026-09-05T00:00:00Z"))
        try await fixture.team(zone: "Pacific/Auckland", monthly: 10_000_000)
        _ = try await post(fixture, "early", 1_000_000, at: "2026-09-05T00:00:00Z")  // outside the window
        _ = try await post(fixture, "recent", 1_550_000, at: "2026-09-25T00:00:00Z") // Sep 25 in Auckland
        fixture.clock.set(instant("2026-09-29T23:00:00Z"))                           // Sep 30 12:00 NZDT
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        let forecast = status.forecast
        // The window starts at Sep 24 00:00 NZST (Sep 23 12:00Z): 155 hours to now, not 156.
        #expect(forecast.windowStart == Self.ms("2026-09-23T12:00:00Z"))
        #expect(forecast.windowPostedMicro == 1_550_000)
        #expect(forecast.ratePerDayMicro == 240_000)
        // 12 hours left (month ends Oct 1 00:00 NZDT = Sep 30 11:00Z) at 0.01 an hour.
        #expect(forecast.monthEnd == Self.ms("2026-09-30T11:00:00Z"))
        #expect(forecast.projectedMonthEndMicro == 2_670_000)
        #expect(forecast.monthlyExhaustedAt == nil)
        #expect(forecast.document(zoneIdentifier: "Pacific/Auckland").windowStart == "2026-09-24T00:00:00+12:00")
    }
}

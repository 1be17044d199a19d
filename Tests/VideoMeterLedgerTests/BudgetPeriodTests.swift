import Foundation
import Testing
@testable import VideoMeterLedger

@Suite struct BudgetPeriodTests {
    /// The first day of the year in `zone` that starts after midnight (daylight saving begins at 00:00).
    func dayStartingAfterMidnight(in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var day = calendar.date(from: DateComponents(year: 2026, month: 1, day: 1, hour: 12))!
        for _ in 0..<366 {
            if calendar.component(.hour, from: calendar.startOfDay(for: day)) != 0 { return day }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        return nil
    }

    @Test func aDayThatStartsAt1AmEndsAtTheNextMidnightEvenWhenCached() throws {
        let zone = try #require(TimeZone(identifier: "America/Santiago"))
        let noon = try #require(dayStartingAfterMidnight(in: zone))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        // The next midnight: the start of the day that contains noon tomorrow.
        let nextDay = calendar.startOfDay(for: noon.addingTimeInterval(86_400))
        #expect(calendar.component(.hour, from: nextDay) == 0)
        let halfPastMidnight = nextDay.addingTimeInterval(1800)
        let cache = PeriodCache()
        // Warm the cache with the short day, then ask about 00:30 on the day after it.
        let short = cache.period(at: milliseconds(noon), zoneIdentifier: zone.identifier)
        let after = cache.period(at: milliseconds(halfPastMidnight), zoneIdentifier: zone.identifier)
        #expect(short.dayEnd == milliseconds(nextDay))
        #expect(after.day != short.day)
        #expect(after == BudgetPeriod.containing(milliseconds(halfPastMidnight), in: zone))
    }
}

import Foundation

/// The calendar month and day that contain an instant, in a team's time zone.
public struct BudgetPeriod: Sendable, Equatable {
    /// `2026-11`
    public var month: String
    /// `2026-11-21`
    public var day: String
    /// Milliseconds since 1970, inclusive start and exclusive end.
    public var monthStart: Int64
    public var monthEnd: Int64
    public var dayStart: Int64
    public var dayEnd: Int64

    /// The period containing `instant` (milliseconds since 1970) in `zone`.
    public static func containing(_ instant: Int64, in zone: TimeZone) -> BudgetPeriod {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let date = Date(timeIntervalSince1970: TimeInterval(instant) / 1000)
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let year = parts.year!, month = parts.month!, day = parts.day!
        // The calendar's own intervals: where daylight saving starts at midnight (Santiago,
        // Havana, Beirut) a day begins at 01:00 and "start + 1 day" would swallow the first hour
        // of the next one.
        let monthInterval = calendar.dateInterval(of: .month, for: date)!
        let dayInterval = calendar.dateInterval(of: .day, for: date)!
        return BudgetPeriod(
            month: String(format: "%04d-%02d", year, month),
            day: String(format: "%04d-%02d-%02d", year, month, day),
            monthStart: milliseconds(monthInterval.start), monthEnd: milliseconds(monthInterval.end),
            dayStart: milliseconds(dayInterval.start), dayEnd: milliseconds(dayInterval.end)
        )
    }

    func contains(_ instant: Int64) -> Bool { instant >= dayStart && instant < dayEnd }
}

/// Milliseconds since 1970, rounded down: how the ledger stores instants.
func milliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
}

/// Remembers the current period per time zone, so a hold does not recompute calendars.
public final class PeriodCache: @unchecked Sendable {
    private let lock = NSLock()
    private var periods: [String: BudgetPeriod] = [:]
    private var zones: [String: TimeZone] = [:]

    public init() {}

    /// The period containing `instant` (milliseconds since 1970) in the zone (UTC if unknown).
    public func period(at instant: Int64, zoneIdentifier: String) -> BudgetPeriod {
        lock.lock(); defer { lock.unlock() }
        if let cached = periods[zoneIdentifier], cached.contains(instant) { return cached }
        let zone = zones[zoneIdentifier] ?? TimeZone(identifier: zoneIdentifier) ?? TimeZone(identifier: "UTC")!
        zones[zoneIdentifier] = zone
        let period = BudgetPeriod.containing(instant, in: zone)
        periods[zoneIdentifier] = period
        return period
    }
}

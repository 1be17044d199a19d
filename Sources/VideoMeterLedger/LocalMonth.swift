import Foundation

/// A calendar month in one time zone: the instants where it starts and ends, and its local days.
///
/// The boundaries are computed by Foundation's Gregorian calendar in `timeZone`, so a month that
/// contains a daylight-saving change has a 23- or 25-hour day, exactly as the zone's clocks show it.
/// The reports (`ReportPeriod`) and every store's usage aggregates use this one computation.
public struct LocalMonth: Sendable, Hashable {
    /// One local calendar day, as the instants of its first and past-its-last second.
    public struct Day: Sendable, Hashable {
        /// The local date, `YYYY-MM-DD`.
        public let date: String
        /// Seconds since 1970 of local midnight at the start of the day.
        public let start: Int64
        /// Seconds since 1970 of local midnight at the start of the next day (exclusive).
        public let end: Int64
    }

    public let year: Int
    public let month: Int
    public let timeZone: TimeZone
    /// Every local day of the month, in order.
    public let days: [Day]

    /// `month` is 1...12, `year` 1...9999.
    public init(year: Int, month: Int, timeZone: TimeZone) {
        precondition((1...9999).contains(year) && (1...12).contains(month), "no month \(year)-\(month)")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        func midnight(year: Int, month: Int, day: Int) -> Int64 {
            let components = DateComponents(year: year, month: month, day: day, hour: 0, minute: 0, second: 0)
            guard let date = calendar.date(from: components) else {
                preconditionFailure("the Gregorian calendar has no \(year)-\(month)-\(day)")
            }
            return Int64(date.timeIntervalSince1970.rounded(.down))
        }
        let dayCount = calendar.range(
            of: .day, in: .month, for: Date(timeIntervalSince1970: TimeInterval(midnight(year: year, month: month, day: 15)))
        )?.count ?? 30
        let text = Self.text(year: year, month: month)
        var days: [Day] = []
        for day in 1...dayCount {
            let start = midnight(year: year, month: month, day: day)
            let end = day == dayCount
                ? (month == 12 ? midnight(year: year + 1, month: 1, day: 1) : midnight(year: year, month: month + 1, day: 1))
                : midnight(year: year, month: month, day: day + 1)
            days.append(Day(date: "\(text)-\((day < 10 ? "0" : "") + String(day))", start: start, end: end))
        }
        self.year = year
        self.month = month
        self.timeZone = timeZone
        self.days = days
    }

    /// `YYYY-MM`.
    public var text: String { Self.text(year: year, month: month) }
    /// Seconds since 1970 of local midnight on the first of the month (inclusive).
    public var start: Int64 { days[0].start }
    /// Seconds since 1970 of local midnight on the first of the next month (exclusive).
    public var end: Int64 { days[days.count - 1].end }
    /// Milliseconds since 1970 of ``start``, as the ledger stores instants.
    public var startMilliseconds: Int64 { start * 1000 }
    /// Milliseconds since 1970 of ``end``.
    public var endMilliseconds: Int64 { end * 1000 }

    /// The local day that contains `instant` (seconds since 1970), or `nil` outside the month.
    public func dayIndex(of instant: Int64) -> Int? {
        guard instant >= start, instant < end else { return nil }
        var low = 0
        var high = days.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if days[middle].start <= instant { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The index of a local date (`YYYY-MM-DD`, as the ledger stamps `periodDay`); a date outside
    /// the month (a team whose zone changed after the call) goes to the nearest end.
    public func dayIndex(date: String) -> Int {
        if date.count == 10, date.hasPrefix(text + "-"), let day = Int(date.suffix(2)), day >= 1, day <= days.count {
            return day - 1
        }
        return date < days[0].date ? 0 : days.count - 1
    }

    static func text(year: Int, month: Int) -> String {
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-" + (month < 10 ? "0" : "") + String(month)
    }
}

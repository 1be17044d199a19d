import Foundation
import VideoMeterLedger

/// A calendar month, `YYYY-MM`, independent of any time zone.
public struct ReportMonth: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int

    public init?(year: Int, month: Int) {
        guard (1...9999).contains(year), (1...12).contains(month) else { return nil }
        self.year = year
        self.month = month
    }

    /// Parses exactly `YYYY-MM` (four digits, a hyphen, two digits, month 01...12).
    public init(parsing text: String) throws(ReportError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let year = Int(parts[0]), let month = Int(parts[1]),
              let parsed = ReportMonth(year: year, month: month)
        else { throw .invalidMonth(text) }
        self = parsed
    }

    public var description: String {
        let yearText = String(year)
        let monthText = String(month)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-"
            + (monthText.count == 1 ? "0" : "") + monthText
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.year, lhs.month) < (rhs.year, rhs.month)
    }
}

/// One local calendar day of a report period, as the UTC instants of its first and past-its-last second.
public struct ReportDay: Sendable, Hashable {
    /// The local date, `YYYY-MM-DD`.
    public let date: String
    /// Seconds since 1970 (UTC) of local midnight at the start of the day.
    public let start: Int64
    /// Seconds since 1970 (UTC) of local midnight at the start of the next day (exclusive).
    public let end: Int64
}

/// A month in one time zone: the UTC instants where it starts and ends, and its local days.
///
/// The boundaries are computed by Foundation's calendar in `timeZone` (``LocalMonth``, as the ledger's
/// usage aggregates compute them), so a month that contains a
/// daylight-saving change has a 23- or 25-hour day, exactly as the team's clock shows it.
public struct ReportPeriod: Sendable, Hashable {
    public let month: ReportMonth
    public let timeZone: TimeZone
    /// Seconds since 1970 (UTC) of local midnight on the first of the month (inclusive).
    public let start: Int64
    /// Seconds since 1970 (UTC) of local midnight on the first of the next month (exclusive).
    public let end: Int64
    /// Every local day of the month, in order.
    public let days: [ReportDay]

    public init(month: ReportMonth, timeZone: TimeZone) {
        self.init(LocalMonth(year: month.year, month: month.month, timeZone: timeZone), month: month)
    }

    /// The period of a month the ledger computed (``LocalMonth``, the one computation both use).
    init(_ local: LocalMonth, month: ReportMonth) {
        self.month = month
        self.timeZone = local.timeZone
        self.days = local.days.map { ReportDay(date: $0.date, start: $0.start, end: $0.end) }
        self.start = local.start
        self.end = local.end
    }

    /// The local day that contains `instant` (seconds since 1970), or `nil` outside the period.
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

    /// Resolves an IANA identifier (`UTC`, `Europe/Paris`); abbreviations such as `CET` are refused
    /// because they name no rules for daylight-saving time.
    public static func timeZone(named identifier: String) throws(ReportError) -> TimeZone {
        guard identifier == "UTC" || identifier == "GMT" || TimeZone.knownTimeZoneIdentifiers.contains(identifier),
              let zone = TimeZone(identifier: identifier)
        else { throw .invalidTimeZone(identifier) }
        return zone
    }
}

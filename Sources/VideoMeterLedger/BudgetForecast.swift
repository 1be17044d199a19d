import Foundation
import VideoMeter

/// Where a team's posted spend is heading by the end of its budget month: a value computed from
/// the month's balances, with no I/O (the ledger, `budget show`, `GET /v1/budget` and the report
/// all build it the same way). A forecast holds and charges nothing.
///
/// **Run rate.** The posted spend of the last seven local days of the month (today up to now
/// included; days of the previous month are not) divided by the time those days cover so far, with
/// at least one hour as the divisor so that the first minutes of a month do not project a burst
/// over thirty days. Recent days therefore count fully and older days of the month not at all: a
/// team that changes pace is projected at its new pace within a week. Spend counts on the local day
/// its hold was granted, as the budgets count it.
///
/// **Projection.** `posted + rate x (month end - now)`, in integer micro-dollars rounded half up.
/// **Exhaustion.** The instant at which `posted + rate x t` reaches the monthly limit, if that is
/// before the month ends (now, when the limit is already reached); the same for the daily limit
/// within today. A zero rate exhausts nothing.
public struct BudgetForecast: Sendable, Equatable {
    /// Milliseconds since 1970.
    public var now: Int64
    public var monthEnd: Int64
    /// The start of the run-rate window (the first of its local days, not before the month).
    public var windowStart: Int64
    /// Posted spend of the month so far, and of the window.
    public var postedMicro: MicroUSD
    public var windowPostedMicro: MicroUSD
    /// The month-end projection of posted spend.
    public var projectedMonthEndMicro: MicroUSD
    /// The run rate per 24 hours, rounded half up.
    public var ratePerDayMicro: MicroUSD
    public var monthlyLimitMicro: MicroUSD?
    /// When the monthly budget runs out at the run rate, before the month ends; nil otherwise.
    public var monthlyExhaustedAt: Int64?
    public var dailyLimitMicro: MicroUSD?
    /// When today's daily budget runs out at the run rate, before the day ends; nil otherwise.
    public var dailyExhaustedAt: Int64?

    /// The local days of the run-rate window, today included.
    public static let windowDays = 7
    /// The smallest divisor of the run rate: one hour.
    public static let minimumWindowMilliseconds: Int64 = 3_600_000

    public init(
        now: Int64, monthEnd: Int64, windowStart: Int64, postedMicro: MicroUSD, windowPostedMicro: MicroUSD,
        monthlyLimitMicro: MicroUSD?, dailyLimitMicro: MicroUSD? = nil, dayPostedMicro: MicroUSD = 0, dayEnd: Int64? = nil
    ) {
        self.now = now
        self.monthEnd = monthEnd
        self.windowStart = windowStart
        self.postedMicro = postedMicro
        self.windowPostedMicro = windowPostedMicro
        self.monthlyLimitMicro = monthlyLimitMicro
        self.dailyLimitMicro = dailyLimitMicro
        let elapsed = Int128(max(now - windowStart, Self.minimumWindowMilliseconds))
        let spent = Int128(max(windowPostedMicro, 0))
        let remaining = Int128(max(monthEnd - now, 0))
        self.projectedMonthEndMicro = postedMicro + MicroUSD(Self.divideRoundingHalfUp(spent * remaining, elapsed))
        self.ratePerDayMicro = MicroUSD(Self.divideRoundingHalfUp(spent * 86_400_000, elapsed))

        /// The instant at which `already + rate x t` reaches `limit`, if before `end`.
        func exhaustion(limit: MicroUSD, already: MicroUSD, end: Int64) -> Int64? {
            if already >= limit { return now }
            guard spent > 0 else { return nil }
            let needed = Int128(limit - already) * elapsed
            let wait = (needed + spent - 1) / spent
            guard wait < Int128(end - now) else { return nil }
            return now + Int64(wait)
        }
        self.monthlyExhaustedAt = monthlyLimitMicro.flatMap { exhaustion(limit: $0, already: postedMicro, end: monthEnd) }
        self.dailyExhaustedAt = dailyLimitMicro.flatMap { limit in
            dayEnd.flatMap { exhaustion(limit: limit, already: dayPostedMicro, end: $0) }
        }
    }

    /// Whether the projection passes the monthly limit: what raises a `projected_overrun` alert.
    public var projectsOverrun: Bool {
        guard let limit = monthlyLimitMicro else { return false }
        return projectedMonthEndMicro > limit
    }

    static func divideRoundingHalfUp(_ numerator: Int128, _ denominator: Int128) -> Int128 {
        (numerator * 2 + denominator) / (denominator * 2)
    }
}

/// The run-rate window of a forecast in a zone: today's period and the start of the seven local
/// days ending today (clipped to the month). Memoised per zone and day: the calendar is consulted
/// once a day per zone, not at every posting.
public final class ForecastWindows: @unchecked Sendable {
    public struct Window: Sendable {
        public var period: BudgetPeriod
        public var start: Int64
        /// The local date (`YYYY-MM-DD`) of the window's first day.
        public var firstDay: String
    }

    /// The one memo every store shares.
    public static let shared = ForecastWindows()

    private let lock = NSLock()
    private var windows: [String: Window] = [:]

    public func window(at instant: Int64, zoneIdentifier: String) -> Window {
        lock.lock()
        if let cached = windows[zoneIdentifier], cached.period.contains(instant) {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let zone = TimeZone(identifier: zoneIdentifier) ?? TimeZone(identifier: "UTC")!
        let period = BudgetPeriod.containing(instant, in: zone)
        var start = period.dayStart
        var firstDay = period.day
        for _ in 1..<BudgetForecast.windowDays where start > period.monthStart {
            let previous = BudgetPeriod.containing(start - 1, in: zone)
            start = previous.dayStart
            firstDay = previous.day
        }
        let window = Window(period: period, start: start, firstDay: firstDay)
        lock.lock()
        windows[zoneIdentifier] = window
        lock.unlock()
        return window
    }
}

extension BudgetForecast {
    /// The forecast as `budget show --json` and `GET /v1/budget` print it (`forecast`): amounts as
    /// decimal strings, instants as ISO 8601 with the team's offset, dates in the team's zone, and
    /// `null` where nothing runs out.
    public struct Document: Encodable, Sendable, Equatable {
        public var projectedMonthEnd: String
        public var ratePerDay: String
        public var windowStart: String
        public var projectsOverrun: Bool
        public var exhaustedOn: String?
        public var exhaustedAt: String?
        public var dailyExhaustedAt: String?

        enum CodingKeys: String, CodingKey {
            case projectedMonthEnd = "projected_month_end"
            case ratePerDay = "run_rate_per_day"
            case windowStart = "window_start"
            case projectsOverrun = "projects_overrun"
            case exhaustedOn = "exhausted_on"
            case exhaustedAt = "exhausted_at"
            case dailyExhaustedAt = "daily_exhausted_at"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(projectedMonthEnd, forKey: .projectedMonthEnd)
            try container.encode(ratePerDay, forKey: .ratePerDay)
            try container.encode(windowStart, forKey: .windowStart)
            try container.encode(projectsOverrun, forKey: .projectsOverrun)
            try container.encode(exhaustedOn, forKey: .exhaustedOn)
            try container.encode(exhaustedAt, forKey: .exhaustedAt)
            try container.encode(dailyExhaustedAt, forKey: .dailyExhaustedAt)
        }
    }

    /// The document in `zoneIdentifier` (the team's zone).
    public func document(zoneIdentifier: String) -> Document {
        let zone = TimeZone(identifier: zoneIdentifier) ?? TimeZone(identifier: "UTC")!
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = zone
        func iso(_ instant: Int64) -> String { formatter.string(from: Date(timeIntervalSince1970: TimeInterval(instant / 1000))) }
        return Document(
            projectedMonthEnd: Money.format(micro: projectedMonthEndMicro), ratePerDay: Money.format(micro: ratePerDayMicro),
            windowStart: iso(windowStart), projectsOverrun: projectsOverrun,
            exhaustedOn: monthlyExhaustedAt.map { BudgetPeriod.containing($0, in: zone).day },
            exhaustedAt: monthlyExhaustedAt.map(iso), dailyExhaustedAt: dailyExhaustedAt.map(iso))
    }
}

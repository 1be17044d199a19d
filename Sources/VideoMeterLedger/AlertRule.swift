import VideoMeter

/// Which alerts a posting may raise, as a value: the thresholds of the monthly limit that the
/// month's posted spend has reached, and a `projected_overrun` when the month-end forecast passes
/// the limit. No I/O; a store records each candidate once per team, month, kind and threshold
/// (an insert that ignores an existing row) and logs the ones it inserted.
public struct AlertRule: Sendable, Equatable {
    /// An alert a store should record unless the team already has it this month.
    public struct Candidate: Sendable, Equatable {
        public var kind: Alert.Kind
        public var thresholdPercent: Int
        public var projectedMicro: MicroUSD?
    }

    public var limitMicro: MicroUSD
    /// Percentages of the monthly limit, in any order.
    public var thresholds: [Int]

    public init(limitMicro: MicroUSD, thresholds: [Int]) {
        self.limitMicro = limitMicro
        self.thresholds = thresholds
    }

    /// The thresholds as the ledger stores them: `"50,80,100"`.
    public init(limitMicro: MicroUSD, storedThresholds: String) {
        self.init(limitMicro: limitMicro, thresholds: Self.thresholds(stored: storedThresholds))
    }

    /// `"50,80,100"` as integers (what is not a number is skipped).
    public static func thresholds(stored: String) -> [Int] {
        stored.split(separator: ",").compactMap { Int($0) }
    }

    /// Whether `spentMicro` has reached `threshold` % of `limitMicro`, in integers
    /// (`spent * 100 >= limit * threshold`); false where the products would overflow.
    public static func reached(spentMicro: MicroUSD, limitMicro: MicroUSD, threshold: Int64) -> Bool {
        let (lhs, o1) = spentMicro.multipliedReportingOverflow(by: 100)
        let (rhs, o2) = limitMicro.multipliedReportingOverflow(by: threshold)
        return !o1 && !o2 && lhs >= rhs
    }

    /// The alerts a posting that brought the month's posted spend to `spentMicro` may raise, lowest
    /// threshold first, then the forecast's; nothing without a positive limit. `forecast` is the
    /// month in progress's (nil when the posting falls into an ended month: nothing to project).
    public func candidates(spentMicro: MicroUSD, forecast: BudgetForecast?) -> [Candidate] {
        guard limitMicro > 0 else { return [] }
        var found: [Candidate] = []
        for threshold in thresholds.sorted() {
            guard Self.reached(spentMicro: spentMicro, limitMicro: limitMicro, threshold: MicroUSD(threshold)) else { break }
            found.append(Candidate(kind: .threshold, thresholdPercent: threshold, projectedMicro: nil))
        }
        // The projection only rises when spend is posted, so checking at each posting catches the
        // first time it passes the limit.
        if let forecast, forecast.projectsOverrun {
            found.append(Candidate(kind: .projectedOverrun, thresholdPercent: 100, projectedMicro: forecast.projectedMonthEndMicro))
        }
        return found
    }
}

import VideoMeter

/// The budget check of a new hold as a value: a team's limits and what each has used, and the
/// decision for an amount. No I/O; every store reads the figures inside its own write transaction
/// (with the rows it reads locked against other writers) and asks this type, so the limits refuse
/// in the same order, with the same available amounts, on SQLite and on PostgreSQL.
///
/// Order of precedence (``LedgerError``): monthly, then daily (when set), then credit (when the team
/// has credit). A hold fits a limit when `used + amount <= limit`, used being posted + pending.
public struct BudgetAdmission: Sendable, Equatable {
    public var monthlyLimitMicro: MicroUSD
    public var dailyLimitMicro: MicroUSD?
    /// All prepaid credit added; `nil`: the team has no credit limit.
    public var creditLimitMicro: MicroUSD?
    /// Posted + pending in the team's current month, day, and against its credit.
    public var monthUsedMicro: MicroUSD
    public var dayUsedMicro: MicroUSD
    public var creditUsedMicro: MicroUSD

    public init(
        monthlyLimitMicro: MicroUSD, dailyLimitMicro: MicroUSD?, creditLimitMicro: MicroUSD?,
        monthUsedMicro: MicroUSD, dayUsedMicro: MicroUSD, creditUsedMicro: MicroUSD
    ) {
        self.monthlyLimitMicro = monthlyLimitMicro
        self.dailyLimitMicro = dailyLimitMicro
        self.creditLimitMicro = creditLimitMicro
        self.monthUsedMicro = monthUsedMicro
        self.dayUsedMicro = dayUsedMicro
        self.creditUsedMicro = creditUsedMicro
    }

    /// Whether a granted hold also counts against the team's credit.
    public var countsAgainstCredit: Bool { creditLimitMicro != nil }

    /// Admits `amountMicro`, or throws the first limit it would pass (`budget_exceeded` with that
    /// limit, its amount and what was still available under it).
    public func admit(_ amountMicro: MicroUSD) throws(LedgerError) {
        let monthAvailable = monthlyLimitMicro - monthUsedMicro
        guard amountMicro <= monthAvailable else {
            throw .budgetExceeded(limit: .monthly, limitMicro: monthlyLimitMicro, availableMicro: monthAvailable)
        }
        if let daily = dailyLimitMicro {
            let dayAvailable = daily - dayUsedMicro
            guard amountMicro <= dayAvailable else {
                throw .budgetExceeded(limit: .daily, limitMicro: daily, availableMicro: dayAvailable)
            }
        }
        if let credit = creditLimitMicro {
            let creditAvailable = credit - creditUsedMicro
            guard amountMicro <= creditAvailable else {
                throw .budgetExceeded(limit: .credit, limitMicro: credit, availableMicro: creditAvailable)
            }
        }
    }
}

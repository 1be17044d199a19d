import Foundation
import VideoMeter

/// The input rules every ledger store applies before it opens a transaction: amounts, thresholds,
/// team names and zones, hold requests, budget changes. No I/O; a refusal changes nothing.
public enum LedgerRules {
    /// The largest amount or limit the ledger accepts: one billion dollars, far from overflow.
    public static let maximumMicro: MicroUSD = 1_000_000_000_000_000

    /// A limit or amount between 0 and ``maximumMicro``, or `invalid_amount` naming `what`.
    public static func validate(limit: MicroUSD, what: String) throws(LedgerError) {
        guard limit >= 0 else { throw .invalidAmount("The \(what) cannot be negative.") }
        guard limit <= maximumMicro else {
            throw .invalidAmount("The \(what) cannot be more than \(Money.format(micro: maximumMicro)) USD.")
        }
    }

    /// At least one threshold, each a percentage between 1 and 1000, none repeated.
    public static func validate(thresholds: [Int]) throws(LedgerError) {
        guard !thresholds.isEmpty else { throw .invalidThresholds("Give at least one alert threshold, e.g. 50,80,100.") }
        for value in thresholds where !(1...1000).contains(value) {
            throw .invalidThresholds("Alert threshold \(value) is not a percentage between 1 and 1000.")
        }
        guard Set(thresholds).count == thresholds.count else {
            throw .invalidThresholds("Alert thresholds must not repeat.")
        }
    }

    /// The team name as stored (trimmed), after checking it and the zone.
    public static func teamName(_ name: String, timeZone: String) throws(LedgerError) -> String {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw .invalidAmount("A team needs a non-empty name.") }
        guard TimeZone(identifier: timeZone) != nil else { throw .invalidTimeZone(timeZone) }
        return name
    }

    /// The checks of a hold request that need no database (`invalid_amount`).
    public static func validate(_ request: HoldRequest) throws(LedgerError) {
        guard request.amountMicro > 0, request.amountMicro <= maximumMicro else {
            throw .invalidAmount("A hold must be more than 0 and at most \(Money.format(micro: maximumMicro)) USD.")
        }
        guard request.timeoutSeconds > 0, request.timeoutSeconds <= 366 * 86_400 else {
            throw .invalidAmount("A hold's timeout must be between 1 second and a year.")
        }
        guard !request.idempotencyKey.isEmpty else { throw .invalidAmount("A hold needs an idempotency key.") }
        guard request.seconds >= 0, request.imageCount >= 0 else {
            throw .invalidAmount("Seconds and image count cannot be negative.")
        }
        guard (0...maximumMicro).contains(request.upstreamCostMicro), (0...maximumMicro).contains(request.flatFeeMicro),
              abs(request.marginMicro) <= maximumMicro
        else {
            throw .invalidAmount("The upstream cost and flat fee cannot be negative, nor any figure above \(Money.format(micro: maximumMicro)) USD.")
        }
        guard request.upstreamCostMicro + request.marginMicro + request.flatFeeMicro == request.amountMicro else {
            throw .invalidAmount(
                "The upstream cost, margin and flat fee (\(request.upstreamCostMicro) + \(request.marginMicro) + \(request.flatFeeMicro)) must add up to the amount held (\(request.amountMicro) micro-USD).")
        }
        if let cap = request.maxPendingAsync {
            guard request.async else { throw .invalidAmount("A cap on tasks in flight applies to an async call only.") }
            guard cap >= 1 else { throw .invalidAmount("A cap on tasks in flight must be at least 1.") }
        }
        if let lease = request.settlementLease {
            guard !lease.owner.isEmpty, lease.duration > .zero else {
                throw .invalidAmount("A settlement lease needs an owner and a duration above zero.")
            }
        }
    }

    /// The checks of a budget change that need no database.
    public static func validate(_ settings: BudgetSettings) throws(LedgerError) {
        try validate(limit: settings.monthlyLimitMicro, what: "monthly limit")
        if case .some(.some(let daily)) = settings.dailyLimitMicro { try validate(limit: daily, what: "daily limit") }
        if let topUp = settings.creditTopUpMicro {
            try validate(limit: topUp, what: "credit")
            guard topUp > 0 else { throw .invalidAmount("A credit top-up must be more than 0.") }
        }
        if let thresholds = settings.alertThresholds { try validate(thresholds: thresholds) }
    }

    /// The team's budget after `settings` (the stored one, or a new one with the defaults), or
    /// `invalid_amount` when the credit would pass ``maximumMicro``. A top-up is in
    /// `settings.creditTopUpMicro`; the store journals it as a `credit` entry.
    public static func budget(_ existing: Budget?, teamID: Int64, applying settings: BudgetSettings) throws(LedgerError) -> Budget {
        var budget = existing ?? Budget(
            teamID: teamID, monthlyLimitMicro: 0, dailyLimitMicro: nil, creditMicro: nil,
            alertThresholds: BudgetSettings.defaultThresholds)
        budget.monthlyLimitMicro = settings.monthlyLimitMicro
        if let daily = settings.dailyLimitMicro { budget.dailyLimitMicro = daily }
        if let thresholds = settings.alertThresholds { budget.alertThresholds = thresholds }
        if let topUp = settings.creditTopUpMicro {
            let total = (budget.creditMicro ?? 0) + topUp
            guard total <= maximumMicro else {
                throw .invalidAmount("The team's credit would pass \(Money.format(micro: maximumMicro)) USD.")
            }
            budget.creditMicro = total
        }
        return budget
    }
}

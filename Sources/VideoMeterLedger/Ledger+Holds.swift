import Foundation
import GRDB
import Logging
import VideoMeter

extension Ledger {
    /// Reserves `request.amountMicro` for a call, or refuses (see ``LedgerError`` for the order of
    /// the checks). The same idempotency key with the same fingerprint and team returns the first
    /// hold, whatever its state now, with `replayed == true`.
    public func hold(_ request: HoldRequest) async throws -> HoldReceipt {
        try LedgerRules.validate(request)
        let now = nowMilliseconds
        let periods = self.periods
        let enforceLimits = bug != .ignoreLimit
        return try await commits.perform { db in
            try Self.grant(request, now: now, periods: periods, enforceLimits: enforceLimits, db)
        }
    }

    /// - Parameter enforceLimits: false only when the simulator injects ``InjectedBug/ignoreLimit``.
    static func grant(
        _ request: HoldRequest, now: Int64, periods: PeriodCache, enforceLimits: Bool = true, _ db: Database
    ) throws -> HoldReceipt {
        let team = try team(named: request.team, db)
        let existing = try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE idempotencyKey = ?")
        if let first = try existing.firstRow([request.idempotencyKey], Hold.init(columns:)) {
            guard first.fingerprint == request.fingerprint, first.teamID == team.id else {
                throw LedgerError.idempotencyKeyReused(request.idempotencyKey)
            }
            return HoldReceipt(hold: first, replayed: true)
        }
        let period = periods.period(at: now, zoneIdentifier: team.timeZone)
        // The limits and what each has used (posted + pending), read in one statement.
        let limits = try db.cachedStatement(sql: """
            SELECT b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro,
                (SELECT postedMicro + pendingMicro FROM balance WHERE teamID = b.teamID AND scope = 'month' AND periodKey = ?),
                (SELECT postedMicro + pendingMicro FROM balance WHERE teamID = b.teamID AND scope = 'day' AND periodKey = ?),
                (SELECT postedMicro + pendingMicro FROM balance WHERE teamID = b.teamID AND scope = 'credit' AND periodKey = '')
            FROM budget b WHERE b.teamID = ?
            """)
        let budget = try limits.firstRow([period.month, period.day, team.id]) { row in
            (monthly: row.int64(0), daily: row.optionalInt64(1), credit: row.optionalInt64(2),
             monthUsed: row.optionalInt64(3) ?? 0, dayUsed: row.optionalInt64(4) ?? 0, creditUsed: row.optionalInt64(5) ?? 0)
        }
        guard let budget else { throw LedgerError.noBudget(team.name) }
        // Counted inside the writer transaction, which every process on the file takes in turn.
        if let cap = request.maxPendingAsync {
            let inFlight = try db.cachedStatement(sql: "SELECT count(*) FROM hold WHERE teamID = ? AND state = 'pending' AND asyncCall = 1")
            if try Int.fetchOne(inFlight, arguments: [team.id]) ?? 0 >= cap {
                throw LedgerError.tooManyPendingTasks(team: team.name, cap: cap)
            }
        }
        let amount = request.amountMicro
        let admission = BudgetAdmission(
            monthlyLimitMicro: budget.monthly, dailyLimitMicro: budget.daily, creditLimitMicro: budget.credit,
            monthUsedMicro: budget.monthUsed, dayUsedMicro: budget.dayUsed, creditUsedMicro: budget.creditUsed)
        // The simulator's `ignore-limit` bug skips the check, nothing else.
        if enforceLimits { try admission.admit(amount) }

        let deadline = now + request.timeoutSeconds * 1000
        let countsAgainstCredit = admission.countsAgainstCredit
        let insertHold = try db.cachedStatement(sql: """
            INSERT INTO hold (teamID, idempotencyKey, fingerprint, amountMicro, provider, model, resolution, seconds,
                imageCount, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID, upstreamRequestID,
                periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, callStatus, submittedAt, caller, asyncCall)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let callStatus: CallStatus = request.submitted ? .submitted : .held
        let submittedAt: Int64? = request.submitted ? now : nil
        try insertHold.execute(arguments: [
            team.id, request.idempotencyKey, request.fingerprint, amount, request.provider, request.model,
            request.resolution, request.seconds, request.imageCount, request.catalogVersion, request.quoteJSON,
            request.upstreamCostMicro, request.marginMicro, request.flatFeeMicro, request.upstreamTaskID, request.upstreamRequestID,
            period.month, period.day, countsAgainstCredit, now, deadline, callStatus.rawValue, submittedAt, request.caller, request.async,
        ])
        let holdID = db.lastInsertedRowID
        if let lease = request.settlementLease { try takeLease(lease, holdID: holdID, now: now, db) }
        let insertEntry = try db.cachedStatement(sql: """
            INSERT INTO journalEntry (kind, teamID, holdID, idempotencyKey, amountMicro, periodMonth, periodDay,
                monthlyLimitMicro, dailyLimitMicro, creditLimitMicro, catalogVersion, upstreamCostMicro, marginMicro,
                flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt)
            VALUES ('hold', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try insertEntry.execute(arguments: [
            team.id, holdID, request.idempotencyKey, amount, period.month, period.day,
            budget.monthly, budget.daily, budget.credit, request.catalogVersion,
            request.upstreamCostMicro, request.marginMicro, request.flatFeeMicro, request.upstreamTaskID, request.upstreamRequestID, now,
        ])
        try addToBalance(db, teamID: team.id, scope: "month", key: period.month, posted: 0, pending: amount)
        try addToBalance(db, teamID: team.id, scope: "day", key: period.day, posted: 0, pending: amount)
        if countsAgainstCredit {
            try addToBalance(db, teamID: team.id, scope: "credit", key: "", posted: 0, pending: amount)
        }
        let hold = Hold(
            id: holdID, teamID: team.id, idempotencyKey: request.idempotencyKey, fingerprint: request.fingerprint,
            amountMicro: amount, postedMicro: 0, state: .pending, callStatus: callStatus, provider: request.provider,
            model: request.model, resolution: request.resolution, seconds: request.seconds, imageCount: request.imageCount,
            catalogVersion: request.catalogVersion, quoteJSON: request.quoteJSON,
            upstreamCostMicro: request.upstreamCostMicro, marginMicro: request.marginMicro,
            upstreamTaskID: request.upstreamTaskID, upstreamRequestID: request.upstreamRequestID,
            periodMonth: period.month, periodDay: period.day, countsAgainstCredit: countsAgainstCredit,
            createdAt: now, deadline: deadline, submittedAt: submittedAt, resolvedAt: nil, caller: request.caller,
            flatFeeMicro: request.flatFeeMicro)
        return HoldReceipt(hold: hold, replayed: false)
    }

    /// Settles a hold for `amount` (at most the held amount; the rest returns to the budget) and
    /// records the call's usage event. Refused once the hold is resolved or past its deadline.
    @discardableResult
    public func post(holdID: Int64, amount: MicroUSD, settlement: Settlement = Settlement()) async throws -> Hold {
        let now = nowMilliseconds
        let repost = bug == .doublePost
        let (hold, alerts) = try await commits.perform { db in
            try Self.resolve(holdID: holdID, event: .post(amountMicro: amount), settlement: settlement, now: now, repost: repost, db)
        }
        log(alerts)
        return hold!
    }

    /// Cancels a hold: all of it returns to the budget, nothing is charged; records the usage event.
    @discardableResult
    public func void(holdID: Int64, settlement: Settlement = Settlement()) async throws -> Hold {
        let now = nowMilliseconds
        let (hold, _) = try await commits.perform { db in
            try Self.resolve(holdID: holdID, event: .void, settlement: settlement, now: now, db)
        }
        return hold!
    }

    /// Voids a hold whose call was never sent: only if, in the same commit, it is still pending,
    /// `held` (never marked submitted) and without an upstream task id. Returns nil, changing
    /// nothing, otherwise. Because commits are serialised, this and ``markSubmitted(holdID:upstreamTaskID:upstreamRequestID:)``
    /// exclude each other: a call is either voided here or recorded as sent, never both.
    public func voidIfNeverSent(holdID: Int64, settlement: Settlement = Settlement(status: .cancelled)) async throws -> Hold? {
        let now = nowMilliseconds
        let (hold, _) = try await commits.perform { db -> (Hold?, [Alert]) in
            let check = try db.cachedStatement(sql: """
                SELECT id FROM hold WHERE id = ? AND state = 'pending' AND callStatus = 'held' AND upstreamTaskID IS NULL
                """)
            guard try check.firstRow([holdID], { $0.int64(0) }) != nil else { return (nil, []) }
            return try Self.resolve(holdID: holdID, event: .void, settlement: settlement, now: now, db)
        }
        return hold
    }

    /// The sweeper: expires every pending hold whose deadline is at or before `now` (the clock's
    /// time by default) and returns them, expired.
    @discardableResult
    public func expireDue(now date: Date? = nil) async throws -> [Hold] {
        let now = date.map(milliseconds) ?? nowMilliseconds
        return try await commits.perform { db in
            let due = try Int64.fetchAll(db.cachedStatement(sql: """
                SELECT id FROM hold WHERE state = 'pending' AND deadline <= ? ORDER BY deadline, id
                """), arguments: [now])
            var expired: [Hold] = []
            for id in due {
                let (hold, _) = try Self.resolve(
                    holdID: id, event: .expire, settlement: Settlement(status: .expired), now: now, db)
                if let hold { expired.append(hold) }
            }
            return expired
        }
    }

    /// Applies one event to a hold inside the current transaction: journal entry, hold row,
    /// balances, usage event, alerts. Returns nil when the sweeper finds the hold not yet due.
    ///
    /// - Parameter repost: true only when the simulator injects ``InjectedBug/doublePost``: a posted
    ///   hold is treated as pending, so a second post charges it again.
    static func resolve(
        holdID: Int64, event: HoldStateMachine.Event, settlement: Settlement, now: Int64, repost: Bool = false, _ db: Database
    ) throws -> (Hold?, [Alert]) {
        let select = try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE id = ?")
        guard var hold = try select.firstRow([holdID], Hold.init(columns:)) else { throw LedgerError.unknownHold(holdID) }
        // The simulator's `double-post` bug treats a posted hold as pending (and its call as running),
        // so a second post charges it again.
        let reposted = repost && hold.state == .posted
        var planned = hold
        if reposted {
            planned.state = .pending
            planned.callStatus = .running
        }
        guard let plan = try HoldSettlement.plan(hold: planned, event: event, settlement: settlement, now: now) else { return (nil, []) }
        let action = plan.action, split = plan.split, status = plan.callStatus
        let upstreamRequestID = plan.upstreamRequestID

        let insertEntry = try db.cachedStatement(sql: """
            INSERT INTO journalEntry (kind, teamID, holdID, idempotencyKey, amountMicro, releasedMicro, periodMonth,
                periodDay, catalogVersion, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try insertEntry.execute(arguments: [
            action.entryKind.rawValue, hold.teamID, hold.id, hold.idempotencyKey, action.postedMicro,
            action.releasedMicro, hold.periodMonth, hold.periodDay, hold.catalogVersion, split.upstreamCostMicro, split.marginMicro,
            split.flatFeeMicro, hold.upstreamTaskID, upstreamRequestID, now,
        ])
        let update = try db.cachedStatement(sql: """
            UPDATE hold SET state = ?, postedMicro = ?, callStatus = ?, upstreamRequestID = ?, resolvedAt = ?, billedSeconds = ?,
                sellerCostTicks = ?, videoURL = ?
            WHERE id = ?
            """)
        try update.execute(arguments: [
            action.nextState.rawValue, action.postedMicro, status.rawValue, upstreamRequestID, now, plan.billedSeconds,
            plan.sellerCostTicks, plan.videoURL, hold.id,
        ])
        hold = plan.applied(to: hold, now: now)

        try addToBalance(db, teamID: hold.teamID, scope: "month", key: hold.periodMonth, posted: action.postedMicro, pending: -hold.amountMicro)
        try addToBalance(db, teamID: hold.teamID, scope: "day", key: hold.periodDay, posted: action.postedMicro, pending: -hold.amountMicro)
        if hold.countsAgainstCredit {
            try addToBalance(db, teamID: hold.teamID, scope: "credit", key: "", posted: action.postedMicro, pending: -hold.amountMicro)
        }

        // A repost (the injected double-post bug) has its usage event already: one per hold.
        let insertUsage = try db.cachedStatement(sql: """
            INSERT\(reposted ? " OR IGNORE" : "") INTO usageEvent (holdID, teamID, idempotencyKey, provider, model, resolution, seconds, billedSeconds,
                imageCount, status, outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, flatFeeMicro, catalogVersion,
                latencyMs, upstreamTaskID, upstreamRequestID, periodMonth, periodDay, createdAt, finishedAt, caller, sellerCostTicks)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try insertUsage.execute(arguments: [
            hold.id, hold.teamID, hold.idempotencyKey, hold.provider, hold.model, hold.resolution, hold.seconds,
            settlement.billedSeconds, hold.imageCount, status.rawValue, action.nextState.rawValue, hold.amountMicro,
            action.postedMicro, split.upstreamCostMicro, split.marginMicro, split.flatFeeMicro, hold.catalogVersion, settlement.latencyMs, hold.upstreamTaskID,
            upstreamRequestID, hold.periodMonth, hold.periodDay, hold.createdAt, now, hold.caller, settlement.sellerCostTicks,
        ])

        var alerts: [Alert] = []
        if action.postedMicro > 0 {
            alerts = try recordAlerts(db, hold: hold, now: now)
        }
        return (hold, alerts)
    }

    /// Records the thresholds the month's posted spend has reached and that have no alert yet, and
    /// a `projected_overrun` alert the first time the month-end forecast passes the monthly limit.
    static func recordAlerts(_ db: Database, hold: Hold, now: Int64) throws -> [Alert] {
        let select = try db.cachedStatement(sql: """
            SELECT b.monthlyLimitMicro, b.alertThresholds,
                (SELECT postedMicro FROM balance WHERE teamID = b.teamID AND scope = 'month' AND periodKey = ?),
                t.timeZone
            FROM budget b JOIN team t ON t.id = b.teamID WHERE b.teamID = ?
            """)
        let found = try select.firstRow([hold.periodMonth, hold.teamID]) { row in
            (limit: row.int64(0), thresholds: row.string(1), spent: row.optionalInt64(2) ?? 0, zone: row.string(3))
        }
        guard let (limit, thresholds, spent, zone) = found, limit > 0 else { return [] }
        let insert = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO alert (teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro, holdID, createdAt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // A late posting into an ended month has nothing left to project.
        let window = ForecastWindows.shared.window(at: now, zoneIdentifier: zone)
        let forecast = window.period.month == hold.periodMonth
            ? try forecast(db, teamID: hold.teamID, window: window, now: now, monthlyLimit: limit, postedMicro: spent) : nil
        var alerts: [Alert] = []
        for candidate in AlertRule(limitMicro: limit, storedThresholds: thresholds).candidates(spentMicro: spent, forecast: forecast) {
            try insert.execute(arguments: [
                hold.teamID, hold.periodMonth, candidate.kind.rawValue, candidate.thresholdPercent, limit, spent, candidate.projectedMicro,
                hold.id, now,
            ])
            if db.changesCount == 1 {
                alerts.append(Alert(
                    id: db.lastInsertedRowID, teamID: hold.teamID, periodMonth: hold.periodMonth, kind: candidate.kind,
                    thresholdPercent: candidate.thresholdPercent, limitMicro: limit, spentMicro: spent,
                    projectedMicro: candidate.projectedMicro, holdID: hold.id, createdAt: now))
            }
        }
        return alerts
    }

    /// The forecast of a team's month from its day balances (the window's days, at most seven rows).
    static func forecast(
        _ db: Database, teamID: Int64, window: ForecastWindows.Window, now: Int64, monthlyLimit: MicroUSD?, postedMicro: MicroUSD,
        dailyLimit: MicroUSD? = nil, dayPostedMicro: MicroUSD = 0
    ) throws -> BudgetForecast {
        let windowSum = try db.cachedStatement(sql: """
            SELECT COALESCE(SUM(postedMicro), 0) FROM balance
            WHERE teamID = ? AND scope = 'day' AND periodKey >= ? AND periodKey <= ?
            """)
        let windowPosted = try windowSum.firstRow([teamID, window.firstDay, window.period.day]) { $0.int64(0) } ?? 0
        return BudgetForecast(
            now: now, monthEnd: window.period.monthEnd, windowStart: window.start, postedMicro: postedMicro,
            windowPostedMicro: windowPosted, monthlyLimitMicro: monthlyLimit, dailyLimitMicro: dailyLimit,
            dayPostedMicro: dayPostedMicro, dayEnd: window.period.dayEnd)
    }

    func log(_ alerts: [Alert]) {
        for alert in alerts {
            var metadata: Logger.Metadata = [
                "team.id": "\(alert.teamID)", "alert.kind": "\(alert.kind.rawValue)", "alert.threshold": "\(alert.thresholdPercent)",
                "budget.month": "\(alert.periodMonth)", "budget.spent": "\(Money.format(micro: alert.spentMicro))",
                "budget.limit": "\(Money.format(micro: alert.limitMicro))",
            ]
            if let projected = alert.projectedMicro { metadata["budget.projected"] = "\(Money.format(micro: projected))" }
            let message: Logger.Message = alert.kind == .projectedOverrun
                ? "budget projected to pass its monthly limit by the month's end" : "budget threshold reached"
            logger.warning(message, metadata: metadata)
        }
    }
}

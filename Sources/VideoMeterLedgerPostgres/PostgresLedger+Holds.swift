import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

extension PostgresLedger {
    public func hold(_ request: HoldRequest) async throws -> HoldReceipt {
        try LedgerRules.validate(request)
        let now = nowMilliseconds
        let periods = self.periods
        return try await write { connection in
            try await self.grant(request, now: now, periods: periods, connection)
        }
    }

    func grant(_ request: HoldRequest, now: Int64, periods: PeriodCache, _ connection: PostgresConnection) async throws -> HoldReceipt {
        let team = try await Self.team(named: request.team, connection, logger)
        if let first = try await Self.hold(idempotencyKey: request.idempotencyKey, connection, logger) {
            return try Self.replay(first, of: request, teamID: team.id)
        }
        // The team's budget row, locked until COMMIT: every hold of this team, in any process,
        // reads the sums below only after the previous one committed its own.
        guard let limits = try await connection.first("""
            SELECT monthlyLimitMicro, dailyLimitMicro, creditMicro FROM budget WHERE teamID = \(team.id) FOR UPDATE
            """, logger)
        else { throw LedgerError.noBudget(team.name) }
        // A hold of this team under the same key that committed while this one waited for the lock.
        if let first = try await Self.hold(idempotencyKey: request.idempotencyKey, connection, logger) {
            return try Self.replay(first, of: request, teamID: team.id)
        }
        // Counted under the budget row's lock, which every hold of the team takes first: an async
        // hold granted by another process committed before this count reads.
        if let cap = request.maxPendingAsync,
           let row = try await connection.first("""
               SELECT count(*) FROM hold WHERE teamID = \(team.id) AND state = 'pending' AND asyncCall
               """, logger),
           try row.int64(0) >= Int64(cap) {
            throw LedgerError.tooManyPendingTasks(team: team.name, cap: cap)
        }
        let period = periods.period(at: now, zoneIdentifier: team.timeZone)
        var used: [String: MicroUSD] = [:]
        for row in try await connection.all("""
            SELECT scope, postedMicro + pendingMicro FROM balance WHERE teamID = \(team.id)
                AND ((scope = 'month' AND periodKey = \(period.month)) OR (scope = 'day' AND periodKey = \(period.day))
                    OR (scope = 'credit' AND periodKey = ''))
            """, logger) {
            used[try row.string(0)] = try row.int64(1)
        }
        let admission = BudgetAdmission(
            monthlyLimitMicro: try limits.int64(0), dailyLimitMicro: try limits.optionalInt64(1), creditLimitMicro: try limits.optionalInt64(2),
            monthUsedMicro: used["month"] ?? 0, dayUsedMicro: used["day"] ?? 0, creditUsedMicro: used["credit"] ?? 0)
        let amount = request.amountMicro
        try admission.admit(amount)

        let deadline = now + request.timeoutSeconds * 1000
        let countsAgainstCredit = admission.countsAgainstCredit
        let callStatus: CallStatus = request.submitted ? .submitted : .held
        let submittedAt: Int64? = request.submitted ? now : nil
        // A process that took the same key meanwhile has committed by the time this insert returns
        // (the unique index waits for it): its hold is then the answer.
        guard let inserted = try await connection.first("""
            INSERT INTO hold (teamID, idempotencyKey, fingerprint, amountMicro, provider, model, resolution, seconds,
                imageCount, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID, upstreamRequestID,
                periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, callStatus, submittedAt, caller, asyncCall)
            VALUES (\(team.id), \(request.idempotencyKey), \(request.fingerprint), \(amount), \(request.provider), \(request.model),
                \(request.resolution), \(request.seconds), \(request.imageCount), \(request.catalogVersion), \(request.quoteJSON),
                \(request.upstreamCostMicro), \(request.marginMicro), \(request.flatFeeMicro), \(request.upstreamTaskID),
                \(request.upstreamRequestID), \(period.month), \(period.day), \(countsAgainstCredit), \(now), \(deadline),
                \(callStatus.rawValue), \(submittedAt), \(request.caller), \(request.async))
            ON CONFLICT (idempotencyKey) DO NOTHING
            RETURNING id
            """, logger)
        else {
            guard let first = try await Self.hold(idempotencyKey: request.idempotencyKey, connection, logger) else {
                throw LedgerError.idempotencyKeyReused(request.idempotencyKey)
            }
            return try Self.replay(first, of: request, teamID: team.id)
        }
        let holdID = try inserted.int64(0)
        if let lease = request.settlementLease { try await Self.takeLease(lease, holdID: holdID, now: now, connection, logger) }
        try await connection.run("""
            INSERT INTO journalEntry (kind, teamID, holdID, idempotencyKey, amountMicro, periodMonth, periodDay,
                monthlyLimitMicro, dailyLimitMicro, creditLimitMicro, catalogVersion, upstreamCostMicro, marginMicro,
                flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt)
            VALUES ('hold', \(team.id), \(holdID), \(request.idempotencyKey), \(amount), \(period.month), \(period.day),
                \(admission.monthlyLimitMicro), \(admission.dailyLimitMicro), \(admission.creditLimitMicro), \(request.catalogVersion),
                \(request.upstreamCostMicro), \(request.marginMicro), \(request.flatFeeMicro), \(request.upstreamTaskID),
                \(request.upstreamRequestID), \(now))
            """, logger)
        try await Self.addToBalances(
            connection, logger, teamID: team.id, month: period.month, day: period.day, credit: countsAgainstCredit, posted: 0, pending: amount)
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

    /// The first hold of a key, for a request with the same fingerprint and team; `idempotency_key_reused` otherwise.
    static func replay(_ first: Hold, of request: HoldRequest, teamID: Int64) throws -> HoldReceipt {
        guard first.fingerprint == request.fingerprint, first.teamID == teamID else {
            throw LedgerError.idempotencyKeyReused(request.idempotencyKey)
        }
        return HoldReceipt(hold: first, replayed: true)
    }

    /// Adds to the month, day and (when `credit`) credit balances of a team, in that order: the
    /// order every transaction locks them in.
    static func addToBalances(
        _ connection: PostgresConnection, _ logger: Logger, teamID: Int64, month: String, day: String, credit: Bool,
        posted: MicroUSD, pending: MicroUSD
    ) async throws {
        let creditKey: String? = credit ? "" : nil
        try await connection.run("""
            INSERT INTO balance (teamID, scope, periodKey, postedMicro, pendingMicro)
            SELECT \(teamID), scope, periodKey, \(posted), \(pending)
            FROM (VALUES (1, 'month', \(month)), (2, 'day', \(day)), (3, 'credit', \(creditKey))) AS scopes (position, scope, periodKey)
            WHERE periodKey IS NOT NULL
            ORDER BY position
            ON CONFLICT (teamID, scope, periodKey) DO UPDATE SET
                postedMicro = balance.postedMicro + excluded.postedMicro, pendingMicro = balance.pendingMicro + excluded.pendingMicro
            """, logger)
    }

    @discardableResult
    public func post(holdID: Int64, amount: MicroUSD, settlement: Settlement = Settlement()) async throws -> Hold {
        let now = nowMilliseconds
        let (hold, alerts) = try await write { connection in
            try await self.resolve(holdID: holdID, event: .post(amountMicro: amount), settlement: settlement, now: now, connection)
        }
        log(alerts)
        return hold!
    }

    @discardableResult
    public func void(holdID: Int64, settlement: Settlement = Settlement()) async throws -> Hold {
        let now = nowMilliseconds
        let (hold, _) = try await write { connection in
            try await self.resolve(holdID: holdID, event: .void, settlement: settlement, now: now, connection)
        }
        return hold!
    }

    public func voidIfNeverSent(holdID: Int64, settlement: Settlement = Settlement(status: .cancelled)) async throws -> Hold? {
        let now = nowMilliseconds
        let (hold, _) = try await write { connection -> (Hold?, [Alert]) in
            // The hold row's lock excludes markSubmitted in any process until this commits.
            guard let row = try await connection.first("""
                SELECT state, callStatus, upstreamTaskID FROM hold WHERE id = \(holdID) FOR UPDATE
                """, self.logger),
                try row.string(0) == HoldState.pending.rawValue, try row.string(1) == CallStatus.held.rawValue,
                try row.optionalString(2) == nil
            else { return (nil, []) }
            return try await self.resolve(holdID: holdID, event: .void, settlement: settlement, now: now, connection)
        }
        return hold
    }

    @discardableResult
    public func expireDue(now date: Date? = nil) async throws -> [Hold] {
        let now = date.map(milliseconds) ?? nowMilliseconds
        return try await write { connection in
            let due = try await connection.all("""
                SELECT id FROM hold WHERE state = 'pending' AND deadline <= \(now) ORDER BY deadline, id
                """, self.logger).map { try $0.int64(0) }
            var expired: [Hold] = []
            for id in due {
                // Another process may have resolved it since the list was read: skip it then.
                let (hold, _) = try await self.resolve(
                    holdID: id, event: .expire, settlement: Settlement(status: .expired), now: now, connection, skipResolved: true)
                if let hold { expired.append(hold) }
            }
            return expired
        }
    }

    /// Applies one event to a hold inside the current transaction: journal entry, hold row,
    /// balances, usage event, alerts. Returns nil when the sweeper finds the hold not yet due (or,
    /// with `skipResolved`, already resolved).
    func resolve(
        holdID: Int64, event: HoldStateMachine.Event, settlement: Settlement, now: Int64, _ connection: PostgresConnection,
        skipResolved: Bool = false
    ) async throws -> (Hold?, [Alert]) {
        guard let row = try await connection.first("""
            SELECT \(unescaped: Self.holdColumns) FROM hold WHERE id = \(holdID) FOR UPDATE
            """, logger)
        else { throw LedgerError.unknownHold(holdID) }
        var hold = try Self.hold(row)
        if skipResolved, hold.state.isResolved { return (nil, []) }
        guard let plan = try HoldSettlement.plan(hold: hold, event: event, settlement: settlement, now: now) else { return (nil, []) }
        let action = plan.action, split = plan.split
        try await connection.run("""
            INSERT INTO journalEntry (kind, teamID, holdID, idempotencyKey, amountMicro, releasedMicro, periodMonth,
                periodDay, catalogVersion, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt)
            VALUES (\(action.entryKind.rawValue), \(hold.teamID), \(hold.id), \(hold.idempotencyKey), \(action.postedMicro),
                \(action.releasedMicro), \(hold.periodMonth), \(hold.periodDay), \(hold.catalogVersion), \(split.upstreamCostMicro),
                \(split.marginMicro), \(split.flatFeeMicro), \(hold.upstreamTaskID), \(plan.upstreamRequestID), \(now))
            """, logger)
        try await connection.run("""
            UPDATE hold SET state = \(action.nextState.rawValue), postedMicro = \(action.postedMicro),
                callStatus = \(plan.callStatus.rawValue), upstreamRequestID = \(plan.upstreamRequestID), resolvedAt = \(now),
                billedSeconds = \(plan.billedSeconds), sellerCostTicks = \(plan.sellerCostTicks), videoURL = \(plan.videoURL)
            WHERE id = \(hold.id) AND teamID = \(hold.teamID)
            """, logger)
        hold = plan.applied(to: hold, now: now)
        try await Self.addToBalances(
            connection, logger, teamID: hold.teamID, month: hold.periodMonth, day: hold.periodDay, credit: hold.countsAgainstCredit,
            posted: action.postedMicro, pending: -hold.amountMicro)
        try await connection.run("""
            INSERT INTO usageEvent (holdID, teamID, idempotencyKey, provider, model, resolution, seconds, billedSeconds,
                imageCount, status, outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, flatFeeMicro, catalogVersion,
                latencyMs, upstreamTaskID, upstreamRequestID, periodMonth, periodDay, createdAt, finishedAt, caller, sellerCostTicks)
            VALUES (\(hold.id), \(hold.teamID), \(hold.idempotencyKey), \(hold.provider), \(hold.model), \(hold.resolution),
                \(hold.seconds), \(settlement.billedSeconds), \(hold.imageCount), \(plan.callStatus.rawValue),
                \(action.nextState.rawValue), \(hold.amountMicro), \(action.postedMicro), \(split.upstreamCostMicro),
                \(split.marginMicro), \(split.flatFeeMicro), \(hold.catalogVersion), \(settlement.latencyMs), \(hold.upstreamTaskID),
                \(plan.upstreamRequestID), \(hold.periodMonth), \(hold.periodDay), \(hold.createdAt), \(now), \(hold.caller),
                \(settlement.sellerCostTicks))
            """, logger)
        var alerts: [Alert] = []
        if action.postedMicro > 0 {
            alerts = try await recordAlerts(connection, hold: hold, now: now)
        }
        return (hold, alerts)
    }

    /// Records the alerts the month's posted spend now raises (``AlertRule``) that the team does not
    /// have yet; returns the new ones.
    func recordAlerts(_ connection: PostgresConnection, hold: Hold, now: Int64) async throws -> [Alert] {
        guard let found = try await connection.first("""
            SELECT b.monthlyLimitMicro, b.alertThresholds,
                (SELECT postedMicro FROM balance WHERE teamID = b.teamID AND scope = 'month' AND periodKey = \(hold.periodMonth)),
                t.timeZone
            FROM budget b JOIN team t ON t.id = b.teamID WHERE b.teamID = \(hold.teamID)
            """, logger)
        else { return [] }
        let limit = try found.int64(0), spent = try found.optionalInt64(2) ?? 0
        guard limit > 0 else { return [] }
        let window = ForecastWindows.shared.window(at: now, zoneIdentifier: try found.string(3))
        let forecast = window.period.month == hold.periodMonth
            ? try await Self.forecast(connection, logger, teamID: hold.teamID, window: window, now: now, monthlyLimit: limit, postedMicro: spent)
            : nil
        var alerts: [Alert] = []
        for candidate in AlertRule(limitMicro: limit, storedThresholds: try found.string(1)).candidates(spentMicro: spent, forecast: forecast) {
            let inserted = try await connection.first("""
                INSERT INTO alert (teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro, holdID, createdAt)
                VALUES (\(hold.teamID), \(hold.periodMonth), \(candidate.kind.rawValue), \(candidate.thresholdPercent), \(limit),
                    \(spent), \(candidate.projectedMicro), \(hold.id), \(now))
                ON CONFLICT (teamID, periodMonth, kind, thresholdPercent) DO NOTHING
                RETURNING id
                """, logger)
            if let inserted {
                alerts.append(Alert(
                    id: try inserted.int64(0), teamID: hold.teamID, periodMonth: hold.periodMonth, kind: candidate.kind,
                    thresholdPercent: candidate.thresholdPercent, limitMicro: limit, spentMicro: spent,
                    projectedMicro: candidate.projectedMicro, holdID: hold.id, createdAt: now))
            }
        }
        return alerts
    }

    func log(_ alerts: [Alert]) {
        for alert in alerts {
            logger.warning("budget threshold reached", metadata: [
                "team.id": "\(alert.teamID)", "alert.threshold": "\(alert.thresholdPercent)",
                "budget.month": "\(alert.periodMonth)", "budget.spent": "\(Money.format(micro: alert.spentMicro))",
                "budget.limit": "\(Money.format(micro: alert.limitMicro))",
            ])
        }
    }
}

import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

/// Grants and resolutions go through the group commit as ``HoldWrite``s, which
/// ``PostgresHoldBatch`` runs set-wise with the others of their batch (see there for the locks and
/// the order of the rules).
extension PostgresLedger {
    public func hold(_ request: HoldRequest) async throws -> HoldReceipt {
        try LedgerRules.validate(request)
        guard case .granted(let receipt) = try await write(.grant(request, now: nowMilliseconds)) else {
            preconditionFailure("a grant answers with a receipt")
        }
        return receipt
    }

    /// The first hold of a key, for a request with the same fingerprint and team; `idempotency_key_reused` otherwise.
    static func replay(_ first: Hold, of request: HoldRequest, teamID: Int64) throws -> HoldReceipt {
        guard first.fingerprint == request.fingerprint, first.teamID == teamID else {
            throw LedgerError.idempotencyKeyReused(request.idempotencyKey)
        }
        return HoldReceipt(hold: first, replayed: true)
    }

    @discardableResult
    public func post(holdID: Int64, amount: MicroUSD, settlement: Settlement = Settlement()) async throws -> Hold {
        let (hold, alerts) = try await resolve(holdID: holdID, event: .post(amountMicro: amount), settlement: settlement)
        log(alerts)
        return hold!
    }

    @discardableResult
    public func void(holdID: Int64, settlement: Settlement = Settlement()) async throws -> Hold {
        try await resolve(holdID: holdID, event: .void, settlement: settlement).hold!
    }

    private func resolve(
        holdID: Int64, event: HoldStateMachine.Event, settlement: Settlement
    ) async throws -> (hold: Hold?, alerts: [Alert]) {
        let write = HoldWrite.resolve(holdID: holdID, event: event, settlement: settlement, now: nowMilliseconds, skipResolved: false)
        guard case .resolved(let hold, let alerts) = try await self.write(write) else {
            preconditionFailure("a resolution answers with the hold")
        }
        return (hold, alerts)
    }

    public func voidIfNeverSent(holdID: Int64, settlement: Settlement = Settlement(status: .cancelled)) async throws -> Hold? {
        let now = nowMilliseconds
        return try await write { connection -> Hold? in
            // The hold row's lock excludes markSubmitted in any process until this commits.
            guard let row = try await connection.first("""
                SELECT state, callStatus, upstreamTaskID FROM hold WHERE id = \(holdID) FOR UPDATE
                """, self.logger),
                try row.string(0) == HoldState.pending.rawValue, try row.string(1) == CallStatus.held.rawValue,
                try row.optionalString(2) == nil
            else { return nil }
            let write = HoldWrite.resolve(holdID: holdID, event: .void, settlement: settlement, now: now, skipResolved: false)
            guard case .resolved(let hold, _) = try await self.holdBatch.run([write], connection)[0].get() else { return nil }
            return hold
        }
    }

    @discardableResult
    public func expireDue(now date: Date? = nil) async throws -> [Hold] {
        let now = date.map(milliseconds) ?? nowMilliseconds
        return try await write { connection in
            let due = try await connection.all("""
                SELECT id FROM hold WHERE state = 'pending' AND deadline <= \(now) ORDER BY deadline, id
                """, self.logger).map { try $0.int64(0) }
            // Another process may have resolved one since the list was read: it is skipped then.
            let writes = due.map {
                HoldWrite.resolve(holdID: $0, event: .expire, settlement: Settlement(status: .expired), now: now, skipResolved: true)
            }
            var expired: [Hold] = []
            for result in try await self.holdBatch.run(writes, connection) {
                if case .resolved(let hold?, _) = try result.get() { expired.append(hold) }
            }
            return expired
        }
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

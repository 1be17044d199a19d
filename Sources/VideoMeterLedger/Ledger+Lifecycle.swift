import Foundation
import GRDB
import Logging
import VideoMeter

extension Ledger {
    /// Records that the call was sent and, when known, the upstream's task and request ids. The
    /// metering layer calls this before it starts polling, so a restarted process can resume.
    /// Refused (`illegal_call_transition`) once the call is running, unknown or ended.
    ///
    /// One exception: a task id for an *expired* hold that has none is recorded (the ids only; the
    /// hold stays expired, nothing is charged). That is the answer to a create that outlived its
    /// hold; with the id on the hold, reconciliation finds the task's success as a late success
    /// instead of losing it. A voided hold still refuses (`hold_already_resolved`): its call was
    /// never sent.
    public func markSubmitted(holdID: Int64, upstreamTaskID: String?, upstreamRequestID: String? = nil) async throws {
        let now = nowMilliseconds
        try await commits.perform { db in
            if let upstreamTaskID, try Self.recordTaskIDOfExpiredHold(holdID, upstreamTaskID: upstreamTaskID, upstreamRequestID: upstreamRequestID, db) {
                return
            }
            let hold = try Self.pendingHold(holdID, db)
            var call = CallLifecycle(holdID: hold.id, status: hold.callStatus)
            _ = try call.apply(.sent)
            try db.cachedStatement(sql: """
                UPDATE hold SET callStatus = 'submitted', upstreamTaskID = COALESCE(?, upstreamTaskID),
                    upstreamRequestID = COALESCE(?, upstreamRequestID), submittedAt = ? WHERE id = ?
                """).execute(arguments: [upstreamTaskID, upstreamRequestID, now, hold.id])
        }
    }

    /// Records where a sent call is upstream (`running`, or `lost`: no answer, outcome unknown) on
    /// its pending hold, by the rules of ``CallLifecycle``; a repeated reading writes nothing. The
    /// money moves only with ``post(holdID:amount:settlement:)`` or ``void(holdID:settlement:)``,
    /// so `.ended` is refused here, as is every transition the lifecycle refuses.
    public func markCall(holdID: Int64, _ event: CallLifecycle.Event) async throws {
        try await commits.perform { db in
            let hold = try Self.pendingHold(holdID, db)
            var call = CallLifecycle(holdID: hold.id, status: hold.callStatus)
            if case .ended = event {
                throw LedgerError.illegalCallTransition(holdID: hold.id, from: hold.callStatus, event: "ended without settling its hold")
            }
            switch try call.apply(event) {
            case .record(let status):
                try db.cachedStatement(sql: "UPDATE hold SET callStatus = ? WHERE id = ?").execute(arguments: [status.rawValue, hold.id])
            case .none, .settle:
                break
            }
        }
    }

    /// Records a task that succeeded upstream after its hold was voided or expired, for review: the
    /// team is not charged. `amountMicro` is what the call would have cost. Reporting the same hold
    /// again returns the first record.
    @discardableResult
    public func lateSuccess(
        holdID: Int64, amountMicro: MicroUSD, upstreamRequestID: String? = nil, note: String? = nil
    ) async throws -> LateSuccess {
        try Self.validate(limit: amountMicro, what: "late success amount")
        let now = nowMilliseconds
        let record = try await commits.perform { db -> LateSuccess in
            guard let hold = try Self.hold(id: holdID, db) else { throw LedgerError.unknownHold(holdID) }
            guard hold.state == .voided || hold.state == .expired else {
                throw LedgerError.holdNotCancelled(holdID: holdID, state: hold.state)
            }
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO lateSuccess (holdID, teamID, holdState, amountMicro, upstreamTaskID, upstreamRequestID, note, detectedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    hold.id, hold.teamID, hold.state.rawValue, amountMicro, hold.upstreamTaskID,
                    upstreamRequestID ?? hold.upstreamRequestID, note, now,
                ])
            return try LateSuccess.fetchOne(db.cachedStatement(sql: "SELECT * FROM lateSuccess WHERE holdID = ?"), arguments: [hold.id])!
        }
        logger.warning("late success recorded for review", metadata: [
            "hold.id": "\(holdID)", "team.id": "\(record.teamID)", "hold.state": "\(record.holdState)",
        ])
        return record
    }

    /// Every late success, oldest first.
    public func lateSuccesses() async throws -> [LateSuccess] {
        try await read { db in
            // By position, not through Codable: reconciliation reads them all on every pass.
            try db.cachedStatement(sql: """
                SELECT id, holdID, teamID, holdState, amountMicro, upstreamTaskID, upstreamRequestID, note, detectedAt
                FROM lateSuccess ORDER BY id
                """).allRows([]) { row in
                LateSuccess(
                    id: row.int64(0), holdID: row.int64(1), teamID: row.int64(2), holdState: row.string(3), amountMicro: row.int64(4),
                    upstreamTaskID: row.optionalString(5), upstreamRequestID: row.optionalString(6), note: row.optionalString(7),
                    detectedAt: row.int64(8))
            }
        }
    }

    /// The hold with that id, or `unknown_hold`.
    public func hold(id: Int64) async throws -> Hold {
        try await read { db in
            guard let hold = try Self.hold(id: id, db) else { throw LedgerError.unknownHold(id) }
            return hold
        }
    }

    /// The hold taken under an idempotency key, if any.
    public func hold(idempotencyKey: String) async throws -> Hold? {
        try await read { db in
            try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE idempotencyKey = ?").firstRow([idempotencyKey], Hold.init(columns:))
        }
    }

    /// Holds, oldest first; all of them when `state` is nil.
    public func holds(state: HoldState? = nil) async throws -> [Hold] {
        try await read { db in
            if let state {
                return try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE state = ? ORDER BY id")
                    .allRows([state.rawValue], Hold.init(columns:))
            }
            return try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold ORDER BY id").allRows([], Hold.init(columns:))
        }
    }

    public func expiredHoldsToRecheck(resolvedSince since: Int64) async throws -> [Hold] {
        try await read { db in
            try db.cachedStatement(sql: """
                SELECT \(Hold.selection) FROM hold
                WHERE state = 'expired' AND upstreamTaskID IS NOT NULL AND resolvedAt >= ?
                    AND NOT EXISTS (SELECT 1 FROM lateSuccess WHERE lateSuccess.holdID = hold.id)
                ORDER BY id
                """).allRows([since], Hold.init(columns:))
        }
    }

    /// Pending holds, oldest first.
    public func openHolds() async throws -> [Hold] {
        try await holds(state: .pending)
    }

    /// Pending holds a reconciliation pass must look at: those with an upstream task id, and those
    /// whose call ended in `unknown` (sent, no answer).
    public func holdsAwaitingReconciliation() async throws -> [Hold] {
        try await read { db in
            try db.cachedStatement(sql: """
                SELECT \(Hold.selection) FROM hold WHERE state = 'pending' AND (upstreamTaskID IS NOT NULL OR callStatus = 'unknown')
                ORDER BY id
                """).allRows([], Hold.init(columns:))
        }
    }

    /// A team's usage events, oldest first.
    public func usageEvents(team name: String) async throws -> [UsageEvent] {
        try await read { db in
            let team = try Self.team(named: name, db)
            return try UsageEvent.fetchAll(db, sql: "SELECT * FROM usageEvent WHERE teamID = ? ORDER BY id", arguments: [team.id])
        }
    }

    /// Writes a late-arriving task id on an expired hold that has none; false (nothing written)
    /// for any other hold.
    static func recordTaskIDOfExpiredHold(_ holdID: Int64, upstreamTaskID: String, upstreamRequestID: String?, _ db: Database) throws -> Bool {
        let update = try db.cachedStatement(sql: """
            UPDATE hold SET upstreamTaskID = ?, upstreamRequestID = COALESCE(?, upstreamRequestID)
            WHERE id = ? AND state = 'expired' AND upstreamTaskID IS NULL
            """)
        try update.execute(arguments: [upstreamTaskID, upstreamRequestID, holdID])
        return db.changesCount > 0
    }

    /// The hold with that id, read by position (the fast path of every hold read).
    static func hold(id: Int64, _ db: Database) throws -> Hold? {
        try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE id = ?").firstRow([id], Hold.init(columns:))
    }

    static func pendingHold(_ holdID: Int64, _ db: Database) throws -> Hold {
        let select = try db.cachedStatement(sql: "SELECT \(Hold.selection) FROM hold WHERE id = ?")
        guard let hold = try select.firstRow([holdID], Hold.init(columns:)) else { throw LedgerError.unknownHold(holdID) }
        guard hold.state == .pending else { throw LedgerError.holdAlreadyResolved(holdID: holdID, state: hold.state) }
        return hold
    }
}

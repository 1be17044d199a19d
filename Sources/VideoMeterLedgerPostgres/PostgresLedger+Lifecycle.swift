import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

extension PostgresLedger {
    public func markSubmitted(holdID: Int64, upstreamTaskID: String?, upstreamRequestID: String? = nil) async throws {
        let now = nowMilliseconds
        try await write { connection in
            // A create that outlived its hold: its task id goes on the expired hold, for the late
            // success check (as in the SQLite ledger); the hold stays expired.
            if let upstreamTaskID, try await connection.first("""
                UPDATE hold SET upstreamTaskID = \(upstreamTaskID), upstreamRequestID = COALESCE(\(upstreamRequestID), upstreamRequestID)
                WHERE id = \(holdID) AND state = 'expired' AND upstreamTaskID IS NULL RETURNING id
                """, self.logger) != nil {
                return
            }
            let hold = try await Self.pendingHold(holdID, connection, self.logger)
            var call = CallLifecycle(holdID: hold.id, status: hold.callStatus)
            _ = try call.apply(.sent)
            try await connection.run("""
                UPDATE hold SET callStatus = 'submitted', upstreamTaskID = COALESCE(\(upstreamTaskID), upstreamTaskID),
                    upstreamRequestID = COALESCE(\(upstreamRequestID), upstreamRequestID), submittedAt = \(now)
                WHERE id = \(hold.id) AND teamID = \(hold.teamID)
                """, self.logger)
        }
    }

    public func markCall(holdID: Int64, _ event: CallLifecycle.Event) async throws {
        try await write { connection in
            let hold = try await Self.pendingHold(holdID, connection, self.logger)
            var call = CallLifecycle(holdID: hold.id, status: hold.callStatus)
            if case .ended = event {
                throw LedgerError.illegalCallTransition(holdID: hold.id, from: hold.callStatus, event: "ended without settling its hold")
            }
            switch try call.apply(event) {
            case .record(let status):
                try await connection.run("""
                    UPDATE hold SET callStatus = \(status.rawValue) WHERE id = \(hold.id) AND teamID = \(hold.teamID)
                    """, self.logger)
            case .none, .settle:
                break
            }
        }
    }

    @discardableResult
    public func lateSuccess(
        holdID: Int64, amountMicro: MicroUSD, upstreamRequestID: String? = nil, note: String? = nil
    ) async throws -> LateSuccess {
        try LedgerRules.validate(limit: amountMicro, what: "late success amount")
        let now = nowMilliseconds
        let record = try await write { connection -> LateSuccess in
            guard let row = try await connection.first("""
                SELECT \(unescaped: Self.holdColumns) FROM hold WHERE id = \(holdID) FOR SHARE
                """, self.logger)
            else { throw LedgerError.unknownHold(holdID) }
            let hold = try Self.hold(row)
            guard hold.state == .voided || hold.state == .expired else {
                throw LedgerError.holdNotCancelled(holdID: holdID, state: hold.state)
            }
            try await connection.run("""
                INSERT INTO lateSuccess (holdID, teamID, holdState, amountMicro, upstreamTaskID, upstreamRequestID, note, detectedAt)
                VALUES (\(hold.id), \(hold.teamID), \(hold.state.rawValue), \(amountMicro), \(hold.upstreamTaskID),
                    \(upstreamRequestID ?? hold.upstreamRequestID), \(note), \(now))
                ON CONFLICT (holdID) DO NOTHING
                """, self.logger)
            let stored = try await connection.first("""
                SELECT \(unescaped: Self.lateSuccessColumns) FROM lateSuccess WHERE holdID = \(hold.id) AND teamID = \(hold.teamID)
                """, self.logger)!
            return try Self.lateSuccess(stored)
        }
        logger.warning("late success recorded for review", metadata: [
            "hold.id": "\(holdID)", "team.id": "\(record.teamID)", "hold.state": "\(record.holdState)",
        ])
        return record
    }

    public func lateSuccesses() async throws -> [LateSuccess] {
        try await read { connection in
            try await connection.all("SELECT \(unescaped: Self.lateSuccessColumns) FROM lateSuccess ORDER BY id", self.logger)
                .map(Self.lateSuccess)
        }
    }

    public func hold(id: Int64) async throws -> Hold {
        try await read { connection in
            guard let row = try await connection.first("SELECT \(unescaped: Self.holdColumns) FROM hold WHERE id = \(id)", self.logger) else {
                throw LedgerError.unknownHold(id)
            }
            return try Self.hold(row)
        }
    }

    public func hold(idempotencyKey: String) async throws -> Hold? {
        try await read { connection in try await Self.hold(idempotencyKey: idempotencyKey, connection, self.logger) }
    }

    public func holds(state: HoldState? = nil) async throws -> [Hold] {
        try await read { connection in
            if let state {
                return try await connection.all("""
                    SELECT \(unescaped: Self.holdColumns) FROM hold WHERE state = \(state.rawValue) ORDER BY id
                    """, self.logger).map(Self.hold)
            }
            return try await connection.all("SELECT \(unescaped: Self.holdColumns) FROM hold ORDER BY id", self.logger).map(Self.hold)
        }
    }

    public func holdsAwaitingReconciliation() async throws -> [Hold] {
        try await read { connection in
            try await connection.all("""
                SELECT \(unescaped: Self.holdColumns) FROM hold
                WHERE state = 'pending' AND (upstreamTaskID IS NOT NULL OR callStatus = 'unknown') ORDER BY id
                """, self.logger).map(Self.hold)
        }
    }

    public func expiredHoldsToRecheck(resolvedSince since: Int64) async throws -> [Hold] {
        try await read { connection in
            try await connection.all("""
                SELECT \(unescaped: Self.holdColumns) FROM hold
                WHERE state = 'expired' AND upstreamTaskID IS NOT NULL AND resolvedAt >= \(since)
                    AND NOT EXISTS (SELECT 1 FROM lateSuccess WHERE lateSuccess.holdID = hold.id)
                ORDER BY id
                """, self.logger).map(Self.hold)
        }
    }

    public func usageEvents(team name: String) async throws -> [UsageEvent] {
        try await read { connection in
            let team = try await Self.team(named: name, connection, self.logger)
            return try await connection.all("""
                SELECT id, holdID, teamID, idempotencyKey, provider, model, resolution, seconds, billedSeconds, imageCount, status,
                    outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, flatFeeMicro, sellerCostTicks, catalogVersion,
                    latencyMs, upstreamTaskID, upstreamRequestID, periodMonth, periodDay, createdAt, finishedAt, caller
                FROM usageEvent WHERE teamID = \(team.id) ORDER BY id
                """, self.logger).map { row in
                UsageEvent(
                    id: try row.int64(0), holdID: try row.int64(1), teamID: try row.int64(2), idempotencyKey: try row.string(3),
                    provider: try row.string(4), model: try row.string(5), resolution: try row.string(6), seconds: try row.int(7),
                    billedSeconds: try row.optionalInt64(8).map(Int.init), imageCount: try row.int(9), status: try row.string(10),
                    outcome: try row.string(11), heldMicro: try row.int64(12), chargedMicro: try row.int64(13),
                    upstreamCostMicro: try row.int64(14), marginMicro: try row.int64(15), flatFeeMicro: try row.int64(16),
                    sellerCostTicks: try row.optionalInt64(17), catalogVersion: try row.string(18), latencyMs: try row.optionalInt64(19),
                    upstreamTaskID: try row.optionalString(20), upstreamRequestID: try row.optionalString(21),
                    periodMonth: try row.string(22), periodDay: try row.string(23), createdAt: try row.int64(24),
                    finishedAt: try row.int64(25), caller: try row.optionalString(26))
            }
        }
    }

    // MARK: - Rows

    /// The columns ``hold(_:)`` reads, in its order.
    static let holdColumns = """
        id, teamID, idempotencyKey, fingerprint, amountMicro, postedMicro, state, callStatus, provider, model, resolution,
        seconds, imageCount, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, upstreamTaskID, upstreamRequestID,
        periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, submittedAt, resolvedAt, caller, billedSeconds,
        flatFeeMicro, sellerCostTicks, videoURL
        """

    static func hold(_ row: Cells) throws -> Hold {
        Hold(
            id: try row.int64(0), teamID: try row.int64(1), idempotencyKey: try row.string(2), fingerprint: try row.string(3),
            amountMicro: try row.int64(4), postedMicro: try row.int64(5), state: HoldState(rawValue: try row.string(6)) ?? .pending,
            callStatus: CallStatus(rawValue: try row.string(7)) ?? .unknown, provider: try row.string(8), model: try row.string(9),
            resolution: try row.string(10), seconds: try row.int(11), imageCount: try row.int(12), catalogVersion: try row.string(13),
            quoteJSON: try row.string(14), upstreamCostMicro: try row.int64(15), marginMicro: try row.int64(16),
            upstreamTaskID: try row.optionalString(17), upstreamRequestID: try row.optionalString(18), periodMonth: try row.string(19),
            periodDay: try row.string(20), countsAgainstCredit: try row.bool(21), createdAt: try row.int64(22),
            deadline: try row.int64(23), submittedAt: try row.optionalInt64(24), resolvedAt: try row.optionalInt64(25),
            caller: try row.optionalString(26), billedSeconds: try row.optionalInt64(27).map(Int.init), flatFeeMicro: try row.int64(28),
            sellerCostTicks: try row.optionalInt64(29), videoURL: try row.optionalString(30))
    }

    static func hold(idempotencyKey: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Hold? {
        try await connection.first("""
            SELECT \(unescaped: holdColumns) FROM hold WHERE idempotencyKey = \(idempotencyKey)
            """, logger).map(hold)
    }

    /// The pending hold with that id, its row locked until the transaction ends.
    static func pendingHold(_ holdID: Int64, _ connection: PostgresConnection, _ logger: Logger) async throws -> Hold {
        guard let row = try await connection.first("SELECT \(unescaped: holdColumns) FROM hold WHERE id = \(holdID) FOR UPDATE", logger) else {
            throw LedgerError.unknownHold(holdID)
        }
        let hold = try hold(row)
        guard hold.state == .pending else { throw LedgerError.holdAlreadyResolved(holdID: holdID, state: hold.state) }
        return hold
    }

    static let lateSuccessColumns = "id, holdID, teamID, holdState, amountMicro, upstreamTaskID, upstreamRequestID, note, detectedAt"

    static func lateSuccess(_ row: Cells) throws -> LateSuccess {
        LateSuccess(
            id: try row.int64(0), holdID: try row.int64(1), teamID: try row.int64(2), holdState: try row.string(3),
            amountMicro: try row.int64(4), upstreamTaskID: try row.optionalString(5), upstreamRequestID: try row.optionalString(6),
            note: try row.optionalString(7), detectedAt: try row.int64(8))
    }
}

import Foundation
import Logging
import PostgresNIO
import VideoMeter
import VideoMeterLedger

/// A money write that the group commit runs set-wise with the others of its batch: granting a
/// hold, or resolving one (post, void, expire).
enum HoldWrite: Sendable {
    case grant(HoldRequest, now: Int64)
    /// With `skipResolved`, a hold already resolved answers nil instead of `hold_already_resolved`
    /// (the sweeper's case).
    case resolve(holdID: Int64, event: HoldStateMachine.Event, settlement: Settlement, now: Int64, skipResolved: Bool)
}

enum HoldWriteResult: Sendable {
    case granted(HoldReceipt)
    case resolved(Hold?, [Alert])
}

/// Runs a batch of ``HoldWrite``s inside the current transaction in a fixed number of round trips,
/// whatever its size: lock, read, decide in Swift, write.
///
/// 1. Lock the budget rows of every team a grant names (`FOR UPDATE`, in team id order), then the
///    hold rows every resolution names (in hold id order): the lock order of every transaction.
/// 2. Read, in new statements (so after the locks, at READ COMMITTED, against what has committed):
///    the holds under the grants' idempotency keys, the balances the grants are admitted against,
///    and the team's pending async holds where a grant has a cap.
/// 3. Decide each write in the batch's order, as if it ran alone after the ones before it: the
///    figures are updated in memory by every grant and resolution decided earlier in the batch.
///    The rules are the store-independent values the SQLite ledger asks too (``BudgetAdmission``,
///    ``HoldSettlement``, ``AlertRule``, ``BudgetForecast``): no rule is written in SQL. A refusal
///    is a result, decided before anything is written, so it touches nothing of the others.
/// 4. Write everything in one statement (holds, journal entries, hold updates, usage events, and
///    the balances by increments, in lock order) and, only when a posting may raise one, record
///    alerts in a second.
///
/// Throws only what ends the transaction: a database error, or ``Conflict`` when another process
/// committed a hold under one of the batch's new idempotency keys between the read and the insert
/// (the committer then runs the batch again, and it replays that hold).
struct PostgresHoldBatch {
    let logger: Logger
    let periods: PeriodCache

    /// Another process took one of the batch's new idempotency keys meanwhile; nothing of the
    /// statement that found it stays, and the whole batch may run again.
    struct Conflict: Error {}

    /// The hold columns (``PostgresLedger/holdColumns``) qualified with `h.`.
    static let qualifiedHoldColumns = PostgresLedger.holdColumns
        .split(separator: ",").map { "h." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")

    private struct TeamLimits {
        var id: Int64
        var timeZone: String
        /// Nil: the team has no budget.
        var limits: (monthly: MicroUSD, daily: MicroUSD?, credit: MicroUSD?)?
    }

    private struct LockedHold {
        var hold: Hold
        var asyncCall: Bool
        var timeZone: String
        var monthlyLimitMicro: MicroUSD?
        var alertThresholds: String?
    }

    private struct BalanceKey: Hashable, Comparable {
        var teamID: Int64
        /// 1 month, 2 day, 3 credit: the order balance rows are locked in.
        var position: Int
        var periodKey: String

        var scope: String { ["", "month", "day", "credit"][position] }

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.teamID, lhs.position, lhs.periodKey) < (rhs.teamID, rhs.position, rhs.periodKey)
        }

        static func keys(teamID: Int64, month: String, day: String, credit: Bool) -> [BalanceKey] {
            var keys = [BalanceKey(teamID: teamID, position: 1, periodKey: month), BalanceKey(teamID: teamID, position: 2, periodKey: day)]
            if credit { keys.append(BalanceKey(teamID: teamID, position: 3, periodKey: "")) }
            return keys
        }
    }

    /// A grant decided in this batch, written by the insert.
    private struct Grant {
        var index: Int
        var request: HoldRequest
        var hold: Hold
        var admission: BudgetAdmission
    }

    /// A resolution decided in this batch.
    private struct Resolution {
        var index: Int
        var before: Hold
        var after: Hold
        var plan: HoldSettlement
        var settlement: Settlement
        var now: Int64
        var timeZone: String
        var monthlyLimitMicro: MicroUSD?
        var alertThresholds: String?
    }

    private enum Outcome {
        case done(Result<HoldWriteResult, any Error>)
        /// Granted by this batch: the receipt once the insert returned the id.
        case granted(grant: Int)
        /// A replay of a hold this batch grants.
        case replayOfBatch(grant: Int)
        /// Resolved by this batch; alerts added once recorded.
        case resolved(resolution: Int)
    }

    func run(_ writes: [HoldWrite], _ connection: PostgresConnection) async throws -> [Result<HoldWriteResult, any Error>] {
        var requests: [(index: Int, request: HoldRequest, now: Int64)] = []
        var resolutions: [(index: Int, holdID: Int64, event: HoldStateMachine.Event, settlement: Settlement, now: Int64, skip: Bool)] = []
        for (index, write) in writes.enumerated() {
            switch write {
            case .grant(let request, let now): requests.append((index, request, now))
            case .resolve(let holdID, let event, let settlement, let now, let skip):
                resolutions.append((index, holdID, event, settlement, now, skip))
            }
        }

        // 1. Locks: budget rows, then hold rows.
        var teams: [String: TeamLimits] = [:]
        let names = Array(Set(requests.map(\.request.team))).sorted()
        if !names.isEmpty {
            for row in try await connection.all(LockBudgets(names), logger) {
                let name = try row.string(1)
                teams[name] = TeamLimits(
                    id: try row.int64(0), timeZone: try row.string(2),
                    limits: (try row.int64(3), try row.optionalInt64(4), try row.optionalInt64(5)))
            }
            let missing = names.filter { teams[$0] == nil }
            if !missing.isEmpty {
                for row in try await connection.all("SELECT id, name, timeZone FROM team WHERE name = ANY(\(missing))", logger) {
                    let name = try row.string(1)
                    teams[name] = TeamLimits(id: try row.int64(0), timeZone: try row.string(2), limits: nil)
                }
            }
        }
        var locked: [Int64: LockedHold] = [:]
        let holdIDs = Array(Set(resolutions.map(\.holdID))).sorted()
        if !holdIDs.isEmpty {
            for row in try await connection.all(LockHolds(holdIDs), logger) {
                let hold = try PostgresLedger.hold(row)
                locked[hold.id] = LockedHold(
                    hold: hold, asyncCall: try row.bool(31), timeZone: try row.string(32),
                    monthlyLimitMicro: try row.optionalInt64(33), alertThresholds: try row.optionalString(34))
            }
        }

        // 2. Reads after the locks: holds under the keys, balances, pending async holds.
        var byKey: [String: Hold] = [:]
        var used: [BalanceKey: MicroUSD] = [:]
        var pendingAsync: [Int64: Int64] = [:]
        if !requests.isEmpty {
            let keys = requests.map(\.request.idempotencyKey)
            for row in try await connection.all(HoldsUnderKeys(keys), logger) {
                let hold = try PostgresLedger.hold(row)
                byKey[hold.idempotencyKey] = hold
            }
            var wanted = Set<BalanceKey>()
            for (_, request, now) in requests {
                guard let team = teams[request.team], team.limits != nil else { continue }
                let period = periods.period(at: now, zoneIdentifier: team.timeZone)
                wanted.formUnion(BalanceKey.keys(teamID: team.id, month: period.month, day: period.day, credit: true))
            }
            let capped = Array(Set(requests.compactMap { entry in
                entry.request.maxPendingAsync == nil ? nil : teams[entry.request.team]?.id
            })).sorted()
            if !wanted.isEmpty {
                for key in wanted { used[key] = 0 }
                let teamIDs = Array(Set(wanted.map(\.teamID))).sorted()
                let monthKeys = Array(Set(wanted.filter { $0.position == 1 }.map(\.periodKey))).sorted()
                let dayKeys = Array(Set(wanted.filter { $0.position == 2 }.map(\.periodKey))).sorted()
                for row in try await connection.all(BalancesUsed(teamIDs, monthKeys, dayKeys, capped), logger) {
                    let teamID = try row.int64(0), scope = try row.string(1), value = try row.int64(3)
                    switch scope {
                    case "async": pendingAsync[teamID] = value
                    case "month": used[BalanceKey(teamID: teamID, position: 1, periodKey: try row.string(2))] = value
                    case "day": used[BalanceKey(teamID: teamID, position: 2, periodKey: try row.string(2))] = value
                    default: used[BalanceKey(teamID: teamID, position: 3, periodKey: "")] = value
                    }
                }
                for teamID in capped where pendingAsync[teamID] == nil { pendingAsync[teamID] = 0 }
            }
        }

        // 3. Decide, in the batch's order.
        var outcomes: [Outcome] = Array(repeating: .done(.failure(CancellationError())), count: writes.count)
        var grants: [Grant] = []
        var decided: [Resolution] = []
        var grantedKeys: [String: Int] = [:]
        var deltas: [BalanceKey: (posted: MicroUSD, pending: MicroUSD)] = [:]
        var postedAfter: [(resolution: Int, key: BalanceKey, posted: MicroUSD)] = []

        func add(_ keys: [BalanceKey], posted: MicroUSD, pending: MicroUSD) {
            for key in keys {
                deltas[key, default: (0, 0)].posted += posted
                deltas[key, default: (0, 0)].pending += pending
                if used[key] != nil { used[key]! += posted + pending }
            }
        }

        for (index, write) in writes.enumerated() {
            do {
                switch write {
                case .grant(let request, let now):
                    guard let team = teams[request.team] else { throw LedgerError.unknownTeam(request.team) }
                    if let first = byKey[request.idempotencyKey] {
                        outcomes[index] = .done(.success(.granted(try PostgresLedger.replay(first, of: request, teamID: team.id))))
                        continue
                    }
                    if let grant = grantedKeys[request.idempotencyKey] {
                        _ = try PostgresLedger.replay(grants[grant].hold, of: request, teamID: team.id)
                        outcomes[index] = .replayOfBatch(grant: grant)
                        continue
                    }
                    guard let limits = team.limits else { throw LedgerError.noBudget(request.team) }
                    if let cap = request.maxPendingAsync, (pendingAsync[team.id] ?? 0) >= Int64(cap) {
                        throw LedgerError.tooManyPendingTasks(team: request.team, cap: cap)
                    }
                    let period = periods.period(at: now, zoneIdentifier: team.timeZone)
                    let keys = BalanceKey.keys(teamID: team.id, month: period.month, day: period.day, credit: true)
                    let admission = BudgetAdmission(
                        monthlyLimitMicro: limits.monthly, dailyLimitMicro: limits.daily, creditLimitMicro: limits.credit,
                        monthUsedMicro: used[keys[0]] ?? 0, dayUsedMicro: used[keys[1]] ?? 0, creditUsedMicro: used[keys[2]] ?? 0)
                    try admission.admit(request.amountMicro)
                    let callStatus: CallStatus = request.submitted ? .submitted : .held
                    let hold = Hold(
                        id: 0, teamID: team.id, idempotencyKey: request.idempotencyKey, fingerprint: request.fingerprint,
                        amountMicro: request.amountMicro, postedMicro: 0, state: .pending, callStatus: callStatus,
                        provider: request.provider, model: request.model, resolution: request.resolution, seconds: request.seconds,
                        imageCount: request.imageCount, catalogVersion: request.catalogVersion, quoteJSON: request.quoteJSON,
                        upstreamCostMicro: request.upstreamCostMicro, marginMicro: request.marginMicro,
                        upstreamTaskID: request.upstreamTaskID, upstreamRequestID: request.upstreamRequestID,
                        periodMonth: period.month, periodDay: period.day, countsAgainstCredit: admission.countsAgainstCredit,
                        createdAt: now, deadline: now + request.timeoutSeconds * 1000, submittedAt: request.submitted ? now : nil,
                        resolvedAt: nil, caller: request.caller, flatFeeMicro: request.flatFeeMicro)
                    grantedKeys[request.idempotencyKey] = grants.count
                    outcomes[index] = .granted(grant: grants.count)
                    grants.append(Grant(index: index, request: request, hold: hold, admission: admission))
                    add(Array(keys.prefix(admission.countsAgainstCredit ? 3 : 2)), posted: 0, pending: request.amountMicro)
                    if request.async, pendingAsync[team.id] != nil { pendingAsync[team.id]! += 1 }

                case .resolve(let holdID, let event, let settlement, let now, let skipResolved):
                    guard let entry = locked[holdID] else { throw LedgerError.unknownHold(holdID) }
                    let hold = entry.hold
                    if skipResolved, hold.state.isResolved {
                        outcomes[index] = .done(.success(.resolved(nil, [])))
                        continue
                    }
                    guard let plan = try HoldSettlement.plan(hold: hold, event: event, settlement: settlement, now: now) else {
                        outcomes[index] = .done(.success(.resolved(nil, [])))
                        continue
                    }
                    let after = plan.applied(to: hold, now: now)
                    locked[holdID]?.hold = after
                    let keys = BalanceKey.keys(
                        teamID: hold.teamID, month: hold.periodMonth, day: hold.periodDay, credit: hold.countsAgainstCredit)
                    add(keys, posted: plan.action.postedMicro, pending: -hold.amountMicro)
                    if entry.asyncCall, pendingAsync[hold.teamID] != nil { pendingAsync[hold.teamID]! -= 1 }
                    outcomes[index] = .resolved(resolution: decided.count)
                    if plan.action.postedMicro > 0 {
                        for key in keys.prefix(2) { postedAfter.append((decided.count, key, plan.action.postedMicro)) }
                    }
                    decided.append(Resolution(
                        index: index, before: hold, after: after, plan: plan, settlement: settlement, now: now,
                        timeZone: entry.timeZone, monthlyLimitMicro: entry.monthlyLimitMicro, alertThresholds: entry.alertThresholds))
                }
            } catch {
                outcomes[index] = .done(.failure(error))
            }
        }

        // 4. Write.
        var holdIDsByKey: [String: Int64] = [:]
        var balances: [BalanceKey: MicroUSD] = [:]
        if !grants.isEmpty || !decided.isEmpty {
            (holdIDsByKey, balances) = try await write(grants: grants, resolutions: decided, deltas: deltas, connection)
        }
        for index in grants.indices {
            guard let id = holdIDsByKey[grants[index].hold.idempotencyKey] else { throw Conflict() }
            grants[index].hold.id = id
        }
        let alerts = try await recordAlerts(decided, postedAfter: postedAfter, balances: balances, connection)

        return outcomes.map { outcome in
            switch outcome {
            case .done(let result): return result
            case .granted(let grant): return .success(.granted(HoldReceipt(hold: grants[grant].hold, replayed: false)))
            case .replayOfBatch(let grant): return .success(.granted(HoldReceipt(hold: grants[grant].hold, replayed: true)))
            case .resolved(let resolution): return .success(.resolved(decided[resolution].after, alerts[resolution] ?? []))
            }
        }
    }

    /// Writes the batch's grants and resolutions in one statement; returns the new holds' ids by
    /// idempotency key and the balance rows' posted amounts after it.
    private func write(
        grants: [Grant], resolutions: [Resolution], deltas: [BalanceKey: (posted: MicroUSD, pending: MicroUSD)],
        _ connection: PostgresConnection
    ) async throws -> ([String: Int64], [BalanceKey: MicroUSD]) {
        let grantRows: [[String: any JSONCell]] = grants.map { grant in
            let hold = grant.hold, request = grant.request
            return [
                "seq": grant.index, "teamid": hold.teamID, "idempotencykey": hold.idempotencyKey, "fingerprint": hold.fingerprint,
                "amountmicro": hold.amountMicro, "provider": hold.provider, "model": hold.model, "resolution": hold.resolution,
                "seconds": hold.seconds, "imagecount": hold.imageCount, "catalogversion": hold.catalogVersion,
                "quotejson": hold.quoteJSON, "upstreamcostmicro": hold.upstreamCostMicro, "marginmicro": hold.marginMicro,
                "flatfeemicro": hold.flatFeeMicro, "upstreamtaskid": json(hold.upstreamTaskID),
                "upstreamrequestid": json(hold.upstreamRequestID), "periodmonth": hold.periodMonth, "periodday": hold.periodDay,
                "countsagainstcredit": hold.countsAgainstCredit, "createdat": hold.createdAt, "deadline": hold.deadline,
                "callstatus": hold.callStatus.rawValue, "submittedat": json(hold.submittedAt), "caller": json(hold.caller),
                "asynccall": request.async, "monthlylimitmicro": grant.admission.monthlyLimitMicro,
                "dailylimitmicro": json(grant.admission.dailyLimitMicro), "creditlimitmicro": json(grant.admission.creditLimitMicro),
                // The caller's settlement lease, taken in the hold's own commit (see PostgresLedger+Leases.swift).
                "leaseowner": json(request.settlementLease?.owner),
                "leaseexpiresat": json(request.settlementLease.map { hold.createdAt + $0.duration.leaseMilliseconds }),
            ]
        }
        let resolutionRows: [[String: any JSONCell]] = resolutions.map { resolution in
            let hold = resolution.after, plan = resolution.plan, action = plan.action, split = plan.split
            return [
                "seq": resolution.index, "holdid": hold.id, "teamid": hold.teamID, "kind": action.entryKind.rawValue,
                "postedmicro": action.postedMicro, "releasedmicro": action.releasedMicro, "state": action.nextState.rawValue,
                "callstatus": plan.callStatus.rawValue, "idempotencykey": hold.idempotencyKey, "periodmonth": hold.periodMonth,
                "periodday": hold.periodDay, "catalogversion": hold.catalogVersion, "upstreamcostmicro": split.upstreamCostMicro,
                "marginmicro": split.marginMicro, "flatfeemicro": split.flatFeeMicro, "upstreamtaskid": json(hold.upstreamTaskID),
                "upstreamrequestid": json(plan.upstreamRequestID), "billedseconds": json(plan.billedSeconds.map(Int64.init)),
                "sellercostticks": json(plan.sellerCostTicks), "videourl": json(plan.videoURL), "resolvedat": resolution.now,
                "provider": hold.provider, "model": hold.model, "resolution": hold.resolution, "seconds": hold.seconds,
                "usagebilledseconds": json(resolution.settlement.billedSeconds.map(Int64.init)),
                "imagecount": hold.imageCount, "heldmicro": hold.amountMicro,
                "latencyms": json(resolution.settlement.latencyMs), "holdcreatedat": hold.createdAt, "caller": json(hold.caller),
                "usagesellercostticks": json(resolution.settlement.sellerCostTicks),
            ]
        }
        let deltaRows: [[String: any JSONCell]] = deltas.keys.sorted().map { key in
            let delta = deltas[key]!
            return [
                "teamid": key.teamID, "position": key.position, "scope": key.scope, "periodkey": key.periodKey,
                "postedmicro": delta.posted, "pendingmicro": delta.pending,
            ]
        }
        let statement = WriteStatement(grants: jsonRows(grantRows), resolutions: jsonRows(resolutionRows), deltas: jsonRows(deltaRows))
        var written: WriteStatement.Row?
        for try await row in try await connection.execute(statement, logger: logger) {
            written = row
        }
        guard let (ids, keys, teamIDs, scopes, periodKeys, posted) = written else { return ([:], [:]) }
        guard ids.count == grants.count else { throw Conflict() }
        var balances: [BalanceKey: MicroUSD] = [:]
        for index in teamIDs.indices {
            let position = ["month": 1, "day": 2, "credit": 3][scopes[index]] ?? 3
            balances[BalanceKey(teamID: teamIDs[index], position: position, periodKey: periodKeys[index])] = posted[index]
        }
        return (Dictionary(uniqueKeysWithValues: zip(keys, ids)), balances)
    }

    /// Records the alerts the batch's postings raise (``AlertRule``), each as the month's posted
    /// spend stood right after that posting: the balance after the write, less what later
    /// postings of the batch added. The forecast, and the read of the alerts the team has, are
    /// skipped where no threshold is reached and even the highest possible run rate (all of the
    /// month's spend inside the window) would not project an overrun.
    private func recordAlerts(
        _ resolutions: [Resolution], postedAfter: [(resolution: Int, key: BalanceKey, posted: MicroUSD)],
        balances: [BalanceKey: MicroUSD], _ connection: PostgresConnection
    ) async throws -> [Int: [Alert]] {
        struct Candidate {
            var resolution: Int
            var spent: MicroUSD
            var limit: MicroUSD
            var rule: AlertRule
            var window: ForecastWindows.Window?
        }
        /// What this batch posted into `key` after the resolution numbered `resolution`.
        func postedLater(than resolution: Int, into key: BalanceKey) -> MicroUSD {
            postedAfter.reduce(0) { $0 + ($1.resolution > resolution && $1.key == key ? $1.posted : 0) }
        }
        var candidates: [Candidate] = []
        for (number, resolution) in resolutions.enumerated() where resolution.plan.action.postedMicro > 0 {
            guard let limit = resolution.monthlyLimitMicro, let stored = resolution.alertThresholds, limit > 0 else { continue }
            let hold = resolution.after
            let monthKey = BalanceKey(teamID: hold.teamID, position: 1, periodKey: hold.periodMonth)
            let spent = (balances[monthKey] ?? 0) - postedLater(than: number, into: monthKey)
            let rule = AlertRule(limitMicro: limit, storedThresholds: stored)
            let window = ForecastWindows.shared.window(at: resolution.now, zoneIdentifier: resolution.timeZone)
            let current = window.period.month == hold.periodMonth ? window : nil
            let highest = current.map {
                BudgetForecast(
                    now: resolution.now, monthEnd: $0.period.monthEnd, windowStart: $0.start, postedMicro: spent,
                    windowPostedMicro: spent, monthlyLimitMicro: limit)
            }
            guard !rule.candidates(spentMicro: spent, forecast: highest).isEmpty else { continue }
            candidates.append(Candidate(resolution: number, spent: spent, limit: limit, rule: rule, window: current))
        }
        guard !candidates.isEmpty else { return [:] }

        // The alerts the teams have this month, and the run-rate windows' posted spend.
        let questions: [[String: any JSONCell]] = candidates.enumerated().map { number, candidate in
            let hold = resolutions[candidate.resolution].after
            return [
                "n": number, "teamid": hold.teamID, "periodmonth": hold.periodMonth,
                "firstday": json(candidate.window?.firstDay), "lastday": json(candidate.window?.period.day),
            ]
        }
        var existing = Set<String>()
        var windowPosted: [Int: MicroUSD] = [:]
        for (number, row) in try await connection.all("""
            SELECT q.teamID, q.periodMonth,
                ARRAY(SELECT a.kind || ':' || a.thresholdPercent FROM alert a WHERE a.teamID = q.teamID AND a.periodMonth = q.periodMonth),
                (SELECT COALESCE(SUM(postedMicro), 0)::BIGINT FROM balance
                    WHERE teamID = q.teamID AND scope = 'day' AND periodKey >= q.firstDay AND periodKey <= q.lastDay)
            FROM jsonb_to_recordset(\(jsonRows(questions))::jsonb) AS q(n BIGINT, teamID BIGINT, periodMonth TEXT, firstDay TEXT, lastDay TEXT)
            ORDER BY q.n
            """, logger).enumerated() {
            let prefix = "\(try row.int64(0))/\(try row.string(1))/"
            for alert in try row.row[2].decode([String].self) { existing.insert(prefix + alert) }
            windowPosted[number] = try row.optionalInt64(3) ?? 0
        }
        var rows: [[String: any JSONCell]] = []
        for (number, candidate) in candidates.enumerated() {
            let resolution = resolutions[candidate.resolution], hold = resolution.after
            var forecast: BudgetForecast?
            if let window = candidate.window {
                var inWindow = windowPosted[number] ?? 0
                for later in postedAfter where later.resolution > candidate.resolution && later.key.position == 2
                    && later.key.teamID == hold.teamID && later.key.periodKey >= window.firstDay && later.key.periodKey <= window.period.day {
                    inWindow -= later.posted
                }
                forecast = BudgetForecast(
                    now: resolution.now, monthEnd: window.period.monthEnd, windowStart: window.start, postedMicro: candidate.spent,
                    windowPostedMicro: inWindow, monthlyLimitMicro: candidate.limit)
            }
            for alert in candidate.rule.candidates(spentMicro: candidate.spent, forecast: forecast) {
                guard existing.insert("\(hold.teamID)/\(hold.periodMonth)/\(alert.kind.rawValue):\(alert.thresholdPercent)").inserted
                else { continue }
                rows.append([
                    "resolution": candidate.resolution, "teamid": hold.teamID, "periodmonth": hold.periodMonth,
                    "kind": alert.kind.rawValue, "thresholdpercent": alert.thresholdPercent, "limitmicro": candidate.limit,
                    "spentmicro": candidate.spent, "projectedmicro": json(alert.projectedMicro), "holdid": hold.id,
                    "createdat": resolution.now,
                ])
            }
        }
        guard !rows.isEmpty else { return [:] }
        var alerts: [Int: [Alert]] = [:]
        // Another process may have recorded one meanwhile: the insert skips it then.
        for row in try await connection.all("""
            WITH candidates AS (
                SELECT * FROM jsonb_to_recordset(\(jsonRows(rows))::jsonb) AS c(resolution BIGINT, teamID BIGINT,
                    periodMonth TEXT, kind TEXT, thresholdPercent BIGINT, limitMicro BIGINT, spentMicro BIGINT, projectedMicro BIGINT,
                    holdID BIGINT, createdAt BIGINT)
            ), inserted AS (
                INSERT INTO alert (teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro, holdID, createdAt)
                SELECT teamID, periodMonth, kind, thresholdPercent, limitMicro, spentMicro, projectedMicro, holdID, createdAt
                FROM candidates ORDER BY resolution, kind DESC, thresholdPercent
                ON CONFLICT (teamID, periodMonth, kind, thresholdPercent) DO NOTHING
                RETURNING \(unescaped: PostgresLedger.alertColumns)
            )
            SELECT c.resolution, \(unescaped: PostgresLedger.alertColumns.split(separator: ",").map { "i." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
            FROM inserted i JOIN candidates c ON c.teamID = i.teamID AND c.periodMonth = i.periodMonth AND c.kind = i.kind
                AND c.thresholdPercent = i.thresholdPercent
            ORDER BY i.id
            """, logger) {
            let resolution = Int(try row.int64(0))
            let alert = Alert(
                id: try row.int64(1), teamID: try row.int64(2), periodMonth: try row.string(3),
                kind: Alert.Kind(rawValue: try row.string(4)) ?? .threshold, thresholdPercent: try row.int(5),
                limitMicro: try row.int64(6), spentMicro: try row.int64(7), projectedMicro: try row.optionalInt64(8),
                holdID: try row.optionalInt64(9), createdAt: try row.int64(10))
            alerts[resolution, default: []].append(alert)
        }
        return alerts
    }
}

/// The write of ``PostgresHoldBatch``: grants, resolutions and balance increments as three JSON
/// documents (``jsonRows(_:)``), in one statement prepared once per connection, so that the server
/// parses and plans it once rather than for every batch.
struct WriteStatement: PostgresPreparedStatement {
    /// New hold ids and their idempotency keys (by id); the balance rows written and their posted
    /// amounts after the write (by team, scope, period key).
    typealias Row = ([Int64], [String], [Int64], [String], [String], [Int64])

    var grants: String
    var resolutions: String
    var deltas: String

    static let sql = """
        WITH grants AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS g(seq BIGINT, teamID BIGINT,
                idempotencyKey TEXT, fingerprint TEXT, amountMicro BIGINT, provider TEXT, model TEXT, resolution TEXT,
                seconds BIGINT, imageCount BIGINT, catalogVersion TEXT, quoteJSON TEXT, upstreamCostMicro BIGINT,
                marginMicro BIGINT, flatFeeMicro BIGINT, upstreamTaskID TEXT, upstreamRequestID TEXT, periodMonth TEXT,
                periodDay TEXT, countsAgainstCredit BOOLEAN, createdAt BIGINT, deadline BIGINT, callStatus TEXT,
                submittedAt BIGINT, caller TEXT, asyncCall BOOLEAN, monthlyLimitMicro BIGINT, dailyLimitMicro BIGINT,
                creditLimitMicro BIGINT, leaseOwner TEXT, leaseExpiresAt BIGINT)
        ), inserted AS (
            INSERT INTO hold (teamID, idempotencyKey, fingerprint, amountMicro, provider, model, resolution, seconds,
                imageCount, catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID,
                upstreamRequestID, periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, callStatus, submittedAt,
                caller, asyncCall)
            SELECT teamID, idempotencyKey, fingerprint, amountMicro, provider, model, resolution, seconds, imageCount,
                catalogVersion, quoteJSON, upstreamCostMicro, marginMicro, flatFeeMicro, upstreamTaskID, upstreamRequestID,
                periodMonth, periodDay, countsAgainstCredit, createdAt, deadline, callStatus, submittedAt, caller, asyncCall
            FROM grants ORDER BY seq
            ON CONFLICT (idempotencyKey) DO NOTHING
            RETURNING id, idempotencyKey
        ), leases AS (
            INSERT INTO settlementLease (holdID, owner, expiresAt)
            SELECT i.id, g.leaseOwner, g.leaseExpiresAt FROM grants g JOIN inserted i ON i.idempotencyKey = g.idempotencyKey
            WHERE g.leaseOwner IS NOT NULL
        ), resolutions AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(seq BIGINT, holdID BIGINT,
                teamID BIGINT, kind TEXT, postedMicro BIGINT, releasedMicro BIGINT, state TEXT, callStatus TEXT,
                idempotencyKey TEXT, periodMonth TEXT, periodDay TEXT, catalogVersion TEXT, upstreamCostMicro BIGINT,
                marginMicro BIGINT, flatFeeMicro BIGINT, upstreamTaskID TEXT, upstreamRequestID TEXT, billedSeconds BIGINT,
                sellerCostTicks BIGINT, videoURL TEXT, resolvedAt BIGINT, provider TEXT, model TEXT, resolution TEXT,
                seconds BIGINT, usageBilledSeconds BIGINT, imageCount BIGINT, heldMicro BIGINT, latencyMs BIGINT,
                holdCreatedAt BIGINT, caller TEXT, usageSellerCostTicks BIGINT)
        ), journal AS (
            INSERT INTO journalEntry (kind, teamID, holdID, idempotencyKey, amountMicro, releasedMicro, periodMonth, periodDay,
                monthlyLimitMicro, dailyLimitMicro, creditLimitMicro, catalogVersion, upstreamCostMicro, marginMicro,
                flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt)
            SELECT kind, teamID, holdID, idempotencyKey, amountMicro, releasedMicro, periodMonth, periodDay,
                monthlyLimitMicro, dailyLimitMicro, creditLimitMicro, catalogVersion, upstreamCostMicro, marginMicro,
                flatFeeMicro, upstreamTaskID, upstreamRequestID, createdAt
            FROM (
                SELECT g.seq, 'hold' AS kind, g.teamID, i.id AS holdID, g.idempotencyKey, g.amountMicro, 0::BIGINT AS releasedMicro,
                    g.periodMonth, g.periodDay, g.monthlyLimitMicro, g.dailyLimitMicro, g.creditLimitMicro, g.catalogVersion,
                    g.upstreamCostMicro, g.marginMicro, g.flatFeeMicro, g.upstreamTaskID, g.upstreamRequestID, g.createdAt
                FROM grants g JOIN inserted i ON i.idempotencyKey = g.idempotencyKey
                UNION ALL
                SELECT r.seq, r.kind, r.teamID, r.holdID, r.idempotencyKey, r.postedMicro, r.releasedMicro, r.periodMonth,
                    r.periodDay, NULL, NULL, NULL, r.catalogVersion, r.upstreamCostMicro, r.marginMicro, r.flatFeeMicro,
                    r.upstreamTaskID, r.upstreamRequestID, r.resolvedAt
                FROM resolutions r
            ) entries ORDER BY seq
        ), updated AS (
            UPDATE hold h SET state = r.state, postedMicro = r.postedMicro, callStatus = r.callStatus,
                upstreamRequestID = r.upstreamRequestID, resolvedAt = r.resolvedAt, billedSeconds = r.billedSeconds,
                sellerCostTicks = r.sellerCostTicks, videoURL = r.videoURL
            FROM resolutions r WHERE h.id = r.holdID AND h.teamID = r.teamID
        ), usage AS (
            INSERT INTO usageEvent (holdID, teamID, idempotencyKey, provider, model, resolution, seconds, billedSeconds,
                imageCount, status, outcome, heldMicro, chargedMicro, upstreamCostMicro, marginMicro, flatFeeMicro,
                catalogVersion, latencyMs, upstreamTaskID, upstreamRequestID, periodMonth, periodDay, createdAt, finishedAt,
                caller, sellerCostTicks)
            SELECT holdID, teamID, idempotencyKey, provider, model, resolution, seconds, usageBilledSeconds, imageCount,
                callStatus, state, heldMicro, postedMicro, upstreamCostMicro, marginMicro, flatFeeMicro, catalogVersion,
                latencyMs, upstreamTaskID, upstreamRequestID, periodMonth, periodDay, holdCreatedAt, resolvedAt, caller,
                usageSellerCostTicks
            FROM resolutions ORDER BY seq
        ), balances AS (
            INSERT INTO balance (teamID, scope, periodKey, postedMicro, pendingMicro)
            SELECT teamID, scope, periodKey, postedMicro, pendingMicro
            FROM jsonb_to_recordset($3::jsonb) AS d(teamID BIGINT, position BIGINT, scope TEXT,
                periodKey TEXT, postedMicro BIGINT, pendingMicro BIGINT)
            ORDER BY teamID, position, periodKey
            ON CONFLICT (teamID, scope, periodKey) DO UPDATE SET
                postedMicro = balance.postedMicro + excluded.postedMicro, pendingMicro = balance.pendingMicro + excluded.pendingMicro
            RETURNING teamID, scope, periodKey, postedMicro
        )
        SELECT ARRAY(SELECT id FROM inserted ORDER BY id), ARRAY(SELECT idempotencyKey FROM inserted ORDER BY id),
            ARRAY(SELECT teamID FROM balances ORDER BY teamID, scope, periodKey),
            ARRAY(SELECT scope FROM balances ORDER BY teamID, scope, periodKey),
            ARRAY(SELECT periodKey FROM balances ORDER BY teamID, scope, periodKey),
            ARRAY(SELECT postedMicro FROM balances ORDER BY teamID, scope, periodKey)
"""

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(binding: grants, resolutions, deltas)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

// MARK: - The batch's reads, prepared once per connection

/// A read of ``PostgresHoldBatch`` whose rows are read by column position (``Cells``), prepared
/// once per connection like ``WriteStatement``: the server parses and plans each once, not for
/// every batch.
protocol BatchRead: PostgresPreparedStatement where Row == Cells {
    var bindings: PostgresBindings { get }
}

extension BatchRead {
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Cells { Cells(row: row.makeRandomAccess()) }
}

extension PostgresBindings {
    /// Bindings for `$1`, `$2`, … in order.
    init<each Value: PostgresNonThrowingEncodable>(binding values: repeat each Value) {
        self.init()
        for value in repeat each values { append(value) }
    }
}

extension PostgresConnection {
    func all<Read: BatchRead>(_ read: Read, _ logger: Logger) async throws -> [Cells] {
        var rows: [Cells] = []
        for try await row in try await execute(read, logger: logger) { rows.append(row) }
        return rows
    }
}

/// Locks the budget rows of the named teams, in team id order.
struct LockBudgets: BatchRead {
    static let sql = """
        SELECT t.id, t.name, t.timeZone, b.monthlyLimitMicro, b.dailyLimitMicro, b.creditMicro
        FROM team t JOIN budget b ON b.teamID = t.id WHERE t.name = ANY($1) ORDER BY t.id FOR UPDATE OF b
        """
    let bindings: PostgresBindings

    init(_ names: [String]) { bindings = PostgresBindings(binding: names) }
}

/// Locks the named holds, in id order, with what resolving each needs of its team and budget.
struct LockHolds: BatchRead {
    static let sql = """
        SELECT \(PostgresHoldBatch.qualifiedHoldColumns), h.asyncCall, t.timeZone, b.monthlyLimitMicro, b.alertThresholds
        FROM hold h JOIN team t ON t.id = h.teamID LEFT JOIN budget b ON b.teamID = h.teamID
        WHERE h.id = ANY($1) ORDER BY h.id FOR UPDATE OF h
        """
    let bindings: PostgresBindings

    init(_ holdIDs: [Int64]) { bindings = PostgresBindings(binding: holdIDs) }
}

/// The holds already under the batch's idempotency keys.
struct HoldsUnderKeys: BatchRead {
    static let sql = "SELECT \(PostgresLedger.holdColumns) FROM hold WHERE idempotencyKey = ANY($1)"
    let bindings: PostgresBindings

    init(_ keys: [String]) { bindings = PostgresBindings(binding: keys) }
}

/// The used amounts of the balance rows the grants are admitted against, and the pending async
/// holds of the capped teams.
struct BalancesUsed: BatchRead {
    static let sql = """
        SELECT teamID, scope, periodKey, postedMicro + pendingMicro FROM balance WHERE teamID = ANY($1)
            AND ((scope = 'month' AND periodKey = ANY($2)) OR (scope = 'day' AND periodKey = ANY($3))
                OR (scope = 'credit' AND periodKey = ''))
        UNION ALL
        SELECT teamID, 'async', '', count(*) FROM hold
        WHERE teamID = ANY($4) AND state = 'pending' AND asyncCall GROUP BY teamID
        """
    let bindings: PostgresBindings

    init(_ teamIDs: [Int64], _ monthKeys: [String], _ dayKeys: [String], _ capped: [Int64]) {
        bindings = PostgresBindings(binding: teamIDs, monthKeys, dayKeys, capped)
    }
}

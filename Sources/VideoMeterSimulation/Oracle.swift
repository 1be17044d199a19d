import Foundation
import VideoMeter
@_spi(Simulation) import VideoMeterLedger

/// An invariant that did not hold.
public struct Violation: Error, Sendable, Equatable {
    /// The invariant's short name (`budget`, `journal`, `charge`, `verify`, ...).
    public var invariant: String
    public var detail: String
}

/// Checks the ledger against the limits in force and against what the upstream really did.
///
/// It follows the journal as it grows (each step reads only the new entries), keeps its own sums
/// of it, and compares them with the ledger's balances; the full `verify` runs every few steps and
/// at the end.
final class Oracle {
    typealias WindowKey = SimulationWindow
    typealias Sums = SimulationSums
    /// One journal entry as first read, to prove later that it never changed.
    typealias Entry = SimulationJournalEntry

    private struct Grant {
        var teamID: Int64
        var amount: MicroUSD
        var keys: [WindowKey]
    }

    let store: any SimulationObservable
    let catalog: Catalog
    private(set) var entries: [Entry] = []
    private var sums: [WindowKey: Sums] = [:]
    /// The sums of all windows together.
    private var totals = Sums()
    private var grants: [Int64: Grant] = [:]
    /// The windows of each granted hold (the grants' keys, kept apart so that a step's read can
    /// take them without copying).
    private var grantWindows: [Int64: [WindowKey]] = [:]
    private var resolutions: [Int64: String] = [:]
    /// The highest limit in force while each window was current (nil: no limit applied).
    private var allowed: [WindowKey: MicroUSD?] = [:]
    /// Each team's limits as the simulator last set them: a hold granted now must fit them.
    private var limitsNow: [Int64: (monthly: MicroUSD, daily: MicroUSD?, credit: MicroUSD?)] = [:]

    init(store: any SimulationObservable, catalog: Catalog) {
        self.store = store
        self.catalog = catalog
    }

    // MARK: - Limits

    /// Records the limits in force now for the windows current now; a month or day keeps the
    /// highest limit it has seen (a lowered limit refuses new holds but does not undo old ones).
    func limitsInForce(teamID: Int64, period: BudgetPeriod, monthly: MicroUSD, daily: MicroUSD?, credit: MicroUSD?) {
        func raise(_ key: WindowKey, _ limit: MicroUSD?) {
            switch allowed[key] {
            case .none: allowed[key] = .some(limit)
            case .some(.none): break
            case .some(.some(let old)): allowed[key] = .some(limit.map { max($0, old) })
            }
        }
        limitsNow[teamID] = (monthly, daily, credit)
        raise(WindowKey(teamID: teamID, scope: "month", key: period.month), monthly)
        raise(WindowKey(teamID: teamID, scope: "day", key: period.day), daily)
        // Credit only grows, and only holds granted while the team has credit count against it:
        // its limit is the credit now (a team without credit has no credit window).
        allowed[WindowKey(teamID: teamID, scope: "credit", key: "")] = .some(credit)
    }

    // MARK: - The journal, step by step

    typealias Reading = SimulationStepReading

    /// Reads what changed since the last step, and the holds of `keys`, in one snapshot.
    ///
    /// The cost of a step does not grow with the ledger's history: the new entries, the balance
    /// rows of the windows they touch (compared exactly), and the balance table's count and totals
    /// (compared with the oracle's, so a change to any other window shows at once).
    /// ``checkBalances()`` compares every window, row by row, with the full `verify`.
    func read(keys: [String]) async throws -> Reading {
        let lastID = entries.last?.id ?? 0
        // The windows of the holds granted before this step, for the entries that resolve them.
        let earlier = grantWindows
        return try await store.simulationStep(after: lastID, keys: keys) { fresh in
            var touched = Set<WindowKey>()
            var granted: [Int64: [WindowKey]] = [:]
            for entry in fresh {
                guard let holdID = entry.holdID else { continue }
                if entry.kind == "hold" {
                    let keys = Oracle.windows(of: entry)
                    granted[holdID] = keys
                    touched.formUnion(keys)
                } else {
                    touched.formUnion(granted[holdID] ?? earlier[holdID] ?? [])
                }
            }
            return touched
        }
    }

    /// The windows a hold entry counts in: its month and day, and the credit when it counts
    /// against it.
    static func windows(of entry: Entry) -> [WindowKey] {
        guard let month = entry.month, let day = entry.day else { return [] }
        var keys = [WindowKey(teamID: entry.teamID, scope: "month", key: month), WindowKey(teamID: entry.teamID, scope: "day", key: day)]
        if entry.creditLimit != nil { keys.append(WindowKey(teamID: entry.teamID, scope: "credit", key: "")) }
        return keys
    }

    /// Checks the new journal entries of `reading` and the balances, and returns the holds they
    /// resolve (with the kind of resolution).
    func followJournal(_ reading: Reading) async throws -> [(holdID: Int64, kind: String)] {
        let fresh = reading.fresh, count = reading.journalCount
        guard count == entries.count + fresh.count else {
            throw Violation(invariant: "journal", detail: "the journal has \(count) entries, but \(entries.count) were seen before and \(fresh.count) are new: an entry was removed")
        }
        var resolved: [(Int64, String)] = []
        var touched = Set<WindowKey>()
        for entry in fresh {
            entries.append(entry)
            switch entry.kind {
            case "credit":
                break
            case "hold":
                guard let holdID = entry.holdID, entry.month != nil, entry.day != nil else {
                    throw Violation(invariant: "journal", detail: "entry \(entry.id): a hold entry without its hold or periods")
                }
                guard grants[holdID] == nil else { throw Violation(invariant: "journal", detail: "hold \(holdID) granted twice") }
                let keys = Self.windows(of: entry)
                // Granted now, so it must fit the limits the simulator has set, whatever the
                // ledger recorded with it.
                if let limits = limitsNow[entry.teamID] {
                    for key in keys {
                        let limit = key.scope == "month" ? limits.monthly : key.scope == "day" ? limits.daily : limits.credit
                        let used = (sums[key]?.posted ?? 0) + (sums[key]?.pending ?? 0) + entry.amount
                        if let limit, used > limit {
                            throw Violation(invariant: "budget", detail: "hold \(holdID) granted: \(key.label) posted + pending \(Money.format(micro: used)) > limit \(Money.format(micro: limit)) USD")
                        }
                    }
                }
                for key in keys {
                    sums[key, default: Sums()].pending += entry.amount
                    totals.pending += entry.amount
                    touched.insert(key)
                }
                grants[holdID] = Grant(teamID: entry.teamID, amount: entry.amount, keys: keys)
                grantWindows[holdID] = keys
            case "post", "void", "expire":
                guard let holdID = entry.holdID, let grant = grants[holdID] else {
                    throw Violation(invariant: "journal", detail: "entry \(entry.id): a \(entry.kind) of a hold never granted")
                }
                if let first = resolutions[holdID] {
                    throw Violation(invariant: "resolve-once", detail: "hold \(holdID) resolved twice: \(first), then \(entry.kind) (entry \(entry.id))")
                }
                guard entry.amount >= 0, entry.amount <= grant.amount, entry.amount + entry.released == grant.amount,
                      entry.kind == "post" || entry.amount == 0
                else {
                    throw Violation(invariant: "journal", detail: "entry \(entry.id): \(entry.kind) of hold \(holdID) moves \(entry.amount) + \(entry.released) of \(grant.amount) held")
                }
                resolutions[holdID] = entry.kind
                for key in grant.keys {
                    sums[key, default: Sums()].pending -= grant.amount
                    sums[key, default: Sums()].posted += entry.amount
                    totals.pending -= grant.amount
                    totals.posted += entry.amount
                    touched.insert(key)
                }
                resolved.append((holdID, entry.kind))
            default:
                throw Violation(invariant: "journal", detail: "entry \(entry.id): unknown kind \(entry.kind)")
            }
        }

        // The windows the new entries touched, row by row; every other window through the table's
        // count and totals. Only when something is wrong does the full pass run, to name it.
        let rows = reading.balances
        let stored = (count: reading.balanceCount, sums: reading.balanceTotals)
        let touchedHold = touched.allSatisfy { key in
            guard let actual = rows[key], actual == sums[key], actual.pending >= 0 else { return false }
            return fits(key, actual)
        }
        if touchedHold && stored.count == sums.count && stored.sums == totals { return resolved }
        try await checkBalances()
        throw Violation(invariant: "balances", detail: "the balance table has \(stored.count) windows totalling posted \(Money.format(micro: stored.sums.posted)) / pending \(Money.format(micro: stored.sums.pending)), the journal \(sums.count) totalling \(Money.format(micro: totals.posted)) / \(Money.format(micro: totals.pending))")
    }

    /// Whether a window's use fits the highest limit in force while it was current.
    private func fits(_ key: WindowKey, _ actual: Sums) -> Bool {
        let used = actual.posted + actual.pending
        if used == 0 { return true }
        guard let limit = allowed[key] else { return false }
        return limit.map { used <= $0 } ?? true
    }

    /// Compares every balance row with the journal's sums and every window with its limits, in
    /// window order, and names the first problem.
    func checkBalances() async throws {
        let balances = try await store.simulationBalances()
        var stored: [WindowKey: Sums] = [:]
        for (key, value) in balances { stored[key] = value }
        for key in Set(stored.keys).union(sums.keys).sorted() {
            let expected = sums[key] ?? Sums()
            let actual = stored[key] ?? Sums()
            guard expected == actual else {
                throw Violation(invariant: "balances", detail: "\(key.label): stored posted \(Money.format(micro: actual.posted)) / pending \(Money.format(micro: actual.pending)), the journal sums to \(Money.format(micro: expected.posted)) / \(Money.format(micro: expected.pending))")
            }
            guard actual.pending >= 0 else { throw Violation(invariant: "balances", detail: "\(key.label): negative pending amount") }
            let used = actual.posted + actual.pending
            if used == 0 { continue }
            guard let limit = allowed[key] else {
                throw Violation(invariant: "budget", detail: "\(key.label): \(Money.format(micro: used)) used in a window in which no limit was ever in force")
            }
            if let limit, used > limit {
                throw Violation(invariant: "budget", detail: "\(key.label): posted + pending \(Money.format(micro: used)) > limit \(Money.format(micro: limit)) USD")
            }
        }
    }

    /// The journal's entries are still the ones first read (nothing edited in place).
    func checkAppendOnly() async throws {
        let stored = try await store.simulationJournal(upTo: entries.last?.id ?? 0)
        guard stored == entries else {
            let changed = zip(stored, entries).first { $0 != $1 }.map { "entry \($0.1.id)" } ?? "the entry count"
            throw Violation(invariant: "journal", detail: "the journal changed in place: \(changed) differs from what was first read")
        }
    }

    // MARK: - Charges against the upstream's truth

    /// What a call the upstream completed for `seconds` must be charged: the price of those
    /// seconds at the rates of the price list stored on the hold, never more than held.
    func expectedCharge(for hold: Hold, seconds: Int) throws -> MicroUSD {
        let quote = try catalog.reprice(
            provider: hold.provider, model: hold.model, seconds: seconds, resolution: hold.resolution, imageCount: hold.imageCount,
            version: hold.catalogVersion)
        return min(quote.totalMicro, hold.amountMicro)
    }

    /// Checks a hold the journal just resolved against the call record of its key.
    func checkResolution(_ hold: Hold, kind: String, record: CallRecord?, tasks: [String: UpstreamTask], now: Int64) throws {
        guard let record else {
            throw Violation(invariant: "charge", detail: "hold \(hold.id) has key \(hold.idempotencyKey), which no caller used")
        }
        if let quoted = record.quotedMicro, quoted != hold.amountMicro {
            throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) holds \(Money.format(micro: hold.amountMicro)), the quote was \(Money.format(micro: quoted)) USD")
        }
        switch kind {
        case "post":
            guard let seconds = record.generatedSeconds else {
                throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) charged \(Money.format(micro: hold.postedMicro)) USD, but the upstream completed no billable call for it")
            }
            if record.style == .sync, !record.videoDelivered {
                throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) charged for a video that was never delivered")
            }
            if record.style == .async, let taskID = record.taskID, let task = tasks[taskID], task.finishesAt > now {
                throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) charged before its task \(taskID) succeeded")
            }
            let expected = try expectedCharge(for: hold, seconds: seconds)
            guard hold.postedMicro == expected else {
                throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) charged \(Money.format(micro: hold.postedMicro)) USD for \(seconds) s reported; the quote's price is \(Money.format(micro: expected)) USD")
            }
        case "void":
            if let seconds = record.generatedSeconds {
                throw Violation(invariant: "charge", detail: "hold \(hold.id) (\(record.key)) voided, but the upstream completed the call (\(seconds) s)")
            }
        default:
            break
        }
    }

    /// Checks what an answer that a surviving process received implies for its hold, at the end of
    /// the step in which it arrived.
    func checkDelivery(_ delivery: Delivery, record: CallRecord, hold: Hold?, lateSuccesses: Set<Int64>) throws {
        let label = "\(record.key) (\(delivery.kind))"
        guard let hold else {
            throw Violation(invariant: "lifecycle", detail: "the upstream answered \(label) but the ledger has no hold for it")
        }
        let beforeDeadline = delivery.time * 1000 < hold.deadline
        switch delivery.kind {
        case .taskCreated(let id):
            // Also when the hold expired while the create was in flight: without the id on it,
            // reconciliation could never find the task's success for review.
            if hold.upstreamTaskID != id {
                throw Violation(invariant: "task-id", detail: "hold \(hold.id) (\(hold.state.rawValue)): task \(id) was created and its id delivered, but the hold records \(hold.upstreamTaskID ?? "no task id")")
            }
        case .video, .terminal(.succeeded):
            if beforeDeadline {
                guard hold.state == .posted else {
                    throw Violation(invariant: "charge", detail: "hold \(hold.id): \(label) arrived before the deadline, but the hold is \(hold.state.rawValue)")
                }
            } else {
                guard hold.state != .posted || hold.resolvedAt.map({ $0 < hold.deadline }) == true else {
                    throw Violation(invariant: "charge", detail: "hold \(hold.id): charged after its deadline")
                }
                if hold.state != .posted && !lateSuccesses.contains(hold.id) {
                    throw Violation(invariant: "late-success", detail: "hold \(hold.id): \(label) arrived after the hold's deadline and was not recorded as a late success")
                }
            }
        case .terminal:
            if hold.state == .pending {
                throw Violation(invariant: "settle", detail: "hold \(hold.id): the task ended (\(delivery.kind)) and a process read it, but the hold is still pending")
            }
        case .refused(let code):
            // Voided; or expired, when the refusal came after the deadline and a sweeper got there first.
            if hold.state != .voided && (beforeDeadline || hold.state != .expired) {
                throw Violation(invariant: "settle", detail: "hold \(hold.id): the upstream refused the call (\(code)), but the hold is \(hold.state.rawValue)")
            }
        case .dropped:
            if hold.state == .posted || hold.state == .voided {
                throw Violation(invariant: "settle", detail: "hold \(hold.id): the answer was lost, the outcome unknown, yet the hold is \(hold.state.rawValue)")
            }
        }
    }
}

extension Delivery.Kind: CustomStringConvertible {
    var description: String {
        switch self {
        case .video(let seconds): "video of \(seconds) s"
        case .refused(let code): "refused \(code)"
        case .dropped: "answer dropped"
        case .taskCreated(let id): "task \(id) created"
        case .terminal(let state): "task \(state.rawValue)"
        }
    }
}

extension SimulationWindow {
    var label: String { "team \(teamID) \(scope) \(key.isEmpty ? "(all time)" : key)" }
}

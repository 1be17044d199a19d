import Foundation
import VideoMeter

/// A `LedgerTransfer` store can hand over every row of its ledger and take in a whole ledger: what
/// ``LedgerCopy`` moves a ledger between stores with (`videometer ledger copy`).
///
/// Rows travel in a store-neutral form (``LedgerTable``, ``LedgerValue``): the two stores keep the
/// same tables and columns, ids included, so a copied ledger is the same ledger.
public protocol LedgerTransfer: Sendable {
    /// Streams every row, table by table in ``LedgerTable/allCases`` order (parents before the rows
    /// that refer to them), each table in key order, in batches of at most `batchSize` rows, all
    /// read from one consistent snapshot; `receive` is awaited before the next batch is read.
    func exportRows(batchSize: Int, _ receive: @escaping @Sendable (LedgerTable, [[LedgerValue]]) async throws -> Void) async throws

    /// Writes the batches `rows` yields (as ``exportRows(batchSize:_:)`` produced them) in one
    /// transaction: all of them or, on any error, none. Refuses a store that holds any row
    /// (`ledger_copy_target_not_empty`) unless `replace`, which first deletes every row in the
    /// same transaction. Ids are kept; identity sequences continue after the highest id.
    func importRows(replace: Bool, from rows: LedgerRowStream) async throws
}

/// A cell of a row in transfer: the stores keep integers (amounts, instants, ids, flags) and text.
public enum LedgerValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
}

/// The ledger's tables, in the order a copy writes them (a row's parents first), with their
/// columns: the same in both stores.
public enum LedgerTable: String, CaseIterable, Sendable {
    case team, budget, hold, journalEntry, balance, usageEvent, alert, lateSuccess, apiKey, gatewayTask, gatewayReplay, settlementLease

    /// How a column is stored.
    public enum Kind: Sendable { case integer, text, boolean }

    /// The columns, in transfer order.
    public var columns: [(name: String, kind: Kind)] {
        switch self {
        case .team: [("id", .integer), ("name", .text), ("timeZone", .text), ("createdAt", .integer)]
        case .budget:
            [("teamID", .integer), ("monthlyLimitMicro", .integer), ("dailyLimitMicro", .integer), ("creditMicro", .integer),
             ("alertThresholds", .text), ("updatedAt", .integer)]
        case .hold:
            [("id", .integer), ("teamID", .integer), ("idempotencyKey", .text), ("fingerprint", .text), ("amountMicro", .integer),
             ("postedMicro", .integer), ("state", .text), ("callStatus", .text), ("provider", .text), ("model", .text),
             ("resolution", .text), ("seconds", .integer), ("imageCount", .integer), ("catalogVersion", .text),
             ("quoteJSON", .text), ("upstreamCostMicro", .integer), ("marginMicro", .integer), ("upstreamTaskID", .text),
             ("upstreamRequestID", .text), ("periodMonth", .text), ("periodDay", .text), ("countsAgainstCredit", .boolean),
             ("createdAt", .integer), ("deadline", .integer), ("submittedAt", .integer), ("resolvedAt", .integer),
             ("caller", .text), ("billedSeconds", .integer), ("flatFeeMicro", .integer), ("sellerCostTicks", .integer),
             ("videoURL", .text), ("asyncCall", .boolean)]
        case .journalEntry:
            [("id", .integer), ("kind", .text), ("teamID", .integer), ("holdID", .integer), ("idempotencyKey", .text),
             ("amountMicro", .integer), ("releasedMicro", .integer), ("periodMonth", .text), ("periodDay", .text),
             ("monthlyLimitMicro", .integer), ("dailyLimitMicro", .integer), ("creditLimitMicro", .integer),
             ("catalogVersion", .text), ("upstreamCostMicro", .integer), ("marginMicro", .integer), ("upstreamTaskID", .text),
             ("upstreamRequestID", .text), ("createdAt", .integer), ("flatFeeMicro", .integer)]
        case .balance:
            [("teamID", .integer), ("scope", .text), ("periodKey", .text), ("postedMicro", .integer), ("pendingMicro", .integer)]
        case .usageEvent:
            [("id", .integer), ("holdID", .integer), ("teamID", .integer), ("idempotencyKey", .text), ("provider", .text),
             ("model", .text), ("resolution", .text), ("seconds", .integer), ("billedSeconds", .integer), ("imageCount", .integer),
             ("status", .text), ("outcome", .text), ("heldMicro", .integer), ("chargedMicro", .integer),
             ("upstreamCostMicro", .integer), ("marginMicro", .integer), ("catalogVersion", .text), ("latencyMs", .integer),
             ("upstreamTaskID", .text), ("upstreamRequestID", .text), ("periodMonth", .text), ("periodDay", .text),
             ("createdAt", .integer), ("finishedAt", .integer), ("caller", .text), ("flatFeeMicro", .integer),
             ("sellerCostTicks", .integer)]
        case .alert:
            [("id", .integer), ("teamID", .integer), ("periodMonth", .text), ("kind", .text), ("thresholdPercent", .integer),
             ("limitMicro", .integer), ("spentMicro", .integer), ("projectedMicro", .integer), ("holdID", .integer),
             ("createdAt", .integer)]
        case .lateSuccess:
            [("id", .integer), ("holdID", .integer), ("teamID", .integer), ("holdState", .text), ("amountMicro", .integer),
             ("upstreamTaskID", .text), ("upstreamRequestID", .text), ("note", .text), ("detectedAt", .integer)]
        case .apiKey:
            [("id", .integer), ("keyHash", .text), ("prefix", .text), ("teamID", .integer), ("name", .text),
             ("createdAt", .integer), ("revokedAt", .integer)]
        case .gatewayTask: [("id", .text), ("holdID", .integer), ("teamID", .integer), ("apiKeyID", .integer), ("createdAt", .integer)]
        case .gatewayReplay: [("holdID", .integer), ("responseJSON", .text), ("createdAt", .integer)]
        case .settlementLease: [("holdID", .integer), ("owner", .text), ("expiresAt", .integer)]
        }
    }

    /// The columns of the primary key: the order rows are read in, and where a batch resumes.
    public var key: [String] {
        switch self {
        case .budget: ["teamID"]
        case .balance: ["teamID", "scope", "periodKey"]
        case .gatewayReplay, .settlementLease: ["holdID"]
        default: ["id"]
        }
    }

    /// Whether the store numbers the rows itself (`id`), so a copy must move the numbering past
    /// the ids it wrote.
    public var numbersRows: Bool {
        switch self {
        case .budget, .balance, .gatewayTask, .gatewayReplay, .settlementLease: false
        default: true
        }
    }

    /// What a store holds beyond the tables and columns a copy knows (`table` or `table.column`,
    /// compared without case: PostgreSQL folds unquoted names to lower case), given its tables'
    /// columns; bookkeeping tables (`migrationTables`) aside. A copy refuses such a source rather
    /// than leave data behind.
    public static func unknownSchema(_ columnsByTable: [String: [String]], migrationTables: Set<String>) -> [String] {
        let known = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue.lowercased(), Set($0.columns.map { $0.name.lowercased() })) })
        var unknown: [String] = []
        for (table, columns) in columnsByTable where !migrationTables.contains(table.lowercased()) {
            guard let knownColumns = known[table.lowercased()] else {
                unknown.append(table)
                continue
            }
            unknown += columns.filter { !knownColumns.contains($0.lowercased()) }.map { "\(table).\($0)" }
        }
        return unknown.sorted()
    }

    /// The positions of ``key`` in ``columns``.
    public var keyPositions: [Int] {
        key.map { name in columns.firstIndex { $0.name == name }! }
    }
}

/// The batches of one copy, from the reading store to the writing one: a bounded buffer (two
/// batches), so a ledger of a million events is never all in memory. The writer takes batches
/// with `next()` (async) or `nextBlocking()` (from a thread that may block, such as a database's
/// own writer queue); the reader puts them with `put(_:_:)`, which waits while the buffer is full.
public final class LedgerRowStream: @unchecked Sendable {
    public typealias Batch = (table: LedgerTable, rows: [[LedgerValue]])

    private struct State {
        var buffer: [Batch] = []
        var finished = false
        var failure: (any Error)?
        var abandoned: (any Error)?
        var producer: CheckedContinuation<Void, any Error>?
        var consumer: CheckedContinuation<Batch?, any Error>?
    }

    private let lock = NSLock()
    private var state = State()
    private let available = DispatchSemaphore(value: 0)
    private let capacity = 2

    public init() {}

    /// Hands a batch to the writer; waits while the buffer is full. Throws the writer's error once
    /// it has given up.
    public func put(_ table: LedgerTable, _ rows: [[LedgerValue]]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            locked { state in
                if let error = state.abandoned {
                    continuation.resume(throwing: error)
                } else if let consumer = state.consumer {
                    state.consumer = nil
                    consumer.resume(returning: (table, rows))
                    continuation.resume()
                } else {
                    state.buffer.append((table, rows))
                    available.signal()
                    if state.buffer.count < capacity { continuation.resume() } else { state.producer = continuation }
                }
            }
        }
    }

    /// No more batches: the writer's `next` returns nil, or throws `error`.
    public func finish(throwing error: (any Error)? = nil) {
        locked { state in
            state.finished = true
            state.failure = error
            available.signal()
            if let consumer = state.consumer {
                state.consumer = nil
                if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
            }
        }
    }

    /// The writer gives up (its transaction failed): the reader's next `put` throws `error`.
    public func abandon(_ error: any Error) {
        locked { state in
            state.abandoned = error
            state.buffer = []
            state.producer?.resume(throwing: error)
            state.producer = nil
        }
    }

    /// The next batch, nil after the last.
    public func next() async throws -> Batch? {
        try await withCheckedThrowingContinuation { continuation in
            locked { state in
                if let batch = take(&state) {
                    continuation.resume(returning: batch)
                } else if state.finished {
                    if let error = state.failure { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
                } else {
                    state.consumer = continuation
                }
            }
        }
    }

    /// The next batch, nil after the last, blocking the calling thread while there is none yet.
    public func nextBlocking() throws -> Batch? {
        while true {
            available.wait()
            let (batch, done, error) = locked { state in (take(&state), state.finished, state.failure) }
            if let batch { return batch }
            if done {
                available.signal()
                if let error { throw error }
                return nil
            }
        }
    }

    private func take(_ state: inout State) -> Batch? {
        guard !state.buffer.isEmpty else { return nil }
        let batch = state.buffer.removeFirst()
        state.producer?.resume()
        state.producer = nil
        return batch
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }
}

/// What a copy moved: rows per table.
public struct LedgerCopyReport: Sendable, Equatable {
    public var rows: [LedgerTable: Int] = [:]
    public var totalRows: Int { rows.values.reduce(0, +) }

    public init() {}
}

/// Copies a whole ledger from one store to another (SQLite to PostgreSQL and back): teams, budgets,
/// holds, the journal, balances, usage events, alerts, late successes, API keys, gateway tasks and
/// stored replays, ids and all.
///
/// The source is read from one snapshot, in batches (``batchSize`` rows), while the target writes
/// them in one transaction: a copy lands whole or not at all, and a ledger of a million events is
/// never held in memory. A target that holds any row is refused (`ledger_copy_target_not_empty`)
/// unless `replace`. Afterwards `verify` on the target agrees with the source to the micro-dollar
/// and the reports render the same from both.
public enum LedgerCopy {
    public static let batchSize = 500

    @discardableResult
    public static func copy(
        from source: any LedgerTransfer, to target: any LedgerTransfer, replace: Bool = false, batchSize: Int = LedgerCopy.batchSize
    ) async throws -> LedgerCopyReport {
        precondition(batchSize > 0, "a batch holds at least one row")
        let stream = LedgerRowStream()
        let counts = Counts()
        let reading = Task {
            do {
                try await source.exportRows(batchSize: batchSize) { table, rows in
                    counts.add(table, rows.count)
                    try await stream.put(table, rows)
                }
                stream.finish()
            } catch {
                stream.finish(throwing: error)
            }
        }
        do {
            try await target.importRows(replace: replace, from: stream)
        } catch {
            stream.abandon(error)
            _ = await reading.result
            throw error
        }
        await reading.value
        return counts.report
    }

    final class Counts: @unchecked Sendable {
        private let lock = NSLock()
        private var value = LedgerCopyReport()
        func add(_ table: LedgerTable, _ count: Int) { lock.withLock { value.rows[table, default: 0] += count } }
        var report: LedgerCopyReport { lock.withLock { value } }
    }
}

/// Why a copy refused to run.
public struct LedgerCopyError: CodedError, Equatable {
    public let code: String
    public let message: String

    public static func unknownSchema(_ names: [String]) -> Self {
        Self(code: "ledger_copy_unknown_schema", message: """
            The source ledger has tables or columns this videometer cannot copy (\(names.joined(separator: ", "))); \
            nothing was copied. Copy it with the videometer that wrote it.
            """)
    }

    public static func targetNotEmpty(_ table: LedgerTable) -> Self {
        Self(code: "ledger_copy_target_not_empty", message: """
            The target ledger already holds data (table \(table.rawValue) has rows); nothing was copied. \
            Copy into an empty ledger, or pass replace (`--replace`) to delete everything in the target first.
            """)
    }
}

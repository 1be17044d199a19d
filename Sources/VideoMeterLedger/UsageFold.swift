import GRDB
import GRDBSQLite
import VideoMeter

/// A month of usage events read once, in time order, and folded into the two aggregates a report
/// in another time zone needs (`report --timezone`): usage per team, local day, provider, model,
/// resolution, status, price list and outcome; and spend per team and caller.
///
/// SQL would group these rows with a sort of the whole month (the local day of another zone is an
/// expression of `createdAt`, which no index can order by): about ten seconds over a million
/// events. Read instead from `usageEvent_instants` (v8), which holds every column needed in
/// `(teamID, createdAt)` order, each team's rows arrive in time order, so the local day only ever
/// advances, and the text columns (a handful of distinct values) are interned by their bytes, so a
/// million rows allocate a string per distinct value, not per row.
public enum UsageFold {
    public struct UsageKey: Hashable, Sendable {
        public var teamID: Int64
        public var day: Int
        public var provider, model, resolution, status, catalogVersion, outcome: String
    }

    public struct UsageSums: Sendable, Equatable {
        public var requests: Int64 = 0
        /// `billedSeconds`, else `seconds`, summed.
        public var seconds: Int64 = 0
        public var chargedMicro: MicroUSD = 0
        public var upstreamCostMicro: MicroUSD = 0
    }

    public struct CallerKey: Hashable, Sendable {
        public var teamID: Int64
        /// `nil`: calls with no caller recorded.
        public var caller: String?
    }

    public struct CallerSums: Sendable, Equatable {
        public var requests: Int64 = 0
        public var chargedMicro: MicroUSD = 0
    }

    public struct Result: Sendable {
        public var usage: [UsageKey: UsageSums]
        public var callers: [CallerKey: CallerSums]
    }

    /// Folds the usage events of `teamIDs` granted in `[start, end)` (milliseconds), whose local
    /// days end at `dayEnds` (ascending milliseconds; the last is `end`).
    public static func run(_ db: Database, teamIDs: [Int64], start: Int64, end: Int64, dayEnds: [Int64]) throws -> Result {
        precondition(!dayEnds.isEmpty, "a period has at least one day")
        let statement = try db.cachedStatement(sql: """
            SELECT createdAt, provider, model, resolution, status, catalogVersion, outcome,
                chargedMicro, upstreamCostMicro, COALESCE(billedSeconds, seconds), caller
            FROM usageEvent INDEXED BY usageEvent_instants
            WHERE teamID = ? AND createdAt >= ? AND createdAt < ?
            ORDER BY createdAt
            """)
        let handle = statement.sqliteStatement
        // One interner per text column: provider, model, resolution, status, price list, outcome, caller.
        var texts = Array(repeating: TextInterner(), count: 7)
        var usage: [InternedKey: UsageSums] = [:]
        var callers: [CallerID: CallerSums] = [:]
        for teamID in teamIDs {
            try statement.setArguments([teamID, start, end])
            defer { sqlite3_reset(handle) }
            var day = 0
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
                }
                let createdAt = sqlite3_column_int64(handle, 0)
                while day < dayEnds.count - 1 && createdAt >= dayEnds[day] { day += 1 }
                let key = InternedKey(
                    teamID: teamID, day: Int32(day), provider: texts[0].id(handle, 1), model: texts[1].id(handle, 2),
                    resolution: texts[2].id(handle, 3), status: texts[3].id(handle, 4), catalogVersion: texts[4].id(handle, 5),
                    outcome: texts[5].id(handle, 6))
                let charged = sqlite3_column_int64(handle, 7)
                usage[key, default: UsageSums()].add(
                    charged: charged, upstream: sqlite3_column_int64(handle, 8), seconds: sqlite3_column_int64(handle, 9))
                let caller = CallerID(teamID: teamID, caller: texts[6].id(handle, 10))
                callers[caller, default: CallerSums()].add(charged: charged)
            }
        }
        var result = Result(usage: [:], callers: [:])
        for (key, sums) in usage {
            result.usage[UsageKey(
                teamID: key.teamID, day: Int(key.day), provider: texts[0].text(key.provider), model: texts[1].text(key.model),
                resolution: texts[2].text(key.resolution), status: texts[3].text(key.status),
                catalogVersion: texts[4].text(key.catalogVersion), outcome: texts[5].text(key.outcome))] = sums
        }
        for (key, sums) in callers {
            result.callers[CallerKey(teamID: key.teamID, caller: key.caller < 0 ? nil : texts[6].text(key.caller))] = sums
        }
        return result
    }

    struct InternedKey: Hashable {
        var teamID: Int64
        var day: Int32
        var provider, model, resolution, status, catalogVersion, outcome: Int32
    }

    struct CallerID: Hashable {
        var teamID: Int64
        var caller: Int32
    }
}

extension UsageFold.UsageSums {
    mutating func add(charged: MicroUSD, upstream: MicroUSD, seconds: Int64) {
        requests += 1
        self.seconds += seconds
        chargedMicro += charged
        upstreamCostMicro += upstream
    }
}

extension UsageFold.CallerSums {
    mutating func add(charged: MicroUSD) {
        requests += 1
        chargedMicro += charged
    }
}

/// One text column's values interned by their bytes: an id per distinct value (-1 for NULL),
/// without making a `String` for a value seen before. A column such as the model has a handful of
/// values, compared directly; past ``directLimit`` values (callers), a hash of the bytes finds them.
struct TextInterner {
    private var byHash: [UInt64: [Int32]] = [:]
    private var bytes: [[UInt8]] = []
    private var texts: [String] = []
    static let directLimit = 16

    mutating func id(_ statement: SQLiteStatement, _ column: Int32) -> Int32 {
        guard let pointer = sqlite3_column_text(statement, column) else { return -1 }
        let count = Int(sqlite3_column_bytes(statement, column))
        let buffer = UnsafeBufferPointer(start: pointer, count: count)
        if texts.count <= Self.directLimit {
            for (id, known) in bytes.enumerated() where known.count == count && known.elementsEqual(buffer) { return Int32(id) }
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in buffer { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        if let candidates = byHash[hash] {
            for id in candidates where bytes[Int(id)].elementsEqual(buffer) { return id }
        }
        let id = Int32(texts.count)
        let copy = Array(buffer)
        bytes.append(copy)
        texts.append(String(decoding: copy, as: UTF8.self))
        byHash[hash, default: []].append(id)
        return id
    }

    func text(_ id: Int32) -> String { texts[Int(id)] }
}

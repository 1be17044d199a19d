import Foundation
import GRDB
import VideoMeter

/// A month's charged calls that share everything that prices them: what re-pricing reads. One row
/// stands for `calls` identical calls, so pricing it once and multiplying is exact.
public struct ChargedCalls: Sendable, Equatable {
    public var team: String
    public var provider: String
    public var model: String
    public var resolution: String
    /// Seconds charged: what the upstream reported, else the seconds held.
    public var seconds: Int
    public var imageCount: Int
    /// The price list that priced them.
    public var catalogVersion: String
    public var calls: Int64
    /// What the ledger charged for them, in total.
    public var chargedMicro: MicroUSD
}

/// Which calls a usage read selects.
public enum UsageSelection: Sendable, Equatable {
    /// Each team's own budget month (`YYYY-MM` in its zone), by the stamps the ledger wrote on
    /// every call when its hold was granted.
    case budgetMonth(String)
    /// The calls whose holds were granted in `[start, end)` (milliseconds since 1970): a month in
    /// another zone.
    case instants(start: Int64, end: Int64)
}

/// A ledger file opened read-only, for commands that must not write to it (`videometer reprice`).
/// It never migrates: a ledger whose schema is older than this binary is refused
/// (`ledger_not_migrated`; any writing command migrates it), as is one written by a newer binary.
public struct LedgerSnapshot: Sendable {
    let reader: DatabaseQueue

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "videometer.ledger.readonly"
        reader = try DatabaseQueue(path: path, configuration: configuration)
        let (complete, newer) = try reader.read { db in
            let known = Set(LedgerSchema.migrator.migrations)
            let applied = try LedgerSchema.migrator.appliedIdentifiers(db)
            return (known.isSubset(of: applied), !applied.isSubset(of: known))
        }
        if newer { throw LedgerSnapshotError.newerSchema(path: path) }
        if !complete { throw LedgerSnapshotError.notMigrated(path: path) }
    }

    /// The charged (posted) calls of `selection`, for one team or all, grouped by team, provider,
    /// model, resolution, image count, price list and charged seconds; ordered by those.
    /// - Throws: `unknown_team`.
    public func chargedCalls(_ selection: UsageSelection, team: String? = nil) async throws -> [ChargedCalls] {
        try await reader.read { db in
            var teamID: Int64?
            if let team { teamID = try Ledger.team(named: team, db).id }
            let names = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, name FROM team").map { ($0[0] as Int64, $0[1] as String) })
            let sql: String
            let arguments: StatementArguments
            switch selection {
            case .budgetMonth(let month):
                // Streams from usageEvent_reprice (v6): month, outcome, team and the grouping columns.
                sql = """
                    SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                        COUNT(*), SUM(chargedMicro)
                    FROM usageEvent INDEXED BY usageEvent_reprice
                    WHERE periodMonth = ?1 AND outcome = 'posted' AND (?2 IS NULL OR teamID = ?2)
                    GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                    """
                arguments = [month, teamID]
            case .instants(let start, let end):
                sql = """
                    SELECT teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds,
                        COUNT(*), SUM(chargedMicro)
                    FROM usageEvent
                    WHERE createdAt >= ?1 AND createdAt < ?2 AND outcome = 'posted' AND (?3 IS NULL OR teamID = ?3)
                    GROUP BY teamID, provider, model, resolution, imageCount, catalogVersion, billedSeconds, seconds
                    """
                arguments = [start, end, teamID]
            }
            // A call's charged seconds are what the upstream reported, else what was held: two
            // groups (reported or not) of the same seconds merge here.
            var merged: [String: ChargedCalls] = [:]
            var order: [String] = []
            let statement = try db.cachedStatement(sql: sql)
            let rows = try Row.fetchCursor(statement, arguments: arguments)
            while let row = try rows.next() {
                let id: Int64 = row[0]
                let seconds: Int = row[6] ?? row[7]
                let group = ChargedCalls(
                    team: names[id] ?? "#\(id)", provider: row[1], model: row[2], resolution: row[3], seconds: seconds,
                    imageCount: row[4], catalogVersion: row[5], calls: row[8], chargedMicro: row[9])
                let key = "\(id)\u{1F}\(group.provider)\u{1F}\(group.model)\u{1F}\(group.resolution)\u{1F}\(group.imageCount)\u{1F}\(group.catalogVersion)\u{1F}\(seconds)"
                if var existing = merged[key] {
                    existing.calls += group.calls
                    existing.chargedMicro += group.chargedMicro
                    merged[key] = existing
                } else {
                    merged[key] = group
                    order.append(key)
                }
            }
            return order.map { merged[$0]! }
        }
    }
}

/// Why a ledger cannot be opened read-only.
public struct LedgerSnapshotError: CodedError, Equatable {
    public let code: String
    public let message: String

    static func notMigrated(path: String) -> Self {
        Self(code: "ledger_not_migrated", message: """
            The ledger at \(path) was written by an older videometer and is not migrated yet; this command only reads. \
            Run any command that writes to it first (for example `videometer ledger verify`), then try again.
            """)
    }

    static func newerSchema(path: String) -> Self {
        Self(code: "ledger_newer_than_binary", message: """
            The ledger at \(path) was written by a newer videometer than this one; upgrade videometer to read it.
            """)
    }
}

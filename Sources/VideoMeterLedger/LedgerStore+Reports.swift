import Foundation
import VideoMeter

/// A `LedgerReporting` store answers the aggregates the reports read: a month of usage for the
/// monthly report, `/v1/usage` and `report --timezone` (``monthlyUsage(_:detail:)``), and a
/// month's charged calls for re-pricing (``chargedCalls(_:team:)``).
///
/// It is the reports' facet of the ledger contract: every ``LedgerStore`` answers it, and so does
/// the read-only ``LedgerSnapshot``. Stores compute the same figures from the same rows, to the
/// micro-dollar; which SQL (and which indexes) gets them there is each store's business.
///
/// Guarantees:
/// - everything one ``monthlyUsage(_:detail:)`` returns (and the detail rows it streams) is read
///   from one consistent snapshot of the ledger: a hold settling meanwhile is wholly in it or out;
/// - a call counts in the month and local day its hold was granted: each team's own budget month
///   by the stamps the ledger wrote (`periodMonth`, `periodDay`), or, with a time zone given, the
///   month's instants in that zone (``LocalMonth``), days of 23 or 25 hours included;
/// - the reports never write: a store answers these from reads only.
public protocol LedgerReporting: Sendable {
    /// The usage of one month, per group of teams whose month starts and ends at the same instants.
    ///
    /// - Parameter detail: when given, receives every usage event of the same teams and periods,
    ///   oldest first (instant, then id), streamed from the same snapshot, never all in memory.
    /// - Throws: `unknown_team` when the request names a team that does not exist.
    func monthlyUsage(_ request: MonthlyUsageRequest, detail: (@Sendable (UsageDetailRow) throws -> Void)?) async throws -> MonthlyUsage

    /// The charged (posted) calls of `selection`, for one team or all, grouped by team, provider,
    /// model, resolution, image count, price list and charged seconds (``ChargedCalls``).
    /// - Throws: `unknown_team`.
    func chargedCalls(_ selection: UsageSelection, team: String?) async throws -> [ChargedCalls]
}

extension LedgerReporting {
    /// The usage of one month, without the detail rows.
    public func monthlyUsage(_ request: MonthlyUsageRequest) async throws -> MonthlyUsage {
        try await monthlyUsage(request, detail: nil)
    }

    /// Every team's charged calls of `selection`.
    public func chargedCalls(_ selection: UsageSelection) async throws -> [ChargedCalls] {
        try await chargedCalls(selection, team: nil)
    }
}

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

    public init(
        team: String, provider: String, model: String, resolution: String, seconds: Int, imageCount: Int,
        catalogVersion: String, calls: Int64, chargedMicro: MicroUSD
    ) {
        self.team = team
        self.provider = provider
        self.model = model
        self.resolution = resolution
        self.seconds = seconds
        self.imageCount = imageCount
        self.catalogVersion = catalogVersion
        self.calls = calls
        self.chargedMicro = chargedMicro
    }
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

extension ChargedCalls {
    /// Merges the groups a store read (one per reported and unreported seconds: a call's charged
    /// seconds are what the upstream reported, else what was held) and orders them by team id,
    /// provider, model, resolution, image count, price list and seconds: the same list from every
    /// store whatever order its database returned the groups in.
    public static func merged(_ groups: [(teamID: Int64, calls: ChargedCalls)]) -> [ChargedCalls] {
        struct Key: Hashable, Comparable {
            var teamID: Int64, provider: String, model: String, resolution: String, imageCount: Int, catalogVersion: String, seconds: Int
            static func < (lhs: Key, rhs: Key) -> Bool {
                if (lhs.teamID, lhs.provider, lhs.model, lhs.resolution) != (rhs.teamID, rhs.provider, rhs.model, rhs.resolution) {
                    return (lhs.teamID, lhs.provider, lhs.model, lhs.resolution) < (rhs.teamID, rhs.provider, rhs.model, rhs.resolution)
                }
                return (lhs.imageCount, lhs.catalogVersion, lhs.seconds) < (rhs.imageCount, rhs.catalogVersion, rhs.seconds)
            }
        }
        var merged: [Key: ChargedCalls] = [:]
        for (teamID, group) in groups {
            let key = Key(
                teamID: teamID, provider: group.provider, model: group.model, resolution: group.resolution,
                imageCount: group.imageCount, catalogVersion: group.catalogVersion, seconds: group.seconds)
            if var existing = merged[key] {
                existing.calls += group.calls
                existing.chargedMicro += group.chargedMicro
                merged[key] = existing
            } else {
                merged[key] = group
            }
        }
        return merged.keys.sorted().map { merged[$0]! }
    }
}

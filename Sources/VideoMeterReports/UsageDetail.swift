import Foundation
import GRDB
import VideoMeter

extension MonthlyReportBuilder {
    /// The columns of the per-call usage CSV (`--detail`), in order.
    public static let detailHeader = [
        "event_id", "hold_id", "team", "created_at", "finished_at", "local_date", "caller", "idempotency_key",
        "provider", "model", "resolution", "seconds", "billed_seconds", "status", "outcome", "held", "charged",
        "upstream_cost", "margin", "catalog_version", "latency_ms", "upstream_task_id", "upstream_request_id",
    ]

    /// The per-call usage rows of the same teams and periods as ``build(month:team:timeZone:now:detail:)``,
    /// as RFC 4180 CSV with CRLF line endings, oldest first. Rows are streamed from SQLite to
    /// `write` in chunks, never all held in memory. To get the rows from the same snapshot as a
    /// report, pass `write` to `build` as `detail` instead.
    public func writeUsageDetail(
        month: ReportMonth, team: String? = nil, timeZone: String? = nil, _ write: @escaping @Sendable (String) throws -> Void
    ) async throws {
        let override = try timeZone.map { identifier throws(ReportError) in try ReportPeriod.timeZone(named: identifier) }
        try await reader.read { db in
            let groups = try Self.periodGroups(db, month: month, team: team, override: override, overrideName: timeZone)
            try Self.writeUsageDetail(db, groups, write)
        }
    }

    /// Writes the detail CSV of `groups`, header first, inside the caller's read transaction.
    static func writeUsageDetail(_ db: Database, _ groups: [PeriodGroup], _ write: (String) throws -> Void) throws {
        try write(CSVWriter(header: detailHeader).text)
        let formatter = timestampFormatter()
        for group in groups {
            let names = Dictionary(uniqueKeysWithValues: group.teams.map { ($0.id, $0.name) })
            let period = group.period
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT u.id, u.holdID, u.teamID, u.createdAt, u.finishedAt, COALESCE(u.caller, ''), u.idempotencyKey,
                    u.provider, u.model, u.resolution, u.seconds, u.billedSeconds, u.status, u.outcome, u.heldMicro,
                    u.chargedMicro, u.upstreamCostMicro, u.marginMicro, u.catalogVersion, u.latencyMs,
                    u.upstreamTaskID, u.upstreamRequestID, u.periodDay
                FROM usageEvent u
                WHERE u.teamID IN (\(group.placeholders))
                    AND \(selection(group, "u"))
                ORDER BY u.createdAt, u.id
                """, arguments: arguments(group))
            var chunk = CSVWriter()
            while let row = try cursor.next() {
                let createdAt: Int64 = row[3]
                let finishedAt: Int64 = row[4]
                let day = group.usesLedgerPeriods ? row[22] : period.dayIndex(of: createdAt / 1000).map { period.days[$0].date } ?? ""
                let billed: Int64? = row[11]
                let latency: Int64? = row[19]
                let taskID: String? = row[20]
                let requestID: String? = row[21]
                chunk.append([
                    String(row[0] as Int64), String(row[1] as Int64), names[row[2]] ?? "", iso(createdAt, formatter),
                    iso(finishedAt, formatter), day, row[5], row[6], row[7], row[8], row[9],
                    String(row[10] as Int64), billed.map(String.init) ?? "", row[12], row[13],
                    Money.format(micro: row[14]), Money.format(micro: row[15]), Money.format(micro: row[16]),
                    Money.format(micro: row[17]), row[18], latency.map(String.init) ?? "", taskID ?? "", requestID ?? "",
                ])
                if chunk.text.utf8.count > 1 << 20 {
                    try write(chunk.text)
                    chunk = CSVWriter()
                }
            }
            try write(chunk.text)
        }
    }

    static func timestampFormatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }

    /// Milliseconds since 1970 as `2026-11-03T10:00:00.000Z`.
    static func iso(_ milliseconds: Int64, _ formatter: ISO8601DateFormatter) -> String {
        formatter.string(from: Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000))
    }
}


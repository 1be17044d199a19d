import Foundation
import VideoMeter
import VideoMeterLedger

extension MonthlyReportBuilder {
    /// The columns of the per-call usage CSV (`--detail`), in order.
    public static let detailHeader = [
        "event_id", "hold_id", "team", "created_at", "finished_at", "local_date", "caller", "idempotency_key",
        "provider", "model", "resolution", "seconds", "billed_seconds", "status", "outcome", "held", "charged",
        "upstream_cost", "margin", "catalog_version", "latency_ms", "upstream_task_id", "upstream_request_id",
    ]

    /// The per-call usage rows of the same teams and periods as ``build(month:team:timeZone:now:detail:)``,
    /// as RFC 4180 CSV with CRLF line endings, oldest first. Rows are streamed from the store to
    /// `write` in chunks, never all held in memory. To get the rows from the same snapshot as a
    /// report, pass `write` to `build` as `detail` instead.
    public func writeUsageDetail(
        month: ReportMonth, team: String? = nil, timeZone: String? = nil, _ write: @escaping @Sendable (String) throws -> Void
    ) async throws {
        if let timeZone { _ = try ReportPeriod.timeZone(named: timeZone) }
        let writer = DetailCSV(write: write)
        _ = try await read(month: month, team: team, timeZone: timeZone, detail: writer)
        try writer.finish()
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

/// The detail CSV being written: the header before the first row, rows in chunks of about a
/// megabyte. Used by one read at a time (the store calls it in order, on one task).
final class DetailCSV: @unchecked Sendable {
    private let write: @Sendable (String) throws -> Void
    private let formatter = MonthlyReportBuilder.timestampFormatter()
    private var chunk = CSVWriter(header: MonthlyReportBuilder.detailHeader)

    init(write: @escaping @Sendable (String) throws -> Void) {
        self.write = write
    }

    func append(_ row: UsageDetailRow) throws {
        chunk.append([
            String(row.id), String(row.holdID), row.team, MonthlyReportBuilder.iso(row.createdAt, formatter),
            MonthlyReportBuilder.iso(row.finishedAt, formatter), row.localDate, row.caller ?? "", row.idempotencyKey,
            row.provider, row.model, row.resolution, String(row.seconds), row.billedSeconds.map(String.init) ?? "",
            row.status, row.outcome, Money.format(micro: row.heldMicro), Money.format(micro: row.chargedMicro),
            Money.format(micro: row.upstreamCostMicro), Money.format(micro: row.marginMicro), row.catalogVersion,
            row.latencyMs.map(String.init) ?? "", row.upstreamTaskID ?? "", row.upstreamRequestID ?? "",
        ])
        if chunk.text.utf8.count > 1 << 20 {
            try write(chunk.text)
            chunk = CSVWriter()
        }
    }

    /// Writes what is left (the header alone when there were no rows).
    func finish() throws {
        try write(chunk.text)
        chunk = CSVWriter()
    }
}

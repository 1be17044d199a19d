import Foundation
import VideoMeter

/// Renders a ``MonthlyReport`` as CSV, JSON, Markdown or HTML.
///
/// CSV and JSON are fixed formats (docs/REPORTS.md lists their columns and keys); Markdown and HTML
/// come from Mustache templates (``ReportTemplates``) that users may restyle.
public struct ReportRenderer: Sendable {
    public var templates: ReportTemplates

    public init(templates: ReportTemplates = .embedded) {
        self.templates = templates
    }

    public func render(_ report: MonthlyReport, as format: ReportFormat) throws -> String {
        switch format {
        case .csv: Self.csv(report)
        case .json: try Self.json(report)
        case .md: templates.markdown.render(ReportView(report))
        case .html: templates.html.render(ReportView(report))
        }
    }

    /// The CSV columns, in order.
    public static let csvHeader = [
        "month", "team", "time_zone", "period_start", "period_end", "provider", "model", "resolution",
        "requests", "succeeded", "failed", "timed_out", "cancelled", "expired", "rejected", "unknown",
        "seconds", "charged", "upstream_cost", "margin", "invoice_amount", "rounding_difference", "currency",
    ]

    /// One row per team and provider / model / resolution (no total rows: a spreadsheet sums them).
    /// An empty month is the header alone.
    public static func csv(_ report: MonthlyReport) -> String {
        var writer = CSVWriter(header: csvHeader)
        let view = ReportView(report)
        for (team, section) in zip(report.teams, view.teams) {
            for line in team.lines {
                let rounded = InvoiceStatement.roundToInvoiceScale(line.chargedMicro)
                let counts = [line.outcomes.total] + UsageOutcome.allCases.map { line.outcomes[$0] }
                writer.append(
                    [view.month, team.team, team.timeZone, section.periodStart, section.periodEnd, line.provider, line.model, line.resolution]
                    + counts.map { String($0) }
                    + [
                        String(line.seconds), Money.format(micro: line.chargedMicro), Money.format(micro: line.upstreamCostMicro),
                        Money.format(micro: line.marginMicro), InvoiceStatement.formatInvoice(rounded),
                        Money.format(micro: rounded - line.chargedMicro), view.currency,
                    ]
                )
            }
        }
        return writer.text
    }

    /// One JSON object with `snake_case` keys; amounts are decimal strings, counts are numbers.
    public static func json(_ report: MonthlyReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(ReportView(report)), as: UTF8.self) + "\n"
    }
}

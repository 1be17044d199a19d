import Foundation
import Mustache
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

    /// - Throws: ``ReportError`` `invalid_template` when the format's template was not loaded.
    public func render(_ report: MonthlyReport, as format: ReportFormat) throws -> String {
        try render(report, as: [format])[format] ?? ""
    }

    /// Renders several formats of one report: the preformatted view is built once and the formats
    /// are rendered concurrently.
    ///
    /// - Throws: ``ReportError`` `invalid_template` when a format's template was not loaded.
    public func render(_ report: MonthlyReport, as formats: [ReportFormat]) throws -> [ReportFormat: String] {
        let formats = Array(Set(formats))
        var parsed: [ReportFormat: MustacheTemplate] = [:]
        for format in formats where format == .md || format == .html {
            parsed[format] = try self.templates.template(for: format)
        }
        let templates = parsed
        let view = formats == [.csv] ? nil : ReportView(report)
        let tree = templates.isEmpty ? nil : view.map { MustacheValues.Tree(MustacheValues.tree($0)) }
        let results = RenderedFormats()
        DispatchQueue.concurrentPerform(iterations: formats.count) { index in
            let format = formats[index]
            let text: Result<String, any Error>
            switch format {
            case .csv: text = .success(Self.csv(report))
            case .json: text = Result { try Self.json(view!) }
            case .md, .html: text = .success(templates[format]!.render(tree!.fields))
            }
            results.set(format, text)
        }
        return try results.values()
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
        let month = report.month.description
        for team in report.teams {
            let period = [ReportView.iso(team.periodStart), ReportView.iso(team.periodEnd)]
            let invoiceLines = Dictionary(team.invoice.allLines.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            for line in team.lines {
                let invoiceLine = invoiceLines[line.key]
                let counts = [line.outcomes.total] + UsageOutcome.allCases.map { line.outcomes[$0] }
                writer.append(
                    [month, team.team, team.timeZone] + period + [line.provider, line.model, line.resolution]
                    + counts.map { String($0) }
                    + [
                        String(line.seconds), Money.format(micro: line.chargedMicro), Money.format(micro: line.upstreamCostMicro),
                        Money.format(micro: line.marginMicro), invoiceLine?.formattedRounded ?? Money.format(micro: line.chargedMicro),
                        Money.format(micro: invoiceLine?.differenceMicro ?? 0), "USD",
                    ]
                )
            }
        }
        return writer.text
    }

    /// One JSON object with `snake_case` keys; amounts are decimal strings, counts are numbers.
    public static func json(_ report: MonthlyReport) throws -> String {
        try json(ReportView(report))
    }

    static func json(_ view: ReportView) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(view), as: UTF8.self) + "\n"
    }
}

/// The texts of formats rendered concurrently, collected under a lock.
private final class RenderedFormats: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [ReportFormat: Result<String, any Error>] = [:]

    func set(_ format: ReportFormat, _ text: Result<String, any Error>) {
        lock.withLock { texts[format] = text }
    }

    func values() throws -> [ReportFormat: String] {
        try lock.withLock { try texts.mapValues { try $0.get() } }
    }
}

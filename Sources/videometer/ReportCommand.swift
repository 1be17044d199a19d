import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// `videometer report`: the monthly usage report, per team and for all teams, from the ledger.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the monthly usage report (CSV, JSON, Markdown, HTML) from the ledger.",
        discussion: """
            A call counts in the month its hold was granted, in the team's time zone unless \
            --timezone is given. Several --format options need --out DIR; files are named \
            videometer-YYYY-MM.csv / .json / .md / .html (and -detail.csv). A month without \
            activity still gives a valid report that says so (exit 0). Errors: no_ledger, \
            invalid_month, unknown_team, invalid_time_zone, invalid_template (exit 1); a malformed command line \
            exits 64. Templates: --templates DIR, else ./reports/ when it has them, else the \
            built-in copies; standard error names the one used. Invoice lines are rounded to the \
            display scale of the price list (catalog version) that priced them.
            """
    )

    @Option(help: ArgumentHelp("The calendar month, e.g. 2026-11.", valueName: "YYYY-MM"))
    var month: String

    @Option(help: ArgumentHelp("Only this team (default: every team, and all teams together).", valueName: "NAME"))
    var team: String?

    @Option(help: ArgumentHelp("An IANA time zone for every team's month instead of each team's own.", valueName: "Z"))
    var timezone: String?

    @Option(name: .customLong("format"), help: ArgumentHelp("csv, json, md or html; repeat for several (needs --out).", valueName: "FORMAT"))
    var formats: [ReportFormat] = []

    @Option(help: ArgumentHelp("Write the files into this directory (created if needed) instead of standard output.", valueName: "DIR"))
    var out: String?

    @Flag(help: "Also write the per-call usage rows as CSV (videometer-YYYY-MM-detail.csv).")
    var detail = false

    @Option(help: ArgumentHelp("A directory with monthly.md.mustache and/or monthly.html.mustache.", valueName: "DIR"))
    var templates: String?

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var catalog: CatalogOptions

    func validate() throws {
        if formats.isEmpty && !detail {
            throw ValidationError("Name at least one --format (csv, json, md, html) or --detail.")
        }
        if out == nil && formats.count + (detail ? 1 : 0) > 1 {
            throw ValidationError("Several outputs (\((formats.map(\.rawValue) + (detail ? ["detail"] : [])).joined(separator: ", "))) need --out DIR; only one can go to standard output.")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let reportMonth = try ReportMonth(parsing: month)
            if let timezone { _ = try ReportPeriod.timeZone(named: timezone) }
            // Only the templates of the formats asked for: a broken HTML template must not stop a CSV.
            let loaded = try ReportTemplates.load(directory: templates, formats: formats)
            for format in formats {
                if let name = ReportTemplates.fileName(for: format), let source = loaded.sources[name] {
                    standardError("template \(name): \(source)")
                }
            }
            let renderer = ReportRenderer(templates: loaded)
            // Invoice lines are rounded to the display scale of the price lists that priced them.
            let builder = MonthlyReportBuilder(ledger: try await database.openExisting(), invoiceRoundings: InvoiceRoundings(catalog: try catalog.load()))

            guard let out else {
                if let format = formats.first {
                    let report = try await builder.build(month: reportMonth, team: team, timeZone: timezone)
                    FileHandle.standardOutput.write(Data(try renderer.render(report, as: format).utf8))
                    if report.isEmpty { standardError(Self.emptyMessage(reportMonth)) }
                } else {
                    try await builder.writeUsageDetail(month: reportMonth, team: team, timeZone: timezone) { text in
                        FileHandle.standardOutput.write(Data(text.utf8))
                    }
                }
                return
            }
            let directory = URL(fileURLWithPath: out, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var detailFile: URL?
            var writeDetail: (@Sendable (String) throws -> Void)?
            if detail {
                let file = directory.appendingPathComponent(ReportFormat.detailFileName(month: reportMonth))
                FileManager.default.createFile(atPath: file.path, contents: nil)
                let handle = try FileHandle(forWritingTo: file)
                try handle.truncate(atOffset: 0)
                detailFile = file
                writeDetail = { @Sendable text in try handle.write(contentsOf: Data(text.utf8)) }
            }
            var written: [String] = []
            if formats.isEmpty, let writeDetail {
                try await builder.writeUsageDetail(month: reportMonth, team: team, timeZone: timezone, writeDetail)
            } else {
                // The detail rows are read in the report's own transaction: both show the same ledger.
                let report = try await builder.build(month: reportMonth, team: team, timeZone: timezone, detail: writeDetail)
                let texts = try renderer.render(report, as: formats)
                for format in formats {
                    let file = directory.appendingPathComponent(format.fileName(month: reportMonth))
                    try Data((texts[format] ?? "").utf8).write(to: file, options: .atomic)
                    written.append(file.path)
                }
                if report.isEmpty { standardError(Self.emptyMessage(reportMonth)) }
            }
            if let detailFile { written.append(detailFile.path) }
            for path in written { print("wrote \(path)") }
        }
    }

    static func emptyMessage(_ month: ReportMonth) -> String {
        "No activity in \(month): no requests were metered and nothing is open; the report says so."
    }

    func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension ReportFormat: ExpressibleByArgument {}

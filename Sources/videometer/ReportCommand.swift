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
            activity still gives a valid report that says so (exit 0). Errors: invalid_month, \
            unknown_team, invalid_time_zone, invalid_template (exit 1); a malformed command line \
            exits 64. Templates: --templates DIR, else ./reports/ when it has them, else the \
            built-in copies.
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

    func validate() throws {
        if formats.isEmpty && !detail {
            throw ValidationError("Name at least one --format (csv, json, md, html) or --detail.")
        }
        if out == nil && formats.count + (detail ? 1 : 0) > 1 {
            throw ValidationError("Several outputs (\(formats.map(\.rawValue).joined(separator: ", "))\(detail ? ", detail" : "")) need --out DIR; only one can go to standard output.")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let reportMonth = try ReportMonth(parsing: month)
            if let timezone { _ = try ReportPeriod.timeZone(named: timezone) }
            let renderer = ReportRenderer(templates: try ReportTemplates.load(directory: templates))
            let ledger = try database.open()
            let builder = try MonthlyReportBuilder(ledger: ledger)
            let report = try await builder.build(month: reportMonth, team: team, timeZone: timezone)

            guard let out else {
                if let format = formats.first {
                    FileHandle.standardOutput.write(Data(try renderer.render(report, as: format).utf8))
                } else {
                    try await builder.writeUsageDetail(month: reportMonth, team: team, timeZone: timezone) { text in
                        FileHandle.standardOutput.write(Data(text.utf8))
                    }
                }
                return
            }
            let directory = URL(fileURLWithPath: out, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var written: [String] = []
            for format in formats {
                let file = directory.appendingPathComponent(format.fileName(month: reportMonth))
                try Data(try renderer.render(report, as: format).utf8).write(to: file, options: .atomic)
                written.append(file.path)
            }
            if detail {
                let file = directory.appendingPathComponent(ReportFormat.detailFileName(month: reportMonth))
                FileManager.default.createFile(atPath: file.path, contents: nil)
                let handle = try FileHandle(forWritingTo: file)
                defer { try? handle.close() }
                try handle.truncate(atOffset: 0)
                try await builder.writeUsageDetail(month: reportMonth, team: team, timeZone: timezone) { text in
                    try handle.write(contentsOf: Data(text.utf8))
                }
                written.append(file.path)
            }
            if report.isEmpty {
                print("No activity in \(reportMonth); the report says so.")
            }
            for path in written { print("wrote \(path)") }
        }
    }
}

extension ReportFormat: ExpressibleByArgument {}

import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterReports

/// `videometer reprice`: what a month's charged calls would have cost under another catalog.
struct RepriceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprice",
        abstract: "Re-price a month's charged calls under another catalog (a file, or the catalog in force at another date).",
        discussion: """
            Every charged call of the month (in each team's time zone unless --timezone) is priced \
            from its snapshot (provider, model, resolution, seconds charged, images) under the other \
            catalog: with --pricing, each provider's newest price list in that file or directory; \
            with --at, the catalog in use (embedded, or VIDEOMETER_PRICING) as in force at that \
            instant. Per team and model: calls, charged, repriced and difference (repriced - \
            charged), exact to the micro-dollar, with invoice-rounded totals beside them. Calls the \
            other catalog cannot price are listed under "unpriced" with the pricing error's code \
            and reason and left out of both totals, never counted as 0. The ledger is opened \
            read-only: nothing is written. Errors: invalid_month, invalid_time_zone, unknown_team, \
            invalid_catalog, no_ledger, ledger_not_migrated (exit 1); a malformed command line exits 64.
            """
    )

    @Option(help: ArgumentHelp("The calendar month, e.g. 2026-11.", valueName: "YYYY-MM"))
    var month: String

    @Option(help: ArgumentHelp("Only this team (default: every team).", valueName: "NAME"))
    var team: String?

    @Option(help: ArgumentHelp("A catalog file or directory: each provider's newest price list prices the calls.", valueName: "PATH"))
    var pricing: String?

    @Option(help: ArgumentHelp("Price with the catalog in use as in force at this instant (ISO 8601).", valueName: "ISO8601"))
    var at: String?

    @Option(help: ArgumentHelp("An IANA time zone for every team's month instead of each team's own.", valueName: "Z"))
    var timezone: String?

    @Flag(help: "Print JSON (the same document as --format json); amounts are decimal strings of dollars.")
    var json = false

    @Option(name: .customLong("format"), help: ArgumentHelp("csv, json, md or html; repeat for several (needs --out).", valueName: "FORMAT"))
    var formats: [ReportFormat] = []

    @Option(help: ArgumentHelp("Write the files (videometer-reprice-YYYY-MM.EXT) into this directory instead of standard output.", valueName: "DIR"))
    var out: String?

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        switch (pricing, at) {
        case (nil, nil): throw ValidationError("Name the other prices: --pricing PATH (a catalog file or directory) or --at ISO8601 (the catalog in force then).")
        case (.some, .some): throw ValidationError("Give --pricing or --at, not both.")
        default: break
        }
        if let at { _ = try parseDate(at, option: "--at") }
        if json && !formats.isEmpty { throw ValidationError("--json prints the JSON document; do not combine it with --format.") }
        if out == nil && formats.count > 1 {
            throw ValidationError("Several formats (\(formats.map(\.rawValue).joined(separator: ", "))) need --out DIR; only one can go to standard output.")
        }
        if out != nil && formats.isEmpty && !json { throw ValidationError("--out needs at least one --format (csv, json, md, html).") }
    }

    func run() async throws {
        try await reportingErrors(json: json) {
            let reportMonth = try ReportMonth(parsing: month)
            let zone = try timezone.map { identifier throws(ReportError) in try ReportPeriod.timeZone(named: identifier) }
            let inUse = try Catalog.resolve(flag: nil)
            let other: Catalog
            let date: Date
            let source: String
            if let pricing {
                other = try Catalog.resolve(flag: pricing)
                date = .distantFuture
                source = pricing
            } else {
                date = try parseDate(at!, option: "--at")
                other = inUse
                source = "the catalog in force at \(CatalogDate.format(date))"
            }
            let snapshot = try await database.openForReading()
            let selection: UsageSelection = zone.map { zone in
                let period = ReportPeriod(month: reportMonth, timeZone: zone)
                return .instants(start: period.start * 1000, end: period.end * 1000)
            } ?? .budgetMonth(reportMonth.description)
            let calls = try await snapshot.chargedCalls(selection, team: team)
            let report = RepriceReport(
                month: reportMonth.description, timeZone: timezone, pricing: source, calls: calls, catalog: other, at: date,
                chargedRoundings: InvoiceRoundings(catalog: inUse))

            if json {
                FileHandle.standardOutput.write(Data(try report.json().utf8))
                return
            }
            guard let out else {
                if let format = formats.first {
                    FileHandle.standardOutput.write(Data(try Self.render(report, as: format).utf8))
                } else {
                    print(Self.text(report), terminator: "")
                }
                return
            }
            let directory = URL(fileURLWithPath: out, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for format in formats {
                let file = directory.appendingPathComponent("videometer-reprice-\(reportMonth).\(format.rawValue)")
                try Data(try Self.render(report, as: format).utf8).write(to: file, options: .atomic)
                print("wrote \(file.path)")
            }
        }
    }

    static func render(_ report: RepriceReport, as format: ReportFormat) throws -> String {
        switch format {
        case .csv: report.csv()
        case .json: try report.json()
        case .md: report.markdown()
        case .html: report.html()
        }
    }

    /// The plain-text form: the summary, the team x model table, and the unpriced calls.
    static func text(_ report: RepriceReport) -> String {
        var table = TextTable(RepriceReport.tableHeader, rightAligned: [2, 3, 4, 5])
        for row in report.tableRows { table.add(row) }
        var text = report.summaryLines.joined(separator: "\n") + "\n\n" + table.render() + "\n"
        if !report.unpriced.isEmpty {
            var unpriced = TextTable(RepriceReport.unpricedHeader, rightAligned: [3, 4])
            for row in report.unpricedRows { unpriced.add(row) }
            text += "\nunpriced:\n" + unpriced.render() + "\n"
        }
        return text
    }
}

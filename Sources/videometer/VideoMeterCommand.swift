import ArgumentParser
import Foundation
import Logging

/// The `videometer` command: quotes, meters, enforces budgets and reports on AI video generation.
@main
struct VideoMeterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videometer",
        abstract: "Quote, meter, budget and report AI video generation (Grok Imagine, Seedance).",
        discussion: """
            Prices come from the catalog compiled into this binary (the files in pricing/), or from \
            --pricing DIR / VIDEOMETER_PRICING. The ledger is a SQLite file or a PostgreSQL \
            database: --db PATH|postgres://..., else VIDEOMETER_DB, else ./videometer.sqlite. Logs go to standard error at the level of \
            VIDEOMETER_LOG_LEVEL (trace, debug, info, notice, warning, error; default notice).
            """,
        version: "0.1.0",
        subcommands: [
            QuoteCommand.self,
            ModelsCommand.self,
            GenerateCommand.self,
            ReconcileCommand.self,
            PricingCommand.self,
            EmulateCommand.self,
            ReportCommand.self, RepriceCommand.self,
            TeamCommand.self, BudgetCommand.self, LedgerCommand.self,
            ServeCommand.self, KeysCommand.self, DemoCommand.self,
        ]
    )

    /// Bootstraps logging (standard error, `VIDEOMETER_LOG_LEVEL`) before running the command.
    static func main() async {
        let requested = ProcessInfo.processInfo.environment["VIDEOMETER_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 }
        let parsed = requested.flatMap { Logger.Level(rawValue: $0.lowercased()) }
        let level = parsed ?? .notice
        if let requested, parsed == nil {
            FileHandle.standardError.write(Data("warning: VIDEOMETER_LOG_LEVEL '\(requested)' is not trace, debug, info, notice, warning, error or critical; logging at notice.\n".utf8))
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot()
            // After parsing, so that --help and --version answer whatever the environment holds.
            try ProcessClock.validate()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

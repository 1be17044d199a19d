import ArgumentParser

/// The `videometer` command: quotes, meters, enforces budgets and reports on AI video generation.
@main
struct VideoMeterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videometer",
        abstract: "Quote, meter, budget and report AI video generation (Grok Imagine, Seedance).",
        discussion: """
            Prices come from the catalog compiled into this binary (the files in pricing/), or from \
            --pricing DIR / VIDEOMETER_PRICING. The ledger is a SQLite file: --db PATH, else \
            VIDEOMETER_DB, else ./videometer.sqlite.
            """,
        version: "0.1.0",
        subcommands: [
            QuoteCommand.self,
            ModelsCommand.self,
            PricingCommand.self,
            EmulateCommand.self,
            ReportCommand.self,
            TeamCommand.self, BudgetCommand.self, LedgerCommand.self,
        ]
    )
}

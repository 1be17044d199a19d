import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterCatalog

/// `videometer pricing`: catalog maintenance.
struct PricingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "Work with the price catalog files.",
        subcommands: [Validate.self]
    )

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check catalog files; every problem is named with its file, entry and reason.",
            discussion: "With no FILE, checks the catalog embedded in this binary (built from pricing/)."
        )

        @Argument(help: ArgumentHelp("Catalog files or directories (default: the embedded catalog).", valueName: "FILE"))
        var files: [String] = []

        func run() async throws {
            try await reportingErrors {
                let inputs = files.isEmpty ? Catalog.bundledFiles() : try Catalog.readFiles(at: files)
                let catalog = try Catalog.decode(files: inputs)
                for provider in catalog.providers {
                    let models = Set(provider.versions.flatMap { $0.models.map(\.id) })
                    print("ok: \(provider.id): \(provider.versions.count) price list(s), \(models.count) model(s)")
                }
            }
        }
    }
}

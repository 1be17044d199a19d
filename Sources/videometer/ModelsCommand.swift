import ArgumentParser
import Foundation
import VideoMeter

/// `videometer models`: the catalog as a table.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models of the price catalog, with durations and prices."
    )

    @Option(help: "Only this provider (blockrun, worldrouter, xai).")
    var provider: String?

    @Option(help: ArgumentHelp("Show the price lists in force at this instant (ISO 8601).", valueName: "ISO8601"))
    var at: String?

    @Flag(help: "Print JSON; prices are decimal strings.")
    var json = false

    @OptionGroup var catalog: CatalogOptions

    struct Row: Encodable {
        var provider: String
        var model: String
        var vendor: String
        var apiStyle: String
        var resolutions: [String]
        var defaultResolution: String
        var unknownResolution: String
        var durationDefault: Int
        var durationMin: Int
        var durationMax: Int
        var requiresImage: Bool
        var perSecond: [String: String]
        var perMillionOutputTokens: String?
        var imageFee: String
        var flatFee: String
        var marginPercent: String
        var catalogVersion: String
        var effectiveFrom: String
        var source: String

        enum CodingKeys: String, CodingKey {
            case provider, model, vendor, resolutions, source
            case apiStyle = "api_style"
            case defaultResolution = "default_resolution"
            case unknownResolution = "unknown_resolution"
            case durationDefault = "duration_default"
            case durationMin = "duration_min"
            case durationMax = "duration_max"
            case requiresImage = "requires_image"
            case perSecond = "per_second"
            case perMillionOutputTokens = "per_million_output_tokens"
            case imageFee = "image_fee"
            case flatFee = "flat_fee"
            case marginPercent = "margin_percent"
            case catalogVersion = "catalog_version"
            case effectiveFrom = "effective_from"
        }
    }

    func run() async throws {
        let date = try at.map { try parseDate($0, option: "--at") } ?? ProcessClock.now()
        try await reportingErrors(json: json) {
            let loaded = try catalog.load()
            if let provider, loaded.provider(provider) == nil {
                throw PricingError.unknownProvider(provider, known: loaded.providers.map(\.id))
            }
            var rows: [Row] = []
            for providerCatalog in loaded.providers where provider == nil || providerCatalog.id == provider {
                guard let version = providerCatalog.version(at: date) else { continue }
                for model in version.models {
                    let prices = model.prices
                    rows.append(Row(
                        provider: providerCatalog.id, model: model.id, vendor: model.vendor, apiStyle: model.apiStyle.rawValue,
                        resolutions: model.resolutions, defaultResolution: model.defaultResolution,
                        unknownResolution: model.unknownResolution.rawValue,
                        durationDefault: model.defaultDuration, durationMin: model.minDuration, durationMax: model.maxDuration,
                        requiresImage: model.requiresImage,
                        perSecond: prices.perSecond.mapValues(Quote.plain),
                        perMillionOutputTokens: prices.tokens.map { Quote.plain($0.perMillion) },
                        imageFee: Quote.plain(prices.imageFee), flatFee: Quote.plain(prices.flatFee),
                        marginPercent: Quote.plain(prices.marginPercent), catalogVersion: version.id,
                        effectiveFrom: CatalogDate.format(version.effectiveFrom), source: model.source
                    ))
                }
            }
            if json {
                try printJSON(rows)
                return
            }
            var table = TextTable(["PROVIDER", "MODEL", "STYLE", "RESOLUTIONS", "SECONDS def/min/max", "PRICE", "IMAGE FEE", "MARGIN", "PRICE LIST"])
            for row in rows {
                let price = row.perMillionOutputTokens.map { "$\($0)/M tokens" }
                    ?? row.resolutions.compactMap { resolution in row.perSecond[resolution].map { "\(resolution) $\($0)/s" } }.joined(separator: ", ")
                let resolutions = row.resolutions.joined(separator: ",") + (row.unknownResolution == "default" ? " (else \(row.defaultResolution))" : "")
                table.add([
                    row.provider, row.model + (row.requiresImage ? " (image required)" : ""), row.apiStyle, resolutions,
                    "\(row.durationDefault)/\(row.durationMin)/\(row.durationMax)", price,
                    row.imageFee == "0" ? "-" : "$\(row.imageFee)", "\(row.marginPercent) %", row.catalogVersion,
                ])
            }
            print(rows.isEmpty ? "No price list is in force at \(CatalogDate.format(date))." : table.render())
        }
    }
}

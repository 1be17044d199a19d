import ArgumentParser
import Foundation
import VideoMeter

/// `videometer quote`: what a request will cost, before anything is sent.
struct QuoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quote",
        abstract: "Price a generation request exactly, before anything is sent.",
        discussion: """
            Prints the line items, the exact total (settlement scale), the displayed total, the \
            billed seconds and resolution, and the worst case (the model's maximum duration). \
            An invalid request exits with status 1 and prints its error code, e.g. \
            duration_above_max.
            """
    )

    @Option(help: "Model id, e.g. bytedance/seedance-2.0 or grok-imagine-video (see `videometer models`).")
    var model: String

    @Option(help: "Provider id (blockrun, worldrouter, xai); needed for xai, whose model names are also WorldRouter's.")
    var provider: String?

    @Flag(help: "Quote the same video at every seller of the model (same vendor and family), cheapest first; sellers that cannot make it are listed with the reason.")
    var compare = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to generate and bill (default: the model's default).", valueName: "S"))
    var duration: String?

    @Option(help: ArgumentHelp("Resolution, e.g. 480p or 720p (default: the model's default).", valueName: "R"))
    var resolution: String?

    @Option(name: .customLong("image-url"), help: ArgumentHelp("Input image URL (repeat for several).", valueName: "U"))
    var imageURLs: [String] = []

    @Option(help: ArgumentHelp("The prompt; checked for length but not needed for a price.", valueName: "TEXT"))
    var prompt: String?

    @Option(help: ArgumentHelp("Price as of this instant (ISO 8601), to use an earlier or later price list.", valueName: "ISO8601"))
    var at: String?

    @Flag(help: "Print one JSON object; amounts are decimal strings.")
    var json = false

    @OptionGroup var catalog: CatalogOptions

    func run() async throws {
        let date = try at.map { try parseDate($0, option: "--at") } ?? ProcessClock.now()
        try await reportingErrors(json: json) {
            let seconds = try duration.map { text throws(PricingError) in try QuoteRequest.parseDuration(text) }
            let request = QuoteRequest(
                provider: provider, model: model, durationSeconds: seconds, resolution: resolution,
                imageURLs: imageURLs, prompt: prompt
            )
            if compare {
                let comparison = try catalog.load().compare(request, at: date)
                if json {
                    print(String(decoding: try comparison.jsonData(), as: UTF8.self))
                } else {
                    print(render(comparison))
                }
                return
            }
            let quote = try catalog.load().quote(request, at: date)
            if json {
                print(String(decoding: try quote.jsonData(), as: UTF8.self))
            } else {
                print(render(quote))
            }
        }
    }

    func render(_ comparison: SellerComparison) -> String {
        var out = "\(comparison.vendor) \(comparison.family), cheapest first\n\n"
        var table = TextTable(["SELLER", "MODEL", "SECONDS", "RESOLUTION", "TOTAL", "SHOWN", "WORST CASE", "PRICE LIST"], rightAligned: [2, 4, 5, 6])
        for quote in comparison.options {
            table.add([
                quote.provider, quote.model, String(quote.billedSeconds), quote.resolution,
                Money.format(quote.total, scale: quote.settlementScale, quote.rounding),
                Money.format(quote.displayTotal, scale: quote.displayScale, quote.rounding),
                Money.format(quote.worstCase.total, scale: quote.settlementScale, quote.rounding), quote.catalogVersion,
            ])
        }
        out += comparison.options.isEmpty ? "no seller can make this video" : table.render()
        for exclusion in comparison.excluded {
            out += "\nexcluded \(exclusion.provider) \(exclusion.model): \(exclusion.error.code): \(exclusion.error.message)"
        }
        return out
    }

    func render(_ quote: Quote) -> String {
        var out = "\(quote.model) via \(quote.provider) (\(quote.apiStyle.rawValue)), price list \(quote.catalogVersion)\n"
        out += "\(quote.billedSeconds) s at \(quote.resolution)"
        if quote.resolutionFellBack, let requested = resolution {
            out += " (\(requested) is not offered; priced at the default \(quote.resolution))"
        }
        out += "\n\n"
        var table = TextTable(["LINE", "QUANTITY", "UNIT PRICE", "AMOUNT"], rightAligned: [1, 2, 3])
        for line in quote.lines {
            table.add([line.description, Quote.plain(line.quantity), Quote.plain(line.unitPrice), Quote.plain(line.amount)])
        }
        out += table.render() + "\n\n"
        out += "total        \(Money.format(quote.total, scale: quote.settlementScale, quote.rounding)) \(quote.currency)"
        out += " (shown as \(Money.format(quote.displayTotal, scale: quote.displayScale, quote.rounding)); rounding \(quote.rounding.rawValue))\n"
        out += "worst case   \(Money.format(quote.worstCase.total, scale: quote.settlementScale, quote.rounding)) \(quote.currency)"
        out += " at the \(quote.worstCase.billedSeconds) s maximum"
        return out
    }
}

extension Quote {
    static func plain(_ value: Decimal) -> String { NSDecimalNumber(decimal: value).stringValue }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog

/// Properties that must hold for every quote: checked over the shipped catalog exhaustively and
/// over seeded random catalogs.
@Suite("Quote properties")
struct QuotePropertyTests {
    static func check(_ catalog: Catalog, at date: Date) throws -> Int {
        var checked = 0
        for provider in catalog.providers {
            guard let version = provider.version(at: date) else { continue }
            for model in version.models {
                for resolution in model.resolutions {
                    for images in [0, 1, 2] {
                        var previous: Quote?
                        for seconds in model.minDuration...model.maxDuration {
                            let request = QuoteRequest(
                                provider: provider.id, model: model.id, durationSeconds: seconds, resolution: resolution,
                                imageURLs: (0..<max(images, model.requiresImage ? 1 : 0)).map { "https://example.com/\($0).png" }
                            )
                            let quote = try catalog.quote(request, at: date)
                            // total = sum of lines, exactly
                            #expect(quote.exactTotal == quote.lines.reduce(Decimal.zero) { $0 + $1.amount })
                            // the charged total is the exact total at the settlement scale
                            #expect(quote.total == Money.round(quote.exactTotal, scale: quote.settlementScale, quote.rounding))
                            #expect(Money.dollars(quote.totalMicro) == quote.total)
                            // upstream cost + margin (+ flat fee) = exact total
                            #expect(quote.upstreamCost + quote.margin + model.prices.flatFee == quote.exactTotal)
                            // the worst case is never cheaper
                            #expect(quote.worstCase.total >= quote.total)
                            #expect(quote.total >= 0)
                            // a longer duration never costs less
                            if let previous { #expect(quote.total >= previous.total, "\(model.id) \(seconds) s cheaper than \(seconds - 1) s") }
                            previous = quote
                            checked += 1
                        }
                    }
                }
            }
        }
        return checked
    }

    @Test func holdForEveryRequestOfTheShippedCatalog() throws {
        let checked = try Self.check(Catalog.bundled(), at: Day.november)
        #expect(checked > 100)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func holdForRandomCatalogs(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        func price() -> String {
            let micro = Int.random(in: 0...2_000_000, using: &random)
            return "\(micro / 1_000_000).\(String(format: "%06d", micro % 1_000_000))"
        }
        var models: [String] = []
        for index in 0..<4 {
            let min = Int.random(in: 1...4, using: &random)
            let max = min + Int.random(in: 0...12, using: &random)
            let def = Int.random(in: min...max, using: &random)
            let margin = "\(Int.random(in: 0...30, using: &random)).\(Int.random(in: 0...9, using: &random))"
            var extra = #", "image_fee": "\#(price())", "flat_fee": "\#(price())", "margin_percent": "\#(margin)""#
            if index % 2 == 1 {
                extra += #", "output_tokens": {"per_million": "\#(price())", "frame_sizes": {"480p": [864, 480], "720p": [1280, 720]}}"#
                models.append(#"{"id": "m\#(index)", "api_style": "async", "resolutions": ["480p", "720p"], "duration": {"default": \#(def), "min": \#(min), "max": \#(max)}, "source": "random"\#(extra)}"#)
            } else {
                models.append(perSecondModel(id: "m\(index)", rate: price(), resolutions: ["480p", "720p"], min: min, def: def, max: max, extra: extra))
            }
        }
        let rounding = RoundingRule.allCases[Int(seed) % RoundingRule.allCases.count].rawValue
        let catalog = try catalog(("random.json", providerJSON(rounding: rounding, models: models)))
        #expect(try Self.check(catalog, at: Day.november) > 0)
    }
}

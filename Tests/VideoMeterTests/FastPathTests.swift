import Foundation
import Testing
@testable import VideoMeter
import VideoMeterCatalog

/// The exact fast path (``ScaledPrices``, ``Catalog/totals(_:at:)``) gives the Decimal engine's
/// figures to the last digit: on every request the shipped catalog can price, and on seeded random
/// catalogs with other scales, margins, fees and rounding rules.
@Suite("Exact fast path")
struct FastPathTests {
    /// Compares the two engines on every model x duration x resolution (plus one it does not list)
    /// x image count of every version of `catalog`; returns how many requests it compared.
    static func compareEngines(_ catalog: Catalog) throws -> Int {
        var compared = 0
        for provider in catalog.providers {
            for version in provider.versions {
                let date = version.effectiveFrom
                for model in version.models {
                    for resolution in model.resolutions + ["1080p"] {
                        for images in 0...3 {
                            for seconds in model.minDuration...model.maxDuration {
                                let request = QuoteRequest(
                                    provider: provider.id, model: model.id, durationSeconds: seconds, resolution: resolution,
                                    imageURLs: (0..<max(images, model.requiresImage ? 1 : 0)).map { "https://example.com/\($0).png" }
                                )
                                let decimal: Quote
                                do { decimal = try catalog.quote(request, at: date) } catch {
                                    // Both engines validate alike: the same error, with the same code.
                                    #expect(throws: error) { try catalog.totals(request, at: date) }
                                    continue
                                }
                                let fast = try catalog.totals(request, at: date)
                                #expect(model.prices.scaled != nil, "\(model.id): the fast path should cover the catalog's prices")
                                #expect(fast.exactTotal == decimal.exactTotal, "\(provider.id) \(model.id) \(seconds) s \(resolution) \(images) images")
                                #expect(fast.total == decimal.total)
                                #expect(fast.displayTotal == decimal.displayTotal)
                                #expect(fast.worstCaseTotal == decimal.worstCase.total)
                                #expect(fast.worstCaseDisplayTotal == decimal.worstCase.displayTotal)
                                #expect(fast.totalMicro == decimal.totalMicro)
                                #expect(fast.resolution == decimal.resolution && fast.resolutionFellBack == decimal.resolutionFellBack)
                                #expect(fast.billedSeconds == decimal.billedSeconds && fast.catalogVersion == decimal.catalogVersion)
                                compared += 1
                            }
                        }
                    }
                }
            }
        }
        return compared
    }

    @Test func agreesWithTheDecimalEngineOnTheShippedCatalog() throws {
        let compared = try Self.compareEngines(Catalog.bundled())
        #expect(compared > 700)
    }

    @Test(arguments: Array(1...24) as [UInt64])
    func agreesWithTheDecimalEngineOnRandomCatalogs(seed: UInt64) throws {
        var random = SplitMix64(seed: seed &* 7919)
        /// A price with 0 to 6 decimal places (trailing zeros kept, as a catalog may write them).
        func price() -> String {
            let places = Int.random(in: 0...6, using: &random)
            let units = Int.random(in: 0...3_000_000, using: &random)
            guard places > 0 else { return String(units % 50) }
            let factor = (0..<places).reduce(1) { value, _ in value * 10 }
            let whole = (units / factor) % 50
            return "\(whole).\(String(format: "%0\(places)d", units % factor))"
        }
        var models: [String] = []
        for index in 0..<5 {
            let min = Int.random(in: 1...4, using: &random)
            let max = min + Int.random(in: 0...12, using: &random)
            let def = Int.random(in: min...max, using: &random)
            let marginPlaces = Int.random(in: 0...3, using: &random)
            let margin = marginPlaces == 0
                ? "\(Int.random(in: 0...40, using: &random))"
                : "\(Int.random(in: 0...40, using: &random)).\(String(format: "%0\(marginPlaces)d", Int.random(in: 0...(marginPlaces == 1 ? 9 : marginPlaces == 2 ? 99 : 999), using: &random)))"
            var extra = #", "image_fee": "\#(price())", "flat_fee": "\#(price())", "margin_percent": "\#(margin)""#
            let fallback = Bool.random(using: &random) ? "default" : "reject"
            if index % 2 == 1 {
                extra += #", "output_tokens": {"per_million": "\#(price())", "frame_sizes": {"480p": [864, 480], "720p": [1280, 720]}}"#
                models.append(#"{"id": "m\#(index)", "api_style": "async", "resolutions": ["480p", "720p"], "unknown_resolution": "\#(fallback)", "duration": {"default": \#(def), "min": \#(min), "max": \#(max)}, "source": "random"\#(extra)}"#)
            } else {
                models.append(perSecondModel(id: "m\(index)", rate: price(), resolutions: ["480p", "720p"], fallback: fallback, min: min, def: def, max: max, extra: extra))
            }
        }
        let rounding = RoundingRule.allCases[Int(seed) % RoundingRule.allCases.count].rawValue
        let settlement = Int.random(in: 0...6, using: &random)
        let display = Int.random(in: 0...6, using: &random)
        let text = """
            {"provider": "random", "versions": [
              {"version": "r\(seed)", "effective_from": "2026-01-01T00:00:00Z", "source": "random", "margin_percent": "0",
               "rounding": "\(rounding)", "settlement_scale": \(settlement), "display_scale": \(display),
               "models": [\(models.joined(separator: ","))]}
            ]}
            """
        let compared = try Self.compareEngines(catalog(("random.json", text)))
        #expect(compared > 0)
    }

    /// The integer rounding reproduces `NSDecimalRound` for every rule, tie and scale.
    @Test(arguments: RoundingRule.allCases)
    func integerRoundingMatchesDecimalRounding(rule: RoundingRule) {
        var random = SplitMix64(seed: 20261205)
        let ties: [Int64] = [0, 5, 15, 25, 1_5, 2_500, 3_500, 999_999_999_999_999_999, 123_456_789_500]
        let values = ties + (0..<300).map { _ in Int64.random(in: 0...9_000_000_000_000_000, using: &random) }
        for units in values {
            for scale in 0...12 {
                for target in 0...8 {
                    let decimal = Money.round(Decimal(sign: .plus, exponent: -scale, significand: Decimal(units)), scale: target, rule)
                    guard let rounded = ScaledPrices.round(units, from: scale, to: target, rule) else {
                        #expect(target > scale, "only scaling up can overflow")
                        continue
                    }
                    #expect(Decimal(sign: .plus, exponent: -target, significand: Decimal(rounded)) == decimal, "\(units)e-\(scale) to \(target) places, \(rule)")
                }
            }
        }
    }

    /// Prices the fast path cannot hold (past 18 places, or past Int64) fall back to the Decimal
    /// engine and still give its figures.
    @Test func fallsBackToDecimalWhereIntegersDoNotFit() throws {
        var prices = PriceComponents(perSecond: ["720p": Decimal(string: "0.0000000000000000001")!], tokens: nil, imageFee: 0, flatFee: 0, marginPercent: 5)
        #expect(prices.scaled == nil)
        prices.perSecond["720p"] = Decimal(string: "0.05")!
        #expect(prices.scaled != nil, "changing a price recomputes the integers")
        let rate = try #require(ScaledPrices.units(of: Decimal(string: "0.050")!))
        #expect(Decimal(sign: .plus, exponent: -rate.scale, significand: Decimal(rate.units)) == Decimal(string: "0.05")!)
        #expect(ScaledPrices.units(of: -1) == nil)
    }
}

import Foundation
import Testing
import VideoMeter

@Suite("Pricing engine")
struct PricingEngineTests {
    @Test func aQuoteUsesTheVersionInForceAtItsDate() throws {
        let catalog = try catalog(("blockrun.json", blockRunWithTokenCard))
        let request = QuoteRequest(model: "bytedance/seedance-1.5-pro")

        let before = try catalog.quote(request, at: Day.at("2026-07-31T23:59:59Z"))
        #expect(before.catalogVersion == "blockrun-2026-04")
        #expect(before.total == Decimal(string: "0.1575")!)

        let after = try catalog.quote(request, at: Day.at("2026-08-01T00:00:00Z"))
        #expect(after.catalogVersion == "blockrun-2026-08")
        // 1280 x 720 x (24 x 5 + 1) / 1024 = 108,900 tokens x $2.4/M = 0.26136; x 5 % = 0.013068; + 0.001
        #expect(after.lines.map(\.kind) == [.outputTokens, .margin, .flatFee])
        #expect(after.lines[0].quantity == 108_900)
        #expect(after.lines[0].amount == Decimal(string: "0.26136")!)
        #expect(after.lines[1].amount == Decimal(string: "0.013068")!)
        #expect(after.exactTotal == Decimal(string: "0.275428")!)
        #expect(after.total == Decimal(string: "0.275428")!)
        #expect(after.totalMicro == 275_428)

        #expect(throws: PricingError.noPriceInForce(provider: "blockrun", at: "2026-03-31T00:00:00Z")) {
            try catalog.quote(request, at: Day.at("2026-03-31T00:00:00Z"))
        }
    }

    @Test func tokenFormulaMatchesObservedUsage() {
        #expect(TokenFormula.seedance.tokens(width: 1280, height: 720, seconds: 5) == 108_900)
        #expect(TokenFormula.seedance.tokens(width: 864, height: 480, seconds: 5) == 49_005)
        // 848 x 480 x 121 / 1024 = 48,097.5 -> a whole token more
        #expect(TokenFormula.seedance.tokens(width: 848, height: 480, seconds: 5) == 48_098)
    }

    @Test func tokenPricedModelAt480pUsesItsFrameSize() throws {
        let catalog = try catalog(("blockrun.json", blockRunWithTokenCard))
        let quote = try catalog.quote(QuoteRequest(model: "bytedance/seedance-1.5-pro", durationSeconds: 4, resolution: "480p"), at: Day.november)
        // 864 x 480 x 97 / 1024 = 39,285 tokens x 0.0000024 = 0.094284; margin 0.0047142; + 0.001 = 0.0999982
        #expect(quote.lines[0].quantity == 39_285)
        #expect(quote.exactTotal == Decimal(string: "0.0999982")!)
        #expect(quote.total == Decimal(string: "0.099998")!)
        #expect(Money.format(quote.displayTotal, scale: 3) == "0.100")
    }

    @Test func flatFeeIsAddedAfterTheMargin() throws {
        let catalog = try catalog(("p.json", providerJSON(margin: "10", models: [perSecondModel(rate: "1", extra: #", "flat_fee": "0.25""#)])))
        let quote = try catalog.quote(QuoteRequest(model: "m", durationSeconds: 2), at: Day.november)
        #expect(quote.lines.map(\.amount) == [2, Decimal(string: "0.2")!, Decimal(string: "0.25")!])
        #expect(quote.total == Decimal(string: "2.45")!)
        #expect(quote.upstreamCost == 2)
        #expect(quote.margin == Decimal(string: "0.2")!)
    }

    @Test func modelMarginOverridesTheVersionMargin() throws {
        let catalog = try catalog(("p.json", providerJSON(margin: "5", models: [perSecondModel(rate: "1", extra: #", "margin_percent": "20""#)])))
        let quote = try catalog.quote(QuoteRequest(model: "m", durationSeconds: 1), at: Day.november)
        #expect(quote.total == Decimal(string: "1.2")!)
    }

    @Test(arguments: [
        // rate, seconds, rounding, display 3 places
        ("0.0317", 5, "half_up", "0.159"),     // 0.1585 -> up
        ("0.0317", 5, "half_even", "0.158"),   // 0.1585 -> even 8
        ("0.0315", 5, "half_even", "0.158"),   // 0.1575 -> even 8
        ("0.0315", 5, "half_up", "0.158"),     // 0.1575 -> up
        ("0.0315", 5, "down", "0.157"),
        ("0.0313", 5, "up", "0.157"),          // 0.1565 -> up
    ])
    func roundingAtTheHalfFollowsTheCatalogRule(rate: String, seconds: Int, rounding: String, display: String) throws {
        let catalog = try catalog(("p.json", providerJSON(rounding: rounding, models: [perSecondModel(rate: rate)])))
        let quote = try catalog.quote(QuoteRequest(model: "m", durationSeconds: seconds), at: Day.november)
        #expect(Money.format(quote.displayTotal, scale: 3) == display)
        #expect(quote.total == quote.exactTotal)  // exact at 6 places already
    }

    @Test func settlementScaleRoundsTheChargedTotal() throws {
        // 3 s x 0.0000005 = 0.0000015 -> 0.000002 at 6 places, half up
        let catalog = try catalog(("p.json", providerJSON(models: [perSecondModel(rate: "0.0000005")])))
        let quote = try catalog.quote(QuoteRequest(model: "m", durationSeconds: 3), at: Day.november)
        #expect(quote.exactTotal == Decimal(string: "0.0000015")!)
        #expect(quote.total == Decimal(string: "0.000002")!)
        #expect(quote.totalMicro == 2)
    }

    @Test func everyErrorCodeHasItsCase() throws {
        let shipped = try catalog(
            ("b.json", providerJSON(provider: "b", models: [perSecondModel(id: "shared"), perSecondModel(id: "only-b", min: 2)])),
            ("c.json", providerJSON(provider: "c", models: [perSecondModel(id: "shared"), perSecondModel(id: "img", extra: #", "requires_image": true, "max_prompt_characters": 10"#)]))
        )
        func code(_ request: QuoteRequest) -> String? {
            do {
                _ = try shipped.quote(request, at: Day.november)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code(QuoteRequest(model: "nope")) == "unknown_model")
        #expect(code(QuoteRequest(provider: "zzz", model: "shared")) == "unknown_provider")
        #expect(code(QuoteRequest(model: "shared")) == "ambiguous_model")
        #expect(code(QuoteRequest(provider: "b", model: "shared")) == nil)
        #expect(code(QuoteRequest(model: "only-b", durationSeconds: 11)) == "duration_above_max")
        #expect(code(QuoteRequest(model: "only-b", durationSeconds: 1)) == "duration_below_min")
        #expect(code(QuoteRequest(model: "only-b", durationSeconds: 0)) == "invalid_duration")
        #expect(code(QuoteRequest(model: "only-b", durationSeconds: -4)) == "invalid_duration")
        #expect(code(QuoteRequest(model: "img")) == "image_required")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["ftp://example.com/a.png"])) == "invalid_image_url")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["not a url"])) == "invalid_image_url")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["https:///nohost"])) == "invalid_image_url")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["https://example.com/a.png"], prompt: " \n\t")) == "empty_prompt")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["https://example.com/a.png"], prompt: "eleven char")) == "prompt_too_long")
        #expect(code(QuoteRequest(model: "img", imageURLs: ["https://example.com/a.png"], prompt: "ten chars!")) == nil)
        #expect(code(QuoteRequest(model: "only-b", resolution: "4k")) == "resolution_not_supported")
    }

    @Test(arguments: ["5.5", "0", "-3", "five", "1e3", "", " ", "９", "99999999999999999999", "+5"])
    func durationsThatAreNotWholePositiveSecondsAreInvalid(text: String) {
        #expect(throws: PricingError.invalidDuration(text)) { try QuoteRequest.parseDuration(text) }
    }

    @Test func plainDurationsParse() throws {
        #expect(try QuoteRequest.parseDuration("8") == 8)
        #expect(try QuoteRequest.parseDuration(" 10 ") == 10)
    }
}

@Suite("Re-pricing at settlement")
struct RepriceTests {
    @Test func repricingUsesTheVersionInForceAtTheHoldAndTheReportedSeconds() throws {
        let catalog = try catalog(("blockrun.json", blockRunWithTokenCard))
        let july = try catalog.reprice(provider: "blockrun", model: "bytedance/seedance-1.5-pro", seconds: 4, resolution: "720p", imageCount: 0, at: Day.at("2026-07-15"))
        #expect(july.catalogVersion == "blockrun-2026-04")
        #expect(july.total == Decimal(string: "0.126")!)  // 4 x 0.03 x 1.05
        #expect(july.totalMicro == 126_000)
    }

    @Test func repricingAppliesTheFallbackAndImageFees() throws {
        let shipped = try Catalog.bundled()
        let quote = try shipped.reprice(provider: "worldrouter", model: "grok-imagine-video-1.5-preview", seconds: 3, resolution: "1080p", imageCount: 1, at: Day.november)
        #expect(quote.resolution == "720p")
        #expect(quote.totalMicro == 430_000)  // 3 x 0.14 + 0.01
        #expect(throws: PricingError.durationAboveMax(16, max: 15, model: "grok-imagine-video")) {
            try shipped.reprice(provider: "worldrouter", model: "grok-imagine-video", seconds: 16, resolution: "720p", imageCount: 0, at: Day.november)
        }
    }
}

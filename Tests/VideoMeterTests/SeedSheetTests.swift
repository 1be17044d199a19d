import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog

@Suite("The shipped catalog reproduces the seed sheets")
struct SeedSheetTests {
    let catalog = try! Catalog.bundled()

    @Test(arguments: [
        ("xai/grok-imagine-video", 8, "0.42", "0.42", "0.420"),
        ("bytedance/seedance-1.5-pro", 5, "0.1575", "0.1575", "0.158"),
        ("bytedance/seedance-2.0-fast", 5, "0.7875", "0.7875", "0.788"),
        ("bytedance/seedance-2.0", 5, "1.575", "1.575", "1.575"),
    ])
    func blockRunDefaultBilledColumn(model: String, seconds: Int, exact: String, total: String, display: String) throws {
        let quote = try catalog.quote(QuoteRequest(model: model), at: Day.november)
        #expect(quote.provider == "blockrun")
        #expect(quote.billedSeconds == seconds)
        #expect(quote.resolution == "720p")
        #expect(quote.exactTotal == Decimal(string: exact)!)
        #expect(quote.total == Decimal(string: total)!)
        #expect(Money.format(quote.displayTotal, scale: quote.displayScale) == display)
        #expect(quote.catalogVersion == "blockrun-2026-04")
    }

    @Test func seedance15ProLinesAreSecondsThenMargin() throws {
        let quote = try catalog.quote(QuoteRequest(model: "bytedance/seedance-1.5-pro"), at: Day.november)
        #expect(quote.lines.map(\.kind) == [.seconds, .margin])
        #expect(quote.lines[0].amount == Decimal(string: "0.15")!)
        #expect(quote.lines[1].amount == Decimal(string: "0.0075")!)
        #expect(quote.upstreamCost == Decimal(string: "0.15")!)
        #expect(quote.margin == Decimal(string: "0.0075")!)
        #expect(quote.totalMicro == 157_500)
        #expect(quote.upstreamCostMicro == 150_000)
        #expect(quote.marginMicro == 7_500)
        #expect(quote.worstCase.billedSeconds == 10)
        #expect(quote.worstCase.total == Decimal(string: "0.315")!)
    }

    @Test func elevenSecondsOnSeedance20IsAboveTheMaximum() {
        #expect(throws: PricingError.durationAboveMax(11, max: 10, model: "bytedance/seedance-2.0")) {
            try catalog.quote(QuoteRequest(model: "bytedance/seedance-2.0", durationSeconds: 11), at: Day.november)
        }
        let error = try? #require(throws: PricingError.self) {
            try catalog.quote(QuoteRequest(model: "bytedance/seedance-2.0", durationSeconds: 11), at: Day.november)
        }
        #expect(error?.code == "duration_above_max")
        #expect(error?.message == "11 s is above the 10 s maximum of bytedance/seedance-2.0.")
    }

    @Test func blockRunRefusesAnotherResolution() {
        #expect(throws: PricingError.resolutionNotSupported("480p", model: "xai/grok-imagine-video", supported: ["720p"])) {
            try catalog.quote(QuoteRequest(model: "xai/grok-imagine-video", resolution: "480p"), at: Day.november)
        }
    }

    @Test func worldRouterUnknownOrOmittedResolutionIsPricedAs720p() throws {
        let omitted = try catalog.quote(QuoteRequest(model: "grok-imagine-video"), at: Day.november)
        #expect(omitted.resolution == "720p")
        #expect(omitted.resolutionFellBack == false)
        #expect(omitted.total == Decimal(string: "0.56")!)  // 8 s x 0.07

        let unknown = try catalog.quote(QuoteRequest(model: "grok-imagine-video", resolution: "1080p"), at: Day.november)
        #expect(unknown.resolution == "720p")
        #expect(unknown.resolutionFellBack)
        #expect(unknown.total == Decimal(string: "0.56")!)

        let low = try catalog.quote(QuoteRequest(model: "grok-imagine-video", durationSeconds: 6, resolution: "480P"), at: Day.november)
        #expect(low.resolution == "480p")
        #expect(low.total == Decimal(string: "0.3")!)  // 6 s x 0.05
    }

    @Test func worldRouterPreviewRequiresAnImage() {
        #expect(throws: PricingError.imageRequired(model: "grok-imagine-video-1.5-preview")) {
            try catalog.quote(QuoteRequest(model: "grok-imagine-video-1.5-preview"), at: Day.november)
        }
    }

    @Test func anImageAddsItsFee() throws {
        let preview = try catalog.quote(
            QuoteRequest(model: "grok-imagine-video-1.5-preview", imageURLs: ["https://example.com/start.png"]), at: Day.november)
        #expect(preview.lines.map(\.kind) == [.seconds, .imageFee])
        #expect(preview.total == Decimal(string: "1.13")!)  // 8 x 0.14 + 0.01
        #expect(preview.totalMicro == 1_130_000)

        let standard = try catalog.quote(
            QuoteRequest(model: "grok-imagine-video", durationSeconds: 5, resolution: "480p", imageURLs: ["https://example.com/a.png"]),
            at: Day.november)
        #expect(standard.total == Decimal(string: "0.252")!)  // 5 x 0.05 + 0.002
        #expect(standard.upstreamCost == Decimal(string: "0.252")!)
        #expect(standard.margin == 0)
    }

    @Test func quoteJSONCarriesTheDocumentedKeysAsDecimalStrings() throws {
        let quote = try catalog.quote(QuoteRequest(model: "bytedance/seedance-1.5-pro"), at: Day.november)
        let object = try #require(try JSONSerialization.jsonObject(with: quote.jsonData()) as? [String: Any])
        for key in ["provider", "model", "billed_seconds", "resolution", "currency", "lines", "total", "total_display", "worst_case_total", "catalog_version"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["total"] as? String == "0.157500")
        #expect(object["total_display"] as? String == "0.158")
        #expect(object["exact_total"] as? String == "0.1575")
        #expect(object["worst_case_total"] as? String == "0.315000")
        #expect(object["currency"] as? String == "USD")
        let lines = try #require(object["lines"] as? [[String: Any]])
        #expect(lines.first?["amount"] as? String == "0.15")
        #expect(lines.first?["unit_price"] as? String == "0.03")
    }
}

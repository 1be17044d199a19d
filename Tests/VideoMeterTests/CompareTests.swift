import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog

/// The same video at every seller of its underlying model, cheapest first, exclusions explained.
@Suite struct CompareTests {
    let date = CatalogDate.parse("2026-11-21T10:00:00Z")!

    @Test func theCheapestSellerChangesWithTheDuration() throws {
        let catalog = try Catalog.bundled()
        // 8 s at 720p: BlockRun's 0.05 a second plus 5 % beats 0.07 at WorldRouter and xAI.
        let eight = try catalog.compare(QuoteRequest(model: "grok-imagine-video", durationSeconds: 8, resolution: "720p"), at: date)
        #expect(eight.vendor == "xai" && eight.family == "grok-imagine-video")
        #expect(eight.options.map(\.provider) == ["blockrun", "worldrouter", "xai"])
        #expect(eight.options.map(\.totalMicro) == [420_000, 560_000, 560_000])
        #expect(eight.excluded.isEmpty)
        // 10 s: above BlockRun's 8 s maximum; WorldRouter and xAI tie, in provider order.
        let ten = try catalog.compare(QuoteRequest(model: "xai/grok-imagine-video", durationSeconds: 10, resolution: "720p"), at: date)
        #expect(ten.options.map(\.provider) == ["worldrouter", "xai"])
        #expect(ten.options.map(\.totalMicro) == [700_000, 700_000])
        #expect(ten.excluded.map(\.provider) == ["blockrun"])
        #expect(ten.excluded.first?.error.code == "duration_above_max")
        #expect(ten.excluded.first?.error.message == "10 s is above the 8 s maximum of xai/grok-imagine-video.")
    }

    @Test func eachSellersResolutionRulesApply() throws {
        // 480p: BlockRun makes 720p only (refused), WorldRouter and xAI price 480p at 0.05.
        let comparison = try Catalog.bundled().compare(QuoteRequest(model: "grok-imagine-video", durationSeconds: 4, resolution: "480p"), at: date)
        #expect(comparison.options.map { "\($0.provider) \($0.resolution) \($0.totalMicro)" } == ["worldrouter 480p 200000", "xai 480p 200000"])
        #expect(comparison.excluded.map { "\($0.provider) \($0.error.code)" } == ["blockrun resolution_not_supported"])
        // 1080p: WorldRouter falls back to 720p, xAI refuses, BlockRun refuses.
        let fallback = try Catalog.bundled().compare(QuoteRequest(model: "grok-imagine-video", durationSeconds: 4, resolution: "1080p"), at: date)
        #expect(fallback.options.map { "\($0.provider) \($0.resolution) \($0.resolutionFellBack)" } == ["worldrouter 720p true"])
        #expect(Set(fallback.excluded.map(\.provider)) == ["blockrun", "xai"])
    }

    @Test func imageRequirementsApplyPerSeller() throws {
        let comparison = try Catalog.bundled().compare(QuoteRequest(model: "grok-imagine-video-1.5-preview", durationSeconds: 4), at: date)
        #expect(comparison.options.isEmpty)
        #expect(comparison.excluded.map { "\($0.provider) \($0.error.code)" } == ["worldrouter image_required", "xai image_required"])
    }

    @Test func aModelNoSellerHasIsUnknownModel() throws {
        #expect(throws: PricingError.unknownModel("openai/sora-2", provider: nil)) {
            try Catalog.bundled().compare(QuoteRequest(model: "openai/sora-2"), at: date)
        }
    }

    @Test func aFamilyThatIsNotAWordFailsValidation() {
        let json = #"""
        {"provider": "p", "versions": [{"version": "v", "effective_from": "2026-01-01T00:00:00Z", "source": "s",
          "models": [{"id": "m", "vendor": "v", "family": "Grok Video!", "api_style": "sync", "resolutions": ["720p"],
            "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.05"}, "source": "s"}]}]}
        """#
        #expect(throws: CatalogErrors.self) { try Catalog.decode(files: [("p.json", Data(json.utf8))]) }
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog

@Suite("Catalog validation names the file, the entry and the reason")
struct CatalogValidationTests {
    func errors(_ json: String, file: String = "bad.json") -> [CatalogError] {
        do {
            _ = try Catalog.decode(files: [(file, Data(json.utf8))])
            return []
        } catch let error as CatalogErrors {
            return error.errors
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func theShippedCatalogIsValid() throws {
        let catalog = try Catalog.bundled()
        #expect(catalog.providers.map(\.id) == ["blockrun", "worldrouter", "xai"])
        #expect(catalog.provider("blockrun")?.versions.first?.models.count == 4)
        #expect(catalog.provider("worldrouter")?.versions.first?.models.count == 2)
        #expect(catalog.provider("xai")?.versions.first?.models.count == 2)
        // xAI sells the same model ids as WorldRouter: it is reached by name only when named.
        #expect(catalog.provider("xai")?.routesByModelName == false)
        #expect(catalog.providers(listing: "grok-imagine-video") == ["worldrouter"])
    }

    @Test func theEmbeddedCatalogIsTheOneInPricingFolder() throws {
        let pricing = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../pricing").standardizedFileURL
        #expect(try Catalog.load(directory: pricing) == Catalog.bundled())
    }

    @Test func aPriceWrittenAsAJSONNumberIsRefused() {
        let json = providerJSON(models: [perSecondModel()]).replacingOccurrences(of: "\"0.050\"", with: "0.05")
        let found = errors(json)
        #expect(found.count == 1)
        #expect(found.first?.file == "bad.json")
        #expect(found.first?.entry == "versions[0] / models[0] / per_second / 720p")
        #expect(found.first?.reason.contains("decimal strings") == true)
    }

    @Test func aMissingFieldIsNamed() {
        let found = errors(#"{"provider": "x", "versions": [{"version": "v", "effective_from": "2026-01-01", "models": []}]}"#)
        #expect(found.first?.entry == "versions[0] / source")
        #expect(found.first?.reason == "the required field 'source' is missing")
    }

    @Test func malformedJSONIsReported() {
        let found = errors("{ not json")
        #expect(found.count == 1)
        #expect(found.first?.reason.hasPrefix("not valid JSON") == true)
    }

    @Test func everyProblemOfAFileIsListedWithItsEntry() {
        let models = [
            perSecondModel(id: "a", rate: "abc"),
            perSecondModel(id: "b", min: 5, def: 3, max: 10),
            perSecondModel(id: "b"),
            #"{"id": "c", "api_style": "later", "resolutions": ["720p"], "duration": {"default": 5, "min": 1, "max": 10}, "source": "x"}"#,
            perSecondModel(id: "d", extra: #", "billable_outcomes": ["succeeded", "maybe"]"#),
        ]
        let json = providerJSON(models: models).replacingOccurrences(of: "2026-01-01T00:00:00Z", with: "last tuesday")
        let found = errors(json).map { "\($0.entry): \($0.reason)" }
        #expect(found.contains("versions[0] v1 / effective_from: 'last tuesday' is not an ISO 8601 date such as 2026-04-01T00:00:00Z"))
        #expect(found.contains("versions[0] v1 / models[0] a / per_second / 720p: 'abc' is not a plain decimal such as \"0.050\""))
        #expect(found.contains("versions[0] v1 / models[1] b / duration: needs min <= default <= max, got 5 / 3 / 10"))
        #expect(found.contains("versions[0] v1 / models[2] b: model 'b' is listed twice in this version"))
        #expect(found.contains("versions[0] v1 / models[3] c / api_style: 'later' is not sync or async"))
        #expect(found.contains("versions[0] v1 / models[3] c: no price: give per_second or output_tokens"))
        #expect(found.contains { $0.hasPrefix("versions[0] v1 / models[4] d / billable_outcomes: 'maybe'") })
        #expect(found.count == 7)
    }

    @Test func aResolutionWithoutAPriceIsRefused() {
        let model = #"{"id": "m", "api_style": "async", "resolutions": ["480p", "720p"], "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.07"}, "source": "x"}"#
        let found = errors(providerJSON(models: [model]))
        #expect(found.map(\.entry) == ["versions[0] v1 / models[0] m / per_second"])
        #expect(found.first?.reason == "no price for 480p")
    }

    @Test func negativePricesAndBadScalesAreRefused() {
        let json = providerJSON(models: [perSecondModel(rate: "-0.01")]).replacingOccurrences(of: "\"display_scale\": 3", with: "\"display_scale\": 9")
        let found = errors(json).map(\.entry)
        #expect(found.contains("versions[0] v1 / display_scale"))
        #expect(found.contains("versions[0] v1 / models[0] m / per_second / 720p"))
    }

    @Test func aProviderDefinedTwiceIsRefused() {
        let json = providerJSON(models: [perSecondModel()])
        #expect(throws: CatalogErrors.self) {
            try Catalog.decode(files: [("one.json", Data(json.utf8)), ("two.json", Data(json.utf8))])
        }
    }

    @Test func versionsTakingEffectTogetherAreRefused() {
        let json = #"""
        {"provider": "p", "versions": [
          {"version": "a", "effective_from": "2026-01-01", "source": "s", "models": [\#(perSecondModel())]},
          {"version": "b", "effective_from": "2026-01-01T00:00:00Z", "source": "s", "models": [\#(perSecondModel())]}
        ]}
        """#
        #expect(errors(json).map(\.reason) == ["versions 'a' and 'b' take effect at the same instant"])
    }
    @Test func aMisspeltFieldIsRefusedRatherThanReadAsZero() {
        let model = perSecondModel(extra: #", "image_fees": "0.01", "_note": "comments start with an underscore""#)
        let json = providerJSON(models: [model])
            .replacingOccurrences(of: #""source": "test fixture","#, with: #""source": "test fixture", "margin_percnt": "5","#)
            .replacingOccurrences(of: #""min": 1,"#, with: #""min": 1, "maximum": 12,"#)
        let found = errors(json).map { "\($0.entry): \($0.reason)" }
        #expect(found.count == 3)
        #expect(found.contains { $0.hasPrefix("versions[0] v1 / margin_percnt: unknown field; the fields here are display_scale, effective_from, margin_percent,") })
        #expect(found.contains { $0.hasPrefix("versions[0] v1 / models[0] m / image_fees: unknown field;") })
        #expect(found.contains { $0.hasPrefix("versions[0] v1 / models[0] m / duration / maximum: unknown field; the fields here are default, max, min") })
    }

    @Test func aModelPricedTwiceOrForAnAbsurdDurationIsRefused() {
        let twice = perSecondModel(id: "twice", extra: #", "output_tokens": {"per_million": "2.4", "frame_sizes": {"720p": [1280, 720]}}"#)
        let endless = perSecondModel(id: "endless", max: 100_000_000)
        let fast = #"{"id": "fast", "api_style": "sync", "resolutions": ["720p"], "duration": {"default": 5, "min": 1, "max": 10}, "output_tokens": {"per_million": "2.4", "frame_sizes": {"720p": [1280, 720]}, "frames_per_second": 100000}, "source": "x"}"#
        let found = errors(providerJSON(models: [twice, endless, fast])).map { "\($0.entry): \($0.reason)" }
        #expect(found == [
            "versions[0] v1 / models[0] twice: two prices: give per_second or output_tokens, not both",
            "versions[0] v1 / models[1] endless / duration: max must be at most 3600 s, not 100000000",
            "versions[0] v1 / models[2] fast / output_tokens: the token formula needs frames_per_second 1...240, extra_frames 0...1000, pixels_per_token 1...1048576",
        ])
    }
}

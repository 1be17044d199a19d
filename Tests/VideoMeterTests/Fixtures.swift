import Foundation
import VideoMeter
import VideoMeterCatalog

/// Dates used across the pricing tests.
enum Day {
    static func at(_ text: String) -> Date { CatalogDate.parse(text)! }
    static let november = at("2026-11-21T12:00:00Z")
}

/// A catalog built from JSON text, named like a file.
func catalog(_ files: (String, String)...) throws -> Catalog {
    try Catalog.decode(files: files.map { ($0.0, Data($0.1.utf8)) })
}

/// A provider file with one version and the given model entries (JSON objects).
func providerJSON(
    provider: String = "testprov", version: String = "v1", effectiveFrom: String = "2026-01-01T00:00:00Z",
    margin: String = "0", rounding: String = "half_up", displayScale: Int = 3, models: [String]
) -> String {
    """
    {"provider": "\(provider)", "versions": [
      {"version": "\(version)", "effective_from": "\(effectiveFrom)", "source": "test fixture",
       "margin_percent": "\(margin)", "rounding": "\(rounding)", "display_scale": \(displayScale),
       "models": [\(models.joined(separator: ","))]}
    ]}
    """
}

func perSecondModel(id: String = "m", rate: String = "0.050", resolutions: [String] = ["720p"], fallback: String = "reject", min: Int = 1, def: Int = 5, max: Int = 10, extra: String = "") -> String {
    let prices = resolutions.map { "\"\($0)\": \"\(rate)\"" }.joined(separator: ", ")
    let list = resolutions.map { "\"\($0)\"" }.joined(separator: ", ")
    return """
    {"id": "\(id)", "api_style": "sync", "resolutions": [\(list)], "unknown_resolution": "\(fallback)",
     "duration": {"default": \(def), "min": \(min), "max": \(max)}, "per_second": {\(prices)}, "source": "fixture"\(extra)}
    """
}

/// BlockRun's later public card (Aug 2026, pricing-facts.md): Seedance per output token x 1.05
/// margin + $0.001 flat per payment; used only as a fixture, it does not replace the shipped sheet.
let blockRunWithTokenCard = """
{
  "provider": "blockrun",
  "versions": [
    {"version": "blockrun-2026-04", "effective_from": "2026-04-01T00:00:00Z", "source": "sheet",
     "margin_percent": "5", "display_scale": 3,
     "models": [
       {"id": "bytedance/seedance-1.5-pro", "api_style": "sync", "resolutions": ["720p"],
        "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "0.030"}, "source": "sheet"}
     ]},
    {"version": "blockrun-2026-08", "effective_from": "2026-08-01T00:00:00Z", "source": "later card",
     "margin_percent": "5", "display_scale": 3,
     "models": [
       {"id": "bytedance/seedance-1.5-pro", "api_style": "sync", "resolutions": ["480p", "720p"],
        "default_resolution": "720p", "duration": {"default": 5, "min": 4, "max": 12},
        "output_tokens": {"per_million": "2.4", "frame_sizes": {"480p": [864, 480], "720p": [1280, 720]}},
        "flat_fee": "0.001", "source": "card"}
     ]}
  ]
}
"""

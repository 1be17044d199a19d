import Foundation
import Testing
import VideoMeter

/// Upstream cost, margin and flat fee: one definition, parts that always add up.
@Suite struct ChargeSplitTests {
    /// A price list with a 20 % margin and a 0.01 flat fee, 0.0313 a second at 720p.
    static let catalog: Catalog = {
        let json = #"""
        {"provider": "resell", "name": "Resell", "currency": "USD", "versions": [{
          "version": "resell-1", "effective_from": "2026-01-01T00:00:00Z", "source": "test",
          "margin_percent": "20", "settlement_scale": 6, "rounding": "half_up", "display_scale": 3,
          "max_prompt_characters": 100,
          "models": [{"id": "m", "vendor": "v", "api_style": "async", "resolutions": ["720p"], "default_resolution": "720p",
            "unknown_resolution": "reject", "duration": {"default": 5, "min": 1, "max": 10}, "requires_image": false,
            "per_second": {"720p": "0.0313"}, "image_fee": "0.002", "flat_fee": "0.01", "billable_outcomes": ["succeeded"], "source": "test"}]
        }]}
        """#
        return try! Catalog.decode(files: [("resell.json", Data(json.utf8))])
    }()

    @Test func aQuoteSplitsByItsLinesAndThePartsAddUp() throws {
        let quote = try Self.catalog.quote(
            QuoteRequest(model: "m", durationSeconds: 5, imageURLs: ["https://example.com/a.png"]), at: CatalogDate.parse("2026-11-21")!)
        // upstream 5 x 0.0313 + 0.002 = 0.1585; margin 20 % = 0.0317; fee 0.01; total 0.2002.
        #expect(quote.totalMicro == 200_200)
        #expect(quote.split == ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 31_700, flatFeeMicro: 10_000))
        #expect(quote.split.totalMicro == quote.totalMicro)
        #expect(quote.marginMicro == Money.microUnits(quote.margin))
    }

    @Test func theMarginAbsorbsTheTotalsRounding() {
        // 0.0000005 of upstream cost rounds up to 1 micro on its own and in the total alike, but
        // a margin line that rounds the other way is what is left, so the parts still add up.
        let split = ChargeSplit(totalMicro: 100, upstreamCostMicro: 67, flatFeeMicro: 0)
        #expect(split == ChargeSplit(upstreamCostMicro: 67, marginMicro: 33, flatFeeMicro: 0))
    }

    @Test(arguments: [0, 1, 9_999, 10_000, 50_000, 120_000, 199_999, 200_200])
    func aShareAddsUpToThePostedAmount(_ posted: MicroUSD) {
        let held = ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 31_700, flatFeeMicro: 10_000)
        let share = held.share(postedMicro: posted, heldMicro: 200_200)
        #expect(share.totalMicro == posted)
        #expect(share.upstreamCostMicro >= 0 && share.flatFeeMicro >= 0 && share.marginMicro >= 0)
        #expect(share.upstreamCostMicro <= held.upstreamCostMicro && share.flatFeeMicro <= held.flatFeeMicro)
        if posted == 200_200 { #expect(share == held) }
    }

    @Test func aHalfChargeCarriesHalfTheUpstreamCostAndTheWholeFee() {
        let held = ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 31_700, flatFeeMicro: 10_000)
        // floor(158,500 x 100,100 / 200,200) = 79,250; the fee whole; the margin the rest.
        #expect(held.share(postedMicro: 100_100, heldMicro: 200_200) == ChargeSplit(upstreamCostMicro: 79_250, marginMicro: 10_850, flatFeeMicro: 10_000))
    }

    @Test func anOldSplitThatDoesNotAddUpIsSharedSoThatItDoes() {
        // A hold granted before ledger v4 with a flat fee: the fee was counted in the margin line
        // only, so the stored parts fall short of the amount.
        let old = ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 31_700, flatFeeMicro: 0)
        let whole = old.share(postedMicro: 200_200, heldMicro: 200_200)
        #expect(whole == ChargeSplit(upstreamCostMicro: 158_500, marginMicro: 41_700, flatFeeMicro: 0))
    }
}

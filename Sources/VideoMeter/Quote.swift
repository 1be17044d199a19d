import Foundation

/// One line of a quote: a quantity at a unit price.
public struct QuoteLine: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Generated seconds at the per-second rate of the resolution.
        case seconds
        /// Output tokens at the per-token rate.
        case outputTokens = "output_tokens"
        /// Input images at the image fee.
        case imageFee = "image_fee"
        /// The reseller's margin on the upstream cost.
        case margin
        /// A fixed fee per request, after the margin.
        case flatFee = "flat_fee"
    }

    public var kind: Kind
    public var quantity: Decimal
    public var unitPrice: Decimal
    /// `quantity x unitPrice`, exact (no rounding).
    public var amount: Decimal
    /// Billed seconds and resolution, for the seconds and token lines' descriptions.
    var seconds = 0
    var resolution = ""

    /// A short label for people, e.g. `5 s at 720p` (built on demand: quoting stays allocation-light).
    public var description: String {
        switch kind {
        case .seconds: return "\(seconds) s at \(resolution)"
        case .outputTokens: return "\(quantity) output tokens (\(seconds) s at \(resolution))"
        case .imageFee: return "\(quantity) input image\(quantity == 1 ? "" : "s")"
        case .margin: return "margin \(unitPrice * 100) %"
        case .flatFee: return "fee per request"
        }
    }
}

/// The price of a request, exactly, before anything is sent.
public struct Quote: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var apiStyle: APIStyle
    public var currency: String
    /// Seconds that will be billed: the requested duration, or the model's default.
    public var billedSeconds: Int
    /// The resolution the upstream will generate and bill, after the fallback rule.
    public var resolution: String
    /// True when the requested resolution was unknown and the model's default was used instead.
    public var resolutionFellBack: Bool
    public var imageCount: Int
    public var lines: [QuoteLine]
    /// Sum of the lines, exact.
    public var exactTotal: Decimal
    /// `exactTotal` at the settlement scale, with the catalog's rounding rule: what is held and charged.
    public var total: Decimal
    /// `exactTotal` at the display scale (BlockRun's sheet shows 3 places).
    public var displayTotal: Decimal
    /// The upstream's own price (seconds, tokens, image fees), before margin and flat fee.
    public var upstreamCost: Decimal
    /// The margin line's amount.
    public var margin: Decimal
    /// The flat fee line's amount (0 when the price list has none).
    public var flatFee: Decimal = 0
    public var settlementScale: Int
    public var displayScale: Int
    public var rounding: RoundingRule
    public var catalogVersion: String
    public var catalogEffectiveFrom: Date
    /// The same request at the model's maximum duration.
    public var worstCase: WorstCase
    /// The statuses at which the call is charged.
    public var billableOutcomes: Set<Outcome>

    /// `total` in micro-dollars, as the ledger holds it.
    public var totalMicro: MicroUSD { Money.microUnits(total, rounding: rounding) }
    public var upstreamCostMicro: MicroUSD { Money.microUnits(upstreamCost, rounding: rounding) }
    public var flatFeeMicro: MicroUSD { Money.microUnits(flatFee, rounding: rounding) }
    /// The margin line in micro-dollars, as ``split`` defines it: the total less the upstream cost
    /// and the flat fee (so it absorbs the total's rounding).
    public var marginMicro: MicroUSD { split.marginMicro }
    /// The total split by the quote's lines, as the ledger stores it.
    public var split: ChargeSplit {
        ChargeSplit(totalMicro: totalMicro, upstreamCostMicro: upstreamCostMicro, flatFeeMicro: flatFeeMicro)
    }

    public struct WorstCase: Sendable, Equatable {
        public var billedSeconds: Int
        public var exactTotal: Decimal
        public var total: Decimal
        public var displayTotal: Decimal
    }
}

import Foundation

/// One model's prices as integers at one decimal scale: the exact fast path of a quote.
///
/// Every catalog amount is a decimal with a few places (`0.030`, `1.2` per million tokens, `5` %
/// margin), so a quote's exact total is an integer at the sum of those scales: the upstream lines
/// at ``upstreamScale``, times the margin fraction at ``marginScale``, plus the flat fee. Computed
/// once when the catalog is read; a quote is then a few `Int64` multiplications, each checked for
/// overflow, and ``ScaledPrices/round(_:from:to:_:)`` reproduces `NSDecimalRound` on integers.
/// Where a catalog's figures do not fit (more than 18 places, or a product past `Int64.max`), the
/// fast path answers nil and the Decimal engine prices the call: both give the same figures, which
/// the tests prove on the shipped catalog and on random ones.
public struct ScaledPrices: Sendable, Equatable {
    /// Scale of the upstream amounts: per-second rates, the per-token price, the image fee.
    let upstreamScale: Int
    /// Scale of the margin fraction (`5` % = `0.05`: 5 at scale 2).
    let marginScale: Int
    /// Scale of the exact total: upstream + margin + flat fee.
    let exactScale: Int
    let perSecond: [String: Int64]
    let perToken: Int64?
    let imageFee: Int64
    let marginFraction: Int64
    /// The flat fee at ``exactScale``.
    let flatFee: Int64
    /// `10^(exactScale - upstreamScale)` and `10^(exactScale - upstreamScale - marginScale)`.
    let upstreamFactor: Int64
    let marginFactor: Int64

    /// The prices as integers, or nil when they do not fit the fast path.
    init?(_ prices: PriceComponents) {
        var perSecondScaled: [String: (units: Int64, scale: Int)] = [:]
        for (resolution, rate) in prices.perSecond {
            guard let scaled = Self.units(of: rate) else { return nil }
            perSecondScaled[resolution] = scaled
        }
        let token = prices.tokens.map { Self.units(of: $0.perToken) }
        if case .some(nil) = token { return nil }
        guard let fee = Self.units(of: prices.imageFee), let margin = Self.units(of: prices.marginFraction),
              let flat = Self.units(of: prices.flatFee)
        else { return nil }

        let upstreamScale = ([fee.scale, token??.scale ?? 0] + perSecondScaled.values.map(\.scale)).max()!
        let exactScale = max(upstreamScale + margin.scale, flat.scale)
        guard exactScale <= Self.maxScale else { return nil }
        func rescaled(_ value: (units: Int64, scale: Int), to scale: Int) -> Int64? {
            let (units, overflow) = value.units.multipliedReportingOverflow(by: Self.powersOfTen[scale - value.scale])
            return overflow ? nil : units
        }
        var perSecond: [String: Int64] = [:]
        for (resolution, rate) in perSecondScaled {
            guard let units = rescaled(rate, to: upstreamScale) else { return nil }
            perSecond[resolution] = units
        }
        var perToken: Int64?
        if let token = token ?? nil {
            guard let units = rescaled(token, to: upstreamScale) else { return nil }
            perToken = units
        }
        guard let imageFee = rescaled(fee, to: upstreamScale), let flatFee = rescaled(flat, to: exactScale) else { return nil }
        self.upstreamScale = upstreamScale
        self.marginScale = margin.scale
        self.exactScale = exactScale
        self.perSecond = perSecond
        self.perToken = perToken
        self.imageFee = imageFee
        self.marginFraction = margin.units
        self.flatFee = flatFee
        self.upstreamFactor = Self.powersOfTen[exactScale - upstreamScale]
        self.marginFactor = Self.powersOfTen[exactScale - upstreamScale - margin.scale]
    }

    /// The exact total and the upstream cost of a call, as integers at ``exactScale`` and
    /// ``upstreamScale``, the lines in the order of the Decimal engine (seconds or tokens, images,
    /// margin, flat fee). Nil when a product leaves `Int64`.
    func exact(seconds: Int, resolution: String, images: Int, tokens: TokenPricing?) -> (exact: Int64, upstream: Int64)? {
        var upstream: Int64 = 0
        if let rate = perSecond[resolution] {
            guard let amount = Self.product(Int64(seconds), rate) else { return nil }
            upstream = amount
        } else if let tokens, let perToken, let size = tokens.frameSizes[resolution] {
            let count = tokens.formula.tokens(width: size.width, height: size.height, seconds: seconds)
            guard let amount = Self.product(Int64(count), perToken) else { return nil }
            upstream = amount
        }
        if images > 0 && imageFee > 0 {
            guard let fees = Self.product(Int64(images), imageFee), let sum = Self.sum(upstream, fees) else { return nil }
            upstream = sum
        }
        guard let base = Self.product(upstream, upstreamFactor) else { return nil }
        var exact = base
        if marginFraction > 0 {
            guard let margin = Self.product(upstream, marginFraction), let scaled = Self.product(margin, marginFactor),
                  let sum = Self.sum(exact, scaled)
            else { return nil }
            exact = sum
        }
        if flatFee > 0 {
            guard let sum = Self.sum(exact, flatFee) else { return nil }
            exact = sum
        }
        return (exact, upstream)
    }

    // MARK: - Integer decimal arithmetic

    static let maxScale = 18
    static let powersOfTen: [Int64] = (0...maxScale).map { exponent in
        (0..<exponent).reduce(Int64(1)) { value, _ in value * 10 }
    }

    /// `value` as `units / 10^scale`, or nil when it is negative, has more than 18 places or does
    /// not fit `Int64`. Goes through the Decimal's own digits, never through floating point.
    static func units(of value: Decimal) -> (units: Int64, scale: Int)? {
        guard value.isFinite, value >= 0 else { return nil }
        let scale = max(0, -value.exponent)
        guard scale <= maxScale else { return nil }
        var scaled = value
        if scale > 0 {
            scaled = value * Decimal(sign: .plus, exponent: scale, significand: 1)
        }
        guard let units = Int64(NSDecimalNumber(decimal: scaled).stringValue) else { return nil }
        return (units, scale)
    }

    static func product(_ a: Int64, _ b: Int64) -> Int64? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : result
    }

    static func sum(_ a: Int64, _ b: Int64) -> Int64? {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// A non-negative `units / 10^scale` rounded to `target` places with `rule`, as units at
    /// `target`: the integer form of ``Money/round(_:scale:_:)``. Nil on overflow.
    public static func round(_ units: Int64, from scale: Int, to target: Int, _ rule: RoundingRule) -> Int64? {
        precondition(units >= 0, "the fast path prices non-negative amounts only")
        if target >= scale {
            guard target - scale <= maxScale else { return nil }
            return product(units, powersOfTen[target - scale])
        }
        guard scale - target <= maxScale else { return 0 }
        let divisor = powersOfTen[scale - target]
        let quotient = units / divisor
        let remainder = units % divisor
        // remainder < divisor <= 10^18, so doubling it stays below Int64.max.
        let twice = remainder * 2
        let up: Bool
        switch rule {
        case .halfUp: up = twice >= divisor
        case .halfEven: up = twice > divisor || (twice == divisor && quotient % 2 == 1)
        case .up: up = remainder > 0
        case .down: up = false
        }
        return up ? quotient + 1 : quotient
    }
}

/// A quote's figures from the exact fast path: what re-pricing and the benchmarks need, without
/// the Decimal lines of a full ``Quote``. Amounts are integers at their scale; the `Decimal` and
/// micro-dollar views are computed at the edge.
public struct QuoteTotals: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var billedSeconds: Int
    public var resolution: String
    public var resolutionFellBack: Bool
    public var imageCount: Int
    public var catalogVersion: String
    /// The exact total, `exactUnits / 10^exactScale`.
    public var exactUnits: Int64
    public var exactScale: Int
    /// The total at the settlement scale (what is held and charged) and at the display scale.
    public var totalUnits: Int64
    public var settlementScale: Int
    public var displayUnits: Int64
    public var displayScale: Int
    /// The same request at the model's maximum duration, at the settlement and display scales.
    public var worstCaseTotalUnits: Int64
    public var worstCaseDisplayUnits: Int64
    public var rounding: RoundingRule

    public var exactTotal: Decimal { Decimal(sign: .plus, exponent: -exactScale, significand: Decimal(exactUnits)) }
    public var total: Decimal { Decimal(sign: .plus, exponent: -settlementScale, significand: Decimal(totalUnits)) }
    public var displayTotal: Decimal { Decimal(sign: .plus, exponent: -displayScale, significand: Decimal(displayUnits)) }
    public var worstCaseTotal: Decimal {
        Decimal(sign: .plus, exponent: -settlementScale, significand: Decimal(worstCaseTotalUnits))
    }
    public var worstCaseDisplayTotal: Decimal {
        Decimal(sign: .plus, exponent: -displayScale, significand: Decimal(worstCaseDisplayUnits))
    }
    /// The total in micro-dollars, as the ledger would hold and charge it (settlement scales are 0
    /// to 6, so this is exact).
    public var totalMicro: MicroUSD { totalUnits * ScaledPrices.powersOfTen[Money.microScale - settlementScale] }

    /// The figures of a full quote, for calls the fast path cannot price.
    init(_ quote: Quote) {
        func units(_ value: Decimal, _ scale: Int) -> Int64 {
            let text = NSDecimalNumber(decimal: value * Decimal(sign: .plus, exponent: scale, significand: 1)).stringValue
            guard let units = Int64(text) else {
                // The catalog's ranges keep a total far below this (at most 1,000 USD a second).
                preconditionFailure("a total of \(value) USD does not fit in 64 bits at scale \(scale)")
            }
            return units
        }
        let exact = ScaledPrices.units(of: quote.exactTotal)
        self.init(
            provider: quote.provider, model: quote.model, billedSeconds: quote.billedSeconds, resolution: quote.resolution,
            resolutionFellBack: quote.resolutionFellBack, imageCount: quote.imageCount, catalogVersion: quote.catalogVersion,
            exactUnits: exact?.units ?? units(quote.total, quote.settlementScale), exactScale: exact?.scale ?? quote.settlementScale,
            totalUnits: units(quote.total, quote.settlementScale), settlementScale: quote.settlementScale,
            displayUnits: units(quote.displayTotal, quote.displayScale), displayScale: quote.displayScale,
            worstCaseTotalUnits: units(quote.worstCase.total, quote.settlementScale),
            worstCaseDisplayUnits: units(quote.worstCase.displayTotal, quote.displayScale), rounding: quote.rounding
        )
    }

    init(
        provider: String, model: String, billedSeconds: Int, resolution: String, resolutionFellBack: Bool, imageCount: Int,
        catalogVersion: String, exactUnits: Int64, exactScale: Int, totalUnits: Int64, settlementScale: Int,
        displayUnits: Int64, displayScale: Int, worstCaseTotalUnits: Int64, worstCaseDisplayUnits: Int64, rounding: RoundingRule
    ) {
        self.provider = provider
        self.model = model
        self.billedSeconds = billedSeconds
        self.resolution = resolution
        self.resolutionFellBack = resolutionFellBack
        self.imageCount = imageCount
        self.catalogVersion = catalogVersion
        self.exactUnits = exactUnits
        self.exactScale = exactScale
        self.totalUnits = totalUnits
        self.settlementScale = settlementScale
        self.displayUnits = displayUnits
        self.displayScale = displayScale
        self.worstCaseTotalUnits = worstCaseTotalUnits
        self.worstCaseDisplayUnits = worstCaseDisplayUnits
        self.rounding = rounding
    }
}

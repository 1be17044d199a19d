/// What an amount held or charged is made of, by the quote's lines, in micro-dollars: the
/// upstream's own price (seconds or output tokens, and input-image fees), the margin line, and the
/// flat fee per request. The one definition the ledger stores on every hold, journal entry and
/// usage event (docs/LEDGER.md, "Amounts").
///
/// The parts always add up to the amount: the upstream cost and the flat fee are each rounded to
/// micro-dollars with the price list's rule, and the margin is the rest, so it absorbs the one
/// rounding step of the total.
public struct ChargeSplit: Sendable, Equatable, Hashable {
    public var upstreamCostMicro: MicroUSD
    public var marginMicro: MicroUSD
    public var flatFeeMicro: MicroUSD

    public static let zero = ChargeSplit(upstreamCostMicro: 0, marginMicro: 0, flatFeeMicro: 0)

    public init(upstreamCostMicro: MicroUSD, marginMicro: MicroUSD, flatFeeMicro: MicroUSD) {
        self.upstreamCostMicro = upstreamCostMicro
        self.marginMicro = marginMicro
        self.flatFeeMicro = flatFeeMicro
    }

    /// The split of `totalMicro`, given its upstream cost and flat fee: the margin is the rest.
    public init(totalMicro: MicroUSD, upstreamCostMicro: MicroUSD, flatFeeMicro: MicroUSD) {
        self.init(upstreamCostMicro: upstreamCostMicro, marginMicro: totalMicro - upstreamCostMicro - flatFeeMicro, flatFeeMicro: flatFeeMicro)
    }

    public var totalMicro: MicroUSD { upstreamCostMicro + marginMicro + flatFeeMicro }

    /// The part of this split (of `heldMicro`) that a charge of `postedMicro` carries, when nothing
    /// better is known (the metered client reprices what the upstream delivered and passes that
    /// split instead): the upstream cost scaled to the charged share, rounding towards zero; the
    /// flat fee whole as long as the rest of the charge covers it; the margin the rest. The parts
    /// add up to `postedMicro`.
    public func share(postedMicro: MicroUSD, heldMicro: MicroUSD) -> ChargeSplit {
        precondition(heldMicro >= 0 && (0...heldMicro).contains(postedMicro), "a charge is between 0 and the held amount")
        guard postedMicro != heldMicro || totalMicro != heldMicro else { return self }
        guard heldMicro > 0 else { return .zero }
        // 128-bit intermediate product; the quotient fits because posted <= held.
        let product = max(upstreamCostMicro, 0).multipliedFullWidth(by: postedMicro)
        let upstream = min(heldMicro.dividingFullWidth(product).quotient, postedMicro)
        let flat = min(max(flatFeeMicro, 0), postedMicro - upstream)
        return ChargeSplit(totalMicro: postedMicro, upstreamCostMicro: upstream, flatFeeMicro: flat)
    }
}

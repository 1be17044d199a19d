import VideoMeter

/// How an invoice line is rounded: a number of decimal places (a price list's display scale) and a
/// rounding rule, applied to integer micro-dollars through ``Money/round(_:scale:_:)``, the same
/// rounding a quote's displayed total uses.
public struct InvoiceRounding: Sendable, Hashable, CustomStringConvertible {
    /// Decimal places kept, 0...6.
    public let scale: Int
    public let rule: RoundingRule

    public init(scale: Int, rule: RoundingRule) {
        precondition((0...Money.microScale).contains(scale), "an invoice scale must be 0...6 decimal places, not \(scale)")
        self.scale = scale
        self.rule = rule
    }

    /// Used for a price list the catalog does not know: 2 decimal places, half-up.
    public static let fallback = InvoiceRounding(scale: 2, rule: .halfUp)

    /// Micro-dollars in one unit of the last kept place (10,000 at scale 2, 1,000 at scale 3).
    public var unitMicro: MicroUSD {
        var unit: MicroUSD = 1
        for _ in scale..<Money.microScale { unit *= 10 }
        return unit
    }

    /// Rounds micro-dollars to a whole number of ``unitMicro``, with the one rounding
    /// implementation quotes use (``Money/round(_:scale:_:)``).
    public func round(_ micro: MicroUSD) -> MicroUSD {
        Money.microUnits(Money.round(Money.dollars(micro), scale: scale, rule), rounding: rule)
    }

    /// Formats an amount already rounded to this scale: `0.788` at scale 3, `0.79` at scale 2.
    public func format(_ micro: MicroUSD) -> String {
        precondition(micro % unitMicro == 0, "\(micro) micro-dollars has more than \(scale) decimal places")
        let full = Money.format(micro: micro)
        return String(full.dropLast(Money.microScale - scale + (scale == 0 ? 1 : 0)))
    }

    /// `3 decimal places, half-up`.
    public var description: String {
        "\(scale) decimal place\(scale == 1 ? "" : "s"), \(Self.name(rule))"
    }

    static func name(_ rule: RoundingRule) -> String {
        switch rule {
        case .halfUp: "half-up"
        case .halfEven: "half-even"
        case .up: "up"
        case .down: "down"
        }
    }
}

/// The display rounding of each price list (catalog version), by version id: what invoice lines are
/// rounded with.
///
/// A line whose calls were priced by several price lists uses the largest display scale among them
/// (so no list's precision is lost); a price list that is not in the table uses
/// ``InvoiceRounding/fallback`` and the invoice says so.
public struct InvoiceRoundings: Sendable, Hashable {
    public var byVersion: [String: InvoiceRounding]

    public init(_ byVersion: [String: InvoiceRounding] = [:]) {
        self.byVersion = byVersion
    }

    /// Every version of every provider in `catalog`, with its `display_scale` and `rounding`.
    public init(catalog: Catalog) {
        var table: [String: InvoiceRounding] = [:]
        for provider in catalog.providers {
            for version in provider.versions {
                table[version.id] = InvoiceRounding(scale: min(max(version.displayScale, 0), Money.microScale), rule: version.rounding)
            }
        }
        self.init(table)
    }

    /// The rounding chosen for a line priced by `versions`, and why.
    public struct Choice: Sendable, Hashable {
        public var rounding: InvoiceRounding
        /// The price lists considered, sorted.
        public var versions: [String]
        /// Those of `versions` the table does not know (they count as ``InvoiceRounding/fallback``).
        public var unknownVersions: [String]
        /// Several lists had the largest scale with different rules; half-up was used.
        public var rulesDisagreed: Bool
    }

    /// The largest scale among `versions` (unknown ones count as the fallback); its rule when every
    /// list with that scale agrees on one, else half-up.
    public func choose(_ versions: some Sequence<String>) -> Choice {
        let sorted = Set(versions).sorted()
        let unknown = sorted.filter { byVersion[$0] == nil }
        let candidates = sorted.map { byVersion[$0] ?? .fallback }
        guard let scale = candidates.map(\.scale).max() else {
            return Choice(rounding: .fallback, versions: [], unknownVersions: [], rulesDisagreed: false)
        }
        let rules = Set(candidates.filter { $0.scale == scale }.map(\.rule))
        let rule = rules.count == 1 ? rules.first! : .halfUp
        return Choice(rounding: InvoiceRounding(scale: scale, rule: rule), versions: sorted, unknownVersions: unknown, rulesDisagreed: rules.count > 1)
    }
}

import VideoMeter

/// A team's invoice for a period: one line per provider / model / resolution, each rounded to the
/// invoice scale (2 decimal places, half-up), then summed — as Stripe does — beside the exact
/// ledger total and the difference between the two, explained line by line to the micro-dollar.
public struct InvoiceStatement: Sendable, Hashable {
    /// Decimal places shown on the invoice.
    public static let scale = 2
    /// How each line is rounded to ``scale``.
    public static let rule = RoundingRule.halfUp
    /// Micro-dollars in one unit of the invoice scale (a cent).
    static let unitMicro: MicroUSD = 10_000

    public struct Line: Sendable, Hashable {
        public var provider: String
        public var model: String
        public var resolution: String
        public var seconds: Int64
        public var requests: Int64
        /// The line's exact charge in micro-dollars.
        public var exactMicro: MicroUSD
        /// The line rounded to the invoice scale, in micro-dollars (a whole number of cents).
        public var roundedMicro: MicroUSD
        /// `roundedMicro - exactMicro`.
        public var differenceMicro: MicroUSD { roundedMicro - exactMicro }
    }

    /// Lines with a charge, in the report's order.
    public var lines: [Line]
    /// The exact charged total according to the ledger for the same team and period.
    public var ledgerTotalMicro: MicroUSD

    public init(lines usage: [UsageLine], ledgerTotalMicro: MicroUSD) {
        self.lines = usage.filter { $0.chargedMicro != 0 }.map { line in
            Line(
                provider: line.provider, model: line.model, resolution: line.resolution,
                seconds: line.seconds, requests: line.outcomes[.succeeded],
                exactMicro: line.chargedMicro, roundedMicro: Self.roundToInvoiceScale(line.chargedMicro)
            )
        }
        self.ledgerTotalMicro = ledgerTotalMicro
    }

    /// The sum of the exact lines.
    public var exactTotalMicro: MicroUSD { lines.reduce(0) { $0 + $1.exactMicro } }
    /// The amount invoiced: the sum of the rounded lines.
    public var invoicedTotalMicro: MicroUSD { lines.reduce(0) { $0 + $1.roundedMicro } }
    /// `invoicedTotalMicro - ledgerTotalMicro`, which equals the sum of the per-line differences
    /// whenever the lines add up to the ledger total (``linesMatchLedger``).
    public var differenceMicro: MicroUSD { invoicedTotalMicro - ledgerTotalMicro }
    /// The lines add up exactly to the ledger's own total for the period.
    public var linesMatchLedger: Bool { exactTotalMicro == ledgerTotalMicro }

    /// Rounds micro-dollars to whole cents, half-up (ties away from zero), in integer arithmetic.
    public static func roundToInvoiceScale(_ micro: MicroUSD) -> MicroUSD {
        let magnitude = micro.magnitude
        let rounded = MicroUSD((magnitude + UInt64(unitMicro / 2)) / UInt64(unitMicro)) * unitMicro
        return micro < 0 ? -rounded : rounded
    }

    /// Formats a whole number of cents held in micro-dollars as `12.35`.
    public static func formatInvoice(_ micro: MicroUSD) -> String {
        precondition(micro % unitMicro == 0, "\(micro) micro-dollars is not a whole number of cents")
        let full = Money.format(micro: micro)
        return String(full.dropLast(4))
    }

    /// Formats a difference in micro-dollars with its sign: `+0.001500`, `-0.004000`, `0.000000`.
    public static func formatSigned(_ micro: MicroUSD) -> String {
        micro > 0 ? "+" + Money.format(micro: micro) : Money.format(micro: micro)
    }

    /// A sentence that states the rounding rule and explains the difference to the micro-dollar.
    public var explanation: String {
        if lines.isEmpty {
            return "Nothing was charged in this period; the invoice total and the ledger total are both 0.00 USD."
        }
        var text = "Each line is rounded to \(Self.scale) decimal places, half-up (a remainder of half a cent or more rounds away from zero), "
        text += "and the rounded lines are summed: \(Self.formatInvoice(invoicedTotalMicro)) USD. "
        text += "The exact ledger total is \(Money.format(micro: ledgerTotalMicro)) USD, "
        if differenceMicro == 0 {
            text += "so the rounding difference is zero"
        } else {
            text += "so the invoice differs by \(Self.formatSigned(differenceMicro)) USD"
        }
        if linesMatchLedger {
            let parts = lines.filter { $0.differenceMicro != 0 }.map {
                "\(Self.formatSigned($0.differenceMicro)) (\($0.provider) \($0.model) \($0.resolution))"
            }
            if !parts.isEmpty {
                text += ": the sum of the per-line differences " + parts.joined(separator: " ")
            }
            text += "."
        } else {
            text += "; the lines add up to \(Money.format(micro: exactTotalMicro)) USD, "
            text += "\(Self.formatSigned(exactTotalMicro - ledgerTotalMicro)) USD away from the ledger: the report and the ledger disagree, run `videometer ledger verify`."
        }
        return text
    }
}

import VideoMeter

/// A team's invoice for a period: one line per provider / model / resolution, each rounded to the
/// display scale and rule of the price list(s) that priced its calls, then summed — as Stripe does —
/// beside the exact ledger total and the difference between the two, explained line by line to the
/// micro-dollar.
///
/// The all-teams invoice (``init(summing:ledgerTotalMicro:)``) adds up the team invoices' rounded
/// lines; it never rounds a merged line again, so its total is the sum of the team totals.
public struct InvoiceStatement: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public var provider: String
        public var model: String
        public var resolution: String
        public var seconds: Int64
        /// Calls charged (posted) on this line.
        public var requests: Int64
        /// The line's exact charge in micro-dollars.
        public var exactMicro: MicroUSD
        /// The line rounded to its invoice scale, in micro-dollars (for a line of the all-teams
        /// invoice: the sum of the teams' rounded lines).
        public var roundedMicro: MicroUSD
        /// The rounding applied; for an all-teams line, the largest scale among the teams' lines
        /// (what its amount is shown with).
        public var rounding: InvoiceRounding
        /// The price lists that priced the line's charged calls, and which of them the catalog
        /// does not know.
        public var priceLists: [String]
        public var unknownPriceLists: [String]
        /// Several price lists had the largest scale but different rules (half-up was used).
        public var rulesDisagreed: Bool
        /// The report was given no price lists at all, so every line used the fallback.
        public var withoutCatalog = false
        /// `roundedMicro - exactMicro`.
        public var differenceMicro: MicroUSD { roundedMicro - exactMicro }
        /// `provider model resolution`, as the explanation names the line.
        public var label: String { "\(provider) \(model) \(resolution)" }
        var key: String { "\(provider)\u{1F}\(model)\u{1F}\(resolution)" }

        /// The rounded amount with the line's decimal places: `0.788`, `0.79`.
        public var formattedRounded: String { rounding.format(roundedMicro) }
    }

    /// A team's invoiced total, when this statement adds up several teams.
    public struct TeamTotal: Sendable, Hashable {
        public var team: String
        public var invoicedMicro: MicroUSD
        public var scale: Int
    }

    /// One line per usage line, charged or not, in the report's order: what the breakdown's
    /// `invoice_amount` column shows.
    public var allLines: [Line]
    /// The invoice's lines: those with a charge.
    public var lines: [Line] { allLines.filter { $0.exactMicro != 0 } }
    /// The exact charged total according to the ledger for the same team(s) and period.
    public var ledgerTotalMicro: MicroUSD
    /// The team invoices this one adds up (all teams); empty for a team's own invoice.
    public var teamTotals: [TeamTotal]

    /// A team's invoice: each usage line with a charge, rounded with the rounding ``InvoiceRoundings``
    /// chooses for the price lists that charged it.
    public init(lines usage: [UsageLine], ledgerTotalMicro: MicroUSD, roundings: InvoiceRoundings) {
        self.allLines = usage.map { line in
            let choice = roundings.choose(line.invoicePriceLists)
            return Line(
                provider: line.provider, model: line.model, resolution: line.resolution,
                seconds: line.seconds, requests: line.postedRequests,
                exactMicro: line.chargedMicro, roundedMicro: choice.rounding.round(line.chargedMicro),
                rounding: choice.rounding, priceLists: choice.versions, unknownPriceLists: choice.unknownVersions,
                rulesDisagreed: choice.rulesDisagreed, withoutCatalog: roundings.byVersion.isEmpty
            )
        }
        self.ledgerTotalMicro = ledgerTotalMicro
        self.teamTotals = []
    }

    /// The all-teams invoice: the teams' rounded lines added up by provider / model / resolution,
    /// not rounded again, so ``invoicedTotalMicro`` is the sum of the teams' invoiced totals.
    public init(summing teams: [(team: String, invoice: InvoiceStatement)], ledgerTotalMicro: MicroUSD) {
        var merged: [String: Line] = [:]
        var order: [String] = []
        for (_, invoice) in teams {
            for line in invoice.allLines {
                guard var sum = merged[line.key] else {
                    merged[line.key] = line
                    order.append(line.key)
                    continue
                }
                // The rounding shown is the largest scale among the charged team lines.
                if line.exactMicro != 0 {
                    if sum.exactMicro == 0 {
                        (sum.rounding, sum.priceLists, sum.unknownPriceLists, sum.rulesDisagreed) =
                            (line.rounding, line.priceLists, line.unknownPriceLists, line.rulesDisagreed)
                    } else {
                        if line.rounding.scale > sum.rounding.scale { sum.rounding = line.rounding }
                        sum.priceLists = Array(Set(sum.priceLists + line.priceLists)).sorted()
                        sum.unknownPriceLists = Array(Set(sum.unknownPriceLists + line.unknownPriceLists)).sorted()
                        sum.rulesDisagreed = sum.rulesDisagreed || line.rulesDisagreed
                    }
                }
                sum.seconds += line.seconds
                sum.requests += line.requests
                sum.exactMicro += line.exactMicro
                sum.roundedMicro += line.roundedMicro
                merged[line.key] = sum
            }
        }
        self.allLines = order.compactMap { merged[$0] }.sorted { lhs, rhs in
            if lhs.exactMicro != rhs.exactMicro { return lhs.exactMicro > rhs.exactMicro }
            return (lhs.provider, lhs.model, lhs.resolution) < (rhs.provider, rhs.model, rhs.resolution)
        }
        self.ledgerTotalMicro = ledgerTotalMicro
        self.teamTotals = teams.map { TeamTotal(team: $0.team, invoicedMicro: $0.invoice.invoicedTotalMicro, scale: $0.invoice.totalScale) }
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
    /// The decimal places of the invoiced total: the largest among the lines (2 when there are none).
    public var totalScale: Int { lines.map(\.rounding.scale).max() ?? InvoiceRounding.fallback.scale }
    /// The invoiced total with ``totalScale`` decimal places, e.g. `1.231`.
    public var formattedInvoicedTotal: String { Self.format(invoicedTotalMicro, scale: totalScale) }

    /// Formats micro-dollars that are a whole number of units at `scale`: `format(1_231_000, scale: 3)` is `1.231`.
    public static func format(_ micro: MicroUSD, scale: Int) -> String {
        InvoiceRounding(scale: scale, rule: .halfUp).format(micro)
    }

    /// Formats a difference in micro-dollars with its sign: `+0.001500`, `-0.004000`, `0.000000`.
    public static func formatSigned(_ micro: MicroUSD) -> String {
        micro > 0 ? "+" + Money.format(micro: micro) : Money.format(micro: micro)
    }

    /// How a line was rounded and why, e.g. `3 decimal places, half-up (price list blockrun-2026-04)`.
    public static func roundingReason(_ line: Line) -> String {
        let known = line.priceLists.filter { !line.unknownPriceLists.contains($0) }
        var reasons: [String] = []
        if known.count == 1 {
            reasons.append("price list \(known[0])")
        } else if known.count > 1 {
            reasons.append("the largest display scale among price lists \(known.joined(separator: ", "))")
        }
        if line.withoutCatalog {
            reasons.append("the report was given no price catalog, so the fallback of \(InvoiceRounding.fallback) applies")
        } else if !line.unknownPriceLists.isEmpty {
            let names = line.unknownPriceLists.joined(separator: ", ")
            let verb = line.unknownPriceLists.count == 1 ? "is" : "are"
            reasons.append("\(names) \(verb) not in the catalog, so the fallback of \(InvoiceRounding.fallback) applies")
        }
        if line.rulesDisagreed {
            reasons.append("the lists with that scale round differently, so half-up is used")
        }
        return "\(line.rounding) (\(reasons.joined(separator: "; ")))"
    }

    /// A paragraph that states the rounding of every line and explains the difference between the
    /// invoiced total and the exact ledger total to the micro-dollar.
    public var explanation: String {
        if lines.isEmpty && ledgerTotalMicro == 0 {
            return "Nothing was charged in this period; the invoice total and the ledger total are both 0."
        }
        var text: String
        if teamTotals.isEmpty {
            text = "Each line is rounded to the display scale and rule of the price list that priced its calls, then the rounded lines are summed: "
            text += lines.map { "\($0.label) to \(Self.roundingReason($0))" }.joined(separator: "; ") + ". "
        } else {
            text = "This invoice adds up the team invoices line by line and does not round the sums again "
            text += "(each team's invoice says how its lines were rounded): "
            text += teamTotals.map { "\($0.team) \(Self.format($0.invoicedMicro, scale: $0.scale))" }.joined(separator: " + ")
            text += " = \(formattedInvoicedTotal) USD. "
        }
        text += "Invoiced total \(formattedInvoicedTotal) USD; exact ledger total \(Money.format(micro: ledgerTotalMicro)) USD; "
        let parts = lines.filter { $0.differenceMicro != 0 }.map { "\(Self.formatSigned($0.differenceMicro)) (\($0.label))" }
        if linesMatchLedger {
            if differenceMicro == 0 && parts.isEmpty {
                text += "no line needed rounding, so the difference is 0.000000 USD."
            } else {
                text += "difference \(Self.formatSigned(differenceMicro)) USD, the sum of the per-line rounding differences "
                text += parts.joined(separator: " ") + "."
            }
        } else {
            text += "difference \(Self.formatSigned(differenceMicro)) USD. The exact lines add up to "
            text += "\(Money.format(micro: exactTotalMicro)) USD, \(Self.formatSigned(exactTotalMicro - ledgerTotalMicro)) USD away "
            text += "from the ledger's journal, although both were read in one transaction: the usage events and the journal disagree; "
            text += "run `videometer ledger verify`."
        }
        return text
    }
}

import Foundation

extension Quote {
    /// The quote as JSON: every amount a decimal string, so no client reads money through floating point.
    ///
    /// Keys: `provider`, `model`, `api_style`, `billed_seconds`, `resolution`, `resolution_fell_back`,
    /// `image_count`, `currency`, `lines[]` (`kind`, `description`, `quantity`, `unit_price`, `amount`),
    /// `exact_total`, `total` (settlement scale), `total_micro`, `total_display`, `upstream_cost`,
    /// `margin`, `worst_case_seconds`, `worst_case_total`, `worst_case_total_display`, `rounding`,
    /// `catalog_version`, `catalog_effective_from`, `billable_outcomes`.
    public var document: Document {
        Document(
            provider: provider, model: model, apiStyle: apiStyle.rawValue, billedSeconds: billedSeconds,
            resolution: resolution, resolutionFellBack: resolutionFellBack, imageCount: imageCount, currency: currency,
            lines: lines.map {
                .init(kind: $0.kind.rawValue, description: $0.description, quantity: Self.plain($0.quantity),
                      unitPrice: Self.plain($0.unitPrice), amount: Self.plain($0.amount))
            },
            exactTotal: Self.plain(exactTotal),
            total: Money.format(total, scale: settlementScale, rounding),
            totalMicro: totalMicro,
            totalDisplay: Money.format(displayTotal, scale: displayScale, rounding),
            upstreamCost: Self.plain(upstreamCost), margin: Self.plain(margin),
            worstCaseSeconds: worstCase.billedSeconds,
            worstCaseTotal: Money.format(worstCase.total, scale: settlementScale, rounding),
            worstCaseTotalDisplay: Money.format(worstCase.displayTotal, scale: displayScale, rounding),
            rounding: rounding.rawValue, catalogVersion: catalogVersion,
            catalogEffectiveFrom: CatalogDate.format(catalogEffectiveFrom),
            billableOutcomes: billableOutcomes.map(\.rawValue).sorted()
        )
    }

    /// JSON text of ``document`` with sorted keys.
    public func jsonData(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document)
    }

    static func plain(_ value: Decimal) -> String { NSDecimalNumber(decimal: value).stringValue }

    public struct Document: Codable, Sendable, Equatable {
        public var provider: String
        public var model: String
        public var apiStyle: String
        public var billedSeconds: Int
        public var resolution: String
        public var resolutionFellBack: Bool
        public var imageCount: Int
        public var currency: String
        public var lines: [Line]
        public var exactTotal: String
        public var total: String
        public var totalMicro: Int64
        public var totalDisplay: String
        public var upstreamCost: String
        public var margin: String
        public var worstCaseSeconds: Int
        public var worstCaseTotal: String
        public var worstCaseTotalDisplay: String
        public var rounding: String
        public var catalogVersion: String
        public var catalogEffectiveFrom: String
        public var billableOutcomes: [String]

        public struct Line: Codable, Sendable, Equatable {
            public var kind: String
            public var description: String
            public var quantity: String
            public var unitPrice: String
            public var amount: String

            enum CodingKeys: String, CodingKey {
                case kind, description, quantity, amount
                case unitPrice = "unit_price"
            }
        }

        enum CodingKeys: String, CodingKey {
            case provider, model, resolution, currency, lines, total, margin, rounding
            case apiStyle = "api_style"
            case billedSeconds = "billed_seconds"
            case resolutionFellBack = "resolution_fell_back"
            case imageCount = "image_count"
            case exactTotal = "exact_total"
            case totalMicro = "total_micro"
            case totalDisplay = "total_display"
            case upstreamCost = "upstream_cost"
            case worstCaseSeconds = "worst_case_seconds"
            case worstCaseTotal = "worst_case_total"
            case worstCaseTotalDisplay = "worst_case_total_display"
            case catalogVersion = "catalog_version"
            case catalogEffectiveFrom = "catalog_effective_from"
            case billableOutcomes = "billable_outcomes"
        }
    }
}

import Foundation

/// The same video quoted at every seller of its underlying model, cheapest first.
public struct SellerComparison: Sendable, Equatable {
    /// A seller that cannot make the video, and why (the pricing error's code and sentence).
    public struct Exclusion: Sendable, Equatable {
        public var provider: String
        public var model: String
        public var error: PricingError
    }

    /// The underlying model: `vendor` and `family` of the catalog entries compared.
    public var vendor: String
    public var family: String
    /// One quote per seller that can make the video, cheapest first (ties by provider id).
    public var options: [Quote]
    public var excluded: [Exclusion]
}

extension Catalog {
    /// Quotes `request` at every seller of the same underlying model (catalog `vendor` and
    /// `family`), with the price lists in force at `date`: each seller's duration limits,
    /// resolution rules (fallbacks included) and image requirements apply; a seller that cannot
    /// make the video is excluded with its pricing error. `request.provider` is ignored: every
    /// seller is asked.
    ///
    /// - Throws: `unknown_model` when no seller lists the model; `no_price_in_force` when none
    ///   has a price list in force.
    public func compare(_ request: QuoteRequest, at date: Date) throws(PricingError) -> SellerComparison {
        // The model as any seller names it, in the price list in force (routed by name or not).
        var named: ModelEntry?
        for provider in providers {
            if let entry = provider.version(at: date)?.model(request.model) { named = entry; break }
        }
        guard let named else {
            if providers.contains(where: { $0.versions.contains { $0.model(request.model) != nil } }) {
                throw .noPriceInForce(provider: providers.filter { $0.versions.contains { $0.model(request.model) != nil } }.map(\.id).joined(separator: ", "), at: CatalogDate.format(date))
            }
            throw .unknownModel(request.model, provider: nil)
        }
        var options: [Quote] = []
        var excluded: [SellerComparison.Exclusion] = []
        for provider in providers {
            guard let version = provider.version(at: date) else { continue }
            for entry in version.models where entry.vendor == named.vendor && entry.family == named.family {
                var asked = request
                asked.provider = provider.id
                asked.model = entry.id
                do {
                    options.append(try quote(asked, at: date))
                } catch {
                    excluded.append(.init(provider: provider.id, model: entry.id, error: error))
                }
            }
        }
        options.sort { ($0.total, $0.provider) < ($1.total, $1.provider) }
        return SellerComparison(vendor: named.vendor, family: named.family, options: options, excluded: excluded)
    }
}

extension SellerComparison {
    /// The comparison as JSON: `vendor`, `family`, `options` (each seller's full quote document:
    /// `provider`, `model`, `resolution`, `billed_seconds`, `total`, `total_display`,
    /// `worst_case_total`, `catalog_version`, ...), cheapest first, and `excluded` (`provider`,
    /// `model`, `code`, `message`). Amounts are decimal strings.
    public struct Document: Encodable, Sendable {
        public struct Excluded: Encodable, Sendable {
            public var provider, model, code, message: String
        }

        public var vendor: String
        public var family: String
        public var options: [Quote.Document]
        public var excluded: [Excluded]
    }

    public var document: Document {
        Document(
            vendor: vendor, family: family, options: options.map(\.document),
            excluded: excluded.map { .init(provider: $0.provider, model: $0.model, code: $0.error.code, message: $0.error.message) })
    }

    public func jsonData(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document)
    }
}

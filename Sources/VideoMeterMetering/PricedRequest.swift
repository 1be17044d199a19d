import Foundation
import VideoMeter

/// A metered request with its price, taken once, at one instant, from one catalog: what a metered
/// call starts from.
///
/// The gateway parses a body and prices it at the same reading of its clock; the CLI prices its
/// flags the same way. Nothing re-resolves the catalog before the call is sent, so a price list
/// that takes effect between parsing and sending cannot change what is held. Settlement prices by
/// the catalog version stored on the hold, never by looking the date up again.
public struct PricedRequest: Sendable {
    public let request: MeteredRequest
    public let quote: Quote
    /// The instant the price list in force was chosen at.
    public let pricedAt: Date

    /// Prices `request` with the catalog version in force at `date`.
    ///
    /// - Throws: `PricingError` (`unknown_model`, `duration_above_max`, ...).
    public init(_ request: MeteredRequest, catalog: Catalog, at date: Date) throws(PricingError) {
        self.request = request
        self.quote = try catalog.quote(request.quoteRequest, at: date)
        self.pricedAt = date
    }
}

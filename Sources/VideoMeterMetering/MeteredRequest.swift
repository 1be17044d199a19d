import Crypto
import Foundation
import VideoMeter

/// One generation a team asks for, as the metered client receives it.
public struct MeteredRequest: Sendable, Equatable {
    public var team: String
    /// The provider id (`blockrun`, `worldrouter`); `nil` when the model id is unambiguous.
    public var provider: String?
    public var model: String
    public var prompt: String
    public var durationSeconds: Int?
    public var resolution: String?
    public var imageURL: String?
    /// The caller's idempotency key; one is generated (and persisted with the hold) when absent.
    public var idempotencyKey: String?
    /// Who asked (an API key's label, a user name), for the reports' "largest callers".
    public var caller: String?
    /// Members the seller documents that do not change the price (`aspect_ratio`), already
    /// validated against the catalog's `pass_through`: forwarded to the upstream unchanged.
    public var options: [String: String]

    public init(
        team: String, provider: String? = nil, model: String, prompt: String, durationSeconds: Int? = nil,
        resolution: String? = nil, imageURL: String? = nil, idempotencyKey: String? = nil, caller: String? = nil,
        options: [String: String] = [:]
    ) {
        self.options = options
        self.team = team
        self.provider = provider
        self.model = model
        self.prompt = prompt
        self.durationSeconds = durationSeconds
        self.resolution = resolution
        self.imageURL = imageURL
        self.idempotencyKey = idempotencyKey
        self.caller = caller
    }

    /// The pricing view of the request.
    public var quoteRequest: QuoteRequest {
        QuoteRequest(
            provider: provider, model: model, durationSeconds: durationSeconds, resolution: resolution,
            imageURLs: imageURL.map { [$0] } ?? [], prompt: prompt
        )
    }

    /// A digest of everything that makes two requests the same call: team, provider, model, billed
    /// seconds, normalised resolution, image, prompt and pass-through members. Reusing an idempotency key with a request
    /// of another fingerprint is refused (`idempotency_key_reused`).
    ///
    /// It is taken after quoting, so "no duration" and "the default duration" are the same call.
    public func fingerprint(for quote: Quote) -> String {
        var fields = [team, quote.provider, quote.model, String(quote.billedSeconds), quote.resolution, imageURL ?? "", prompt]
        // Pass-through members make another video: part of the call, when there are any (so the
        // fingerprints of calls without them are unchanged).
        for (name, value) in options.sorted(by: { $0.key < $1.key }) { fields += [name, value] }
        var hasher = SHA256()
        for field in fields {
            // Length-prefixed, so no two field lists share a byte string.
            hasher.update(data: Data("\(field.utf8.count):".utf8))
            hasher.update(data: Data(field.utf8))
        }
        return "sha256:" + Hex.encode(hasher.finalize())
    }
}

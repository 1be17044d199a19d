import Foundation
import VideoMeter
import VideoMeterMetering

/// A `POST /v1/videos/generations` (or `/v1/quotes`) body, read the way the model's seller reads it.
///
/// The `model` member chooses the seller (the catalog provider that sells it, in the price list
/// in force), and that seller's ``SellerDialect`` reads the rest. Durations are read from the
/// number's source text: `5` is five seconds; `5.0`, `1e1`, `-3`, `0`, `"5"` and anything above
/// nine digits are `invalid_duration`.
public struct GenerationBody: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var style: APIStyle
    /// `nil` only in a quote body without one.
    public var prompt: String?
    public var durationSeconds: Int?
    public var resolution: String?
    public var imageURL: String?
    /// Documented members that do not change the price (`aspect_ratio`), validated.
    public var options: [String: String]

    public init(
        provider: String, model: String, style: APIStyle, prompt: String?, durationSeconds: Int? = nil, resolution: String? = nil,
        imageURL: String? = nil, options: [String: String] = [:]
    ) {
        self.options = options
        self.provider = provider
        self.model = model
        self.style = style
        self.prompt = prompt
        self.durationSeconds = durationSeconds
        self.resolution = resolution
        self.imageURL = imageURL
    }

    /// Parses and checks a body against the catalog in force at `date`, in the dialect of the
    /// seller of its model.
    ///
    /// - Throws: ``GatewayError`` (`invalid_json`, `invalid_request`) for the shape, `PricingError`
    ///   (`unknown_model`, `invalid_duration`, ...) for what the catalog refuses. Quoting later
    ///   checks the rest (duration range, prompt, image).
    /// - Parameters:
    ///   - provider: the seller the path names (`/xai/v1/...`); `nil` on the plain paths, where the
    ///     model's name chooses it.
    ///   - promptRequired: false for `POST /v1/quotes`: a price does not depend on the prompt.
    public static func parse(
        _ bytes: [UInt8], catalog: Catalog, at date: Date, dialects: [String: any SellerDialect], provider seller: String? = nil,
        promptRequired: Bool = true
    ) throws -> GenerationBody {
        guard case .object(let members) = try JSONValue.parse(bytes) else {
            throw GatewayError.invalidRequest("The body must be a JSON object.")
        }
        guard let modelValue = members.first(where: { $0.key == "model" })?.value, modelValue != .null else {
            throw GatewayError.invalidRequest("'model' is required.")
        }
        guard case .string(let model) = modelValue else { throw BodyMembers.wrongType("model", modelValue, expected: "a string") }
        guard !model.isEmpty, model.utf8.count <= 200 else { throw PricingError.unknownModel(String(model.prefix(200)), provider: nil) }
        let (provider, _, entry) = try catalog.resolve(model: model, provider: seller, at: date)
        // A seller the catalog prices but this gateway does not speak: as if its upstream were missing.
        guard let dialect = dialects[provider.id] else { throw MeteringError.providerNotConfigured(provider.id) }
        return try dialect.readBody(members, model: model, entry: entry, promptRequired: promptRequired)
    }
}

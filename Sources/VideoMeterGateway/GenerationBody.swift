import Foundation
import VideoMeter

/// A `POST /v1/videos/generations` (or `/v1/quotes`) body, read the way the model's upstream reads it.
///
/// BlockRun-style models (sync) take `model`, `prompt`, `image_url`, `duration_seconds`;
/// WorldRouter-style models (async tasks) take `model`, `prompt`, `duration`, `resolution`,
/// `image: {url}`. Any other member is refused, since the gateway would not forward it.
/// Durations are read from the number's source text: `5` is five seconds; `5.0`, `1e1`, `-3`, `0`,
/// `"5"` and anything above nine digits are `invalid_duration`.
public struct GenerationBody: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var style: APIStyle
    public var prompt: String
    public var durationSeconds: Int?
    public var resolution: String?
    public var imageURL: String?

    static let syncMembers: Set<String> = ["model", "prompt", "image_url", "duration_seconds"]
    static let asyncMembers: Set<String> = ["model", "prompt", "duration", "resolution", "image"]

    /// Parses and checks a body against the catalog in force at `date`.
    ///
    /// - Throws: ``GatewayError`` (`invalid_json`, `invalid_request`) for the shape, `PricingError`
    ///   (`unknown_model`, `invalid_duration`, ...) for what the catalog refuses. Quoting later
    ///   checks the rest (duration range, prompt, image).
    public static func parse(_ bytes: [UInt8], catalog: Catalog, at date: Date) throws -> GenerationBody {
        guard case .object(let members) = try JSONValue.parse(bytes) else {
            throw GatewayError.invalidRequest("The body must be a JSON object.")
        }
        var fields: [String: JSONValue] = [:]
        for member in members { fields[member.key] = member.value }

        guard let modelValue = fields["model"], modelValue != .null else {
            throw GatewayError.invalidRequest("'model' is required.")
        }
        guard case .string(let model) = modelValue else { throw wrongType("model", modelValue, expected: "a string") }
        guard !model.isEmpty, model.utf8.count <= 200 else { throw PricingError.unknownModel(String(model.prefix(200)), provider: nil) }
        let (provider, _, entry) = try catalog.resolve(model: model, provider: nil, at: date)

        let allowed = entry.apiStyle == .sync ? syncMembers : asyncMembers
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            let style = entry.apiStyle == .sync ? "BlockRun-style (model, prompt, image_url, duration_seconds)" : "WorldRouter-style (model, prompt, duration, resolution, image.url)"
            throw GatewayError.invalidRequest("Unknown member '\(unknown.key.prefix(60))' for \(model), which takes a \(style) body.")
        }

        guard let promptValue = fields["prompt"], promptValue != .null else { throw GatewayError.invalidRequest("'prompt' is required.") }
        guard case .string(let prompt) = promptValue else { throw wrongType("prompt", promptValue, expected: "a string") }

        var body = GenerationBody(provider: provider.id, model: model, style: entry.apiStyle, prompt: prompt)
        switch entry.apiStyle {
        case .sync:
            body.durationSeconds = try duration(fields["duration_seconds"])
            body.imageURL = try optionalString("image_url", fields["image_url"])
        case .async:
            body.durationSeconds = try duration(fields["duration"])
            body.resolution = try optionalString("resolution", fields["resolution"])
            switch fields["image"] {
            case nil, .null?:
                break
            case .object(let image)?:
                if let extra = image.first(where: { $0.key != "url" }) {
                    throw GatewayError.invalidRequest("Unknown member 'image.\(extra.key.prefix(60))'; an image is {\"url\": \"https://...\"}.")
                }
                body.imageURL = try optionalString("image.url", image.first?.value)
            case let other?:
                throw wrongType("image", other, expected: "an object {\"url\": ...}")
            }
        }
        return body
    }

    /// A whole, positive number of seconds, from the number's text; `nil` when absent or null.
    static func duration(_ value: JSONValue?) throws -> Int? {
        switch value {
        case nil, .null?:
            return nil
        case .number(let text)?:
            // Only plain digits: "5.0", "1e1" and "-3" are refused here, never rounded.
            return try QuoteRequest.parseDuration(text)
        case .string(let text)?:
            throw PricingError.invalidDuration(String(text.prefix(40)))
        case let other?:
            throw PricingError.invalidDuration(other.typeName)
        }
    }

    static func optionalString(_ name: String, _ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw wrongType(name, other, expected: "a string")
        }
    }

    static func wrongType(_ name: String, _ value: JSONValue, expected: String) -> GatewayError {
        .invalidRequest("'\(name)' must be \(expected), not \(value.typeName).")
    }
}

import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// How the gateway speaks one seller's API to the clients written for it: the generation body
/// they send and the answers they expect. One dialect per catalog provider id, registered with the
/// seller (VideoMeterSellers); the gateway's routes choose a dialect by the provider that sells
/// the requested model and never switch on a seller themselves.
///
/// Whether a call answers with a video or a task is the catalog's `api_style`, not the dialect's:
/// the dialect only gives each answer its seller's shape.
public protocol SellerDialect: Sendable {
    /// The catalog provider id this dialect speaks for (`blockrun`, `worldrouter`).
    var providerID: String { get }

    /// The seller's create path, served under `/{providerID}` (`/v1/videos/generations`).
    var createPath: String { get }
    /// The seller's path to read a task, with `:id`, served under `/{providerID}`; `nil` for a
    /// seller without tasks.
    var readPath: String? { get }

    /// Reads a generation (or quote) body whose `model` this seller sells (`entry`, from the price
    /// list in force): every member the seller documents, each checked; any other member is
    /// refused by name (`invalid_request`), since the gateway would not forward it.
    ///
    /// - Parameter promptRequired: false for a quote, whose price does not depend on the prompt.
    /// - Throws: ``GatewayError`` for the shape, `PricingError` (`invalid_duration`) for values.
    func readBody(_ members: [(key: String, value: JSONValue)], model: String, entry: ModelEntry, promptRequired: Bool) throws -> GenerationBody

    /// The answer to a call that finished with its video in the same request.
    func videoAnswer(_ outcome: MeteredOutcome, created: Date) throws -> Data

    /// The answer describing a task (replayed or read): `live` is the upstream's current state
    /// while the hold is still pending, `videoURL` the video of a charged task.
    func taskAnswer(id: String, hold: Hold, live: TaskState?, videoURL: String?) throws -> Data

    /// The answer to the request that created a task; by default ``taskAnswer(id:hold:live:videoURL:)``.
    func createdAnswer(id: String, hold: Hold) throws -> Data
}

extension SellerDialect {
    public func createdAnswer(id: String, hold: Hold) throws -> Data {
        try taskAnswer(id: id, hold: hold, live: nil, videoURL: nil)
    }
}

/// Readers of body members that every dialect shares.
public enum BodyMembers {
    /// A whole, positive number of seconds, from the number's text; `nil` when absent or null.
    /// Only plain digits: `5.0`, `1e1`, `-3` and `"5"` are `invalid_duration`, never rounded.
    public static func duration(_ value: JSONValue?) throws -> Int? {
        switch value {
        case nil, .null?:
            return nil
        case .number(let text)?:
            return try QuoteRequest.parseDuration(text)
        case .string(let text)?:
            throw PricingError.invalidDuration(String(text.prefix(40)))
        case let other?:
            throw PricingError.invalidDuration(other.typeName)
        }
    }

    /// Grok's `image: {"url": ...}` (WorldRouter, xAI): the URL, `nil` when absent or null.
    public static func imageObject(_ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?:
            return nil
        case .object(let image)?:
            if let extra = image.first(where: { $0.key != "url" }) {
                throw GatewayError.invalidRequest("Unknown member 'image.\(extra.key.prefix(60))'; an image is {\"url\": \"https://...\"}.")
            }
            return try optionalString("image.url", image.first?.value)
        case let other?:
            throw wrongType("image", other, expected: "an object {\"url\": ...}")
        }
    }

    /// A string member, `nil` when absent or null.
    public static func optionalString(_ name: String, _ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw wrongType(name, other, expected: "a string")
        }
    }

    /// The prompt: required, a string (see ``checkedPrompt(_:)`` for the dialects' check).
    public static func prompt(_ value: JSONValue?) throws -> String {
        guard let value, value != .null else { throw GatewayError.invalidRequest("'prompt' is required.") }
        guard case .string(let prompt) = value else { throw wrongType("prompt", value, expected: "a string") }
        return prompt
    }

    /// Refuses the first member that is neither in `allowed` nor one of the model's documented
    /// pass-through members (`entry.passThrough`), naming it and the shape `model` takes.
    public static func refuseUnknown(
        _ members: [(key: String, value: JSONValue)], allowed: Set<String>, entry: ModelEntry, model: String, shape: String
    ) throws {
        if let unknown = members.first(where: { !allowed.contains($0.key) && entry.passThrough[$0.key] == nil }) {
            let extra = entry.passThrough.keys.sorted()
            let also = extra.isEmpty ? "" : " (and \(extra.joined(separator: ", ")), passed through)"
            throw GatewayError.invalidRequest("Unknown member '\(unknown.key.prefix(60))' for \(model), which takes a \(shape) body\(also).")
        }
    }

    /// The model's pass-through members present in the body, each a string among the values the
    /// seller documents (catalog `pass_through`): forwarded to the upstream unchanged.
    public static func passThrough(_ fields: [String: JSONValue], entry: ModelEntry) throws -> [String: String] {
        var options: [String: String] = [:]
        for (name, values) in entry.passThrough {
            switch fields[name] {
            case nil, .null?:
                continue
            case .string(let value)? where values.contains(value):
                options[name] = value
            case let other?:
                let shown: String
                if case .string(let text) = other { shown = "'\(text.prefix(40))'" } else { shown = other.typeName }
                throw GatewayError.invalidRequest("'\(name)' must be one of \(values.joined(separator: ", ")), not \(shown).")
            }
        }
        return options
    }

    /// The prompt (`nil` only when absent and not required), refusing NUL and other control
    /// characters: only newline and tab are text (`invalid_prompt`).
    public static func checkedPrompt(_ value: JSONValue?, required: Bool) throws -> String? {
        if !required, value == nil || value == .null { return nil }
        let prompt = try prompt(value)
        if QuoteRequest.containsControlCharacter(prompt) {
            let refusal = PricingError.invalidPrompt()
            throw GatewayError(.badRequest, code: refusal.code, message: refusal.message)
        }
        return prompt
    }

    public static func wrongType(_ name: String, _ value: JSONValue, expected: String) -> GatewayError {
        .invalidRequest("'\(name)' must be \(expected), not \(value.typeName).")
    }
}

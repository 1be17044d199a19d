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

    /// Reads a generation (or quote) body whose `model` this seller sells (`entry`, from the price
    /// list in force): every member the seller documents, each checked; any other member is
    /// refused by name (`invalid_request`), since the gateway would not forward it.
    ///
    /// - Throws: ``GatewayError`` for the shape, `PricingError` (`invalid_duration`) for values.
    func readBody(_ members: [(key: String, value: JSONValue)], model: String, entry: ModelEntry) throws -> GenerationBody

    /// The answer to a call that finished with its video in the same request.
    func videoAnswer(_ outcome: MeteredOutcome, created: Date) throws -> Data

    /// The answer describing a task (created, replayed or read): `live` is the upstream's current
    /// state while the hold is still pending, `videoURL` the video of a charged task.
    func taskAnswer(id: String, hold: Hold, live: TaskState?, videoURL: String?) throws -> Data
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

    /// A string member, `nil` when absent or null.
    public static func optionalString(_ name: String, _ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw wrongType(name, other, expected: "a string")
        }
    }

    /// The prompt: required, a string.
    public static func prompt(_ value: JSONValue?) throws -> String {
        guard let value, value != .null else { throw GatewayError.invalidRequest("'prompt' is required.") }
        guard case .string(let prompt) = value else { throw wrongType("prompt", value, expected: "a string") }
        return prompt
    }

    /// Refuses the first member not in `allowed`, naming it and the shape `model` takes.
    public static func refuseUnknown(_ members: [(key: String, value: JSONValue)], allowed: Set<String>, model: String, shape: String) throws {
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw GatewayError.invalidRequest("Unknown member '\(unknown.key.prefix(60))' for \(model), which takes a \(shape) body.")
        }
    }

    public static func wrongType(_ name: String, _ value: JSONValue, expected: String) -> GatewayError {
        .invalidRequest("'\(name)' must be \(expected), not \(value.typeName).")
    }
}

import Foundation

/// What a caller wants generated, as far as its price is concerned.
public struct QuoteRequest: Sendable, Equatable, Hashable {
    /// The provider id (`blockrun`, `worldrouter`); `nil` when the model id is unambiguous.
    public var provider: String?
    public var model: String
    /// Requested duration in seconds; `nil` means the model's default.
    public var durationSeconds: Int?
    /// Requested resolution; `nil` means the model's default.
    public var resolution: String?
    /// Input images (image-to-video); each may carry an image fee.
    public var imageURLs: [String]
    /// The prompt, when known. A quote does not need one, but an empty or over-long prompt is refused.
    public var prompt: String?

    public init(provider: String? = nil, model: String, durationSeconds: Int? = nil, resolution: String? = nil, imageURLs: [String] = [], prompt: String? = nil) {
        self.provider = provider
        self.model = model
        self.durationSeconds = durationSeconds
        self.resolution = resolution
        self.imageURLs = imageURLs
        self.prompt = prompt
    }

    /// Whether `prompt` holds NUL or another control character (`invalid_prompt`); newline and
    /// tab are text. The one rule for the command line's prompts and the gateway's.
    public static func containsControlCharacter(_ prompt: String) -> Bool {
        prompt.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" }
    }

    /// Parses a duration typed by a person or sent as text: whole, positive seconds only.
    ///
    /// - Throws: `invalid_duration` for "5.5", "0", "-3", "five", "1e3" or anything not a plain integer.
    public static func parseDuration(_ text: String) throws(PricingError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 9, trimmed.allSatisfy(\.isASCII), trimmed.allSatisfy(\.isNumber),
              let seconds = Int(trimmed), seconds > 0
        else { throw .invalidDuration(text) }
        return seconds
    }
}

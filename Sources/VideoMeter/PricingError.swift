/// Why a request cannot be quoted. Raised before anything is held or sent.
///
/// The codes are stable and documented in README.md; callers match on ``code``.
public struct PricingError: CodedError, Equatable {
    private enum Kind: String, Sendable, CaseIterable {
        case unknownProvider = "unknown_provider"
        case unknownModel = "unknown_model"
        case ambiguousModel = "ambiguous_model"
        case durationAboveMax = "duration_above_max"
        case durationBelowMin = "duration_below_min"
        case invalidDuration = "invalid_duration"
        case imageRequired = "image_required"
        case invalidImageURL = "invalid_image_url"
        case emptyPrompt = "empty_prompt"
        case promptTooLong = "prompt_too_long"
        case invalidPrompt = "invalid_prompt"
        case resolutionNotSupported = "resolution_not_supported"
        case noPriceInForce = "no_price_in_force"
        case unknownPriceList = "unknown_price_list"
    }

    private let kind: Kind
    public let message: String

    public var code: String { kind.rawValue }

    /// Every code a pricing refusal can carry.
    public static var allCodes: [String] { Kind.allCases.map(\.rawValue) }

    private init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func unknownProvider(_ provider: String, known: [String]) -> PricingError {
        .init(.unknownProvider, "No provider named '\(provider)' in the catalog; known providers: \(known.joined(separator: ", ")).")
    }

    public static func unknownModel(_ model: String, provider: String?) -> PricingError {
        let scope = provider.map { " from provider '\($0)'" } ?? ""
        return .init(.unknownModel, "No model '\(model)'\(scope) in the catalog; `videometer models` lists them.")
    }

    public static func ambiguousModel(_ model: String, providers: [String]) -> PricingError {
        .init(.ambiguousModel, "Model '\(model)' is sold by several providers (\(providers.joined(separator: ", "))); name one with --provider.")
    }

    public static func durationAboveMax(_ seconds: Int, max: Int, model: String) -> PricingError {
        .init(.durationAboveMax, "\(seconds) s is above the \(max) s maximum of \(model).")
    }

    public static func durationBelowMin(_ seconds: Int, min: Int, model: String) -> PricingError {
        .init(.durationBelowMin, "\(seconds) s is below the \(min) s minimum of \(model).")
    }

    public static func invalidDuration(_ text: String) -> PricingError {
        .init(.invalidDuration, "Duration '\(text)' is not a whole, positive number of seconds.")
    }

    public static func imageRequired(model: String) -> PricingError {
        .init(.imageRequired, "\(model) generates from an input image: give an image URL.")
    }

    public static func invalidImageURL(_ text: String) -> PricingError {
        .init(.invalidImageURL, "Image URL '\(text.prefix(200))' is not an absolute http(s) URL.")
    }

    public static func emptyPrompt() -> PricingError {
        .init(.emptyPrompt, "The prompt is empty: describe the video to generate.")
    }

    public static func invalidPrompt() -> PricingError {
        .init(.invalidPrompt, "The prompt contains a control character (only newlines and tabs are allowed).")
    }

    public static func promptTooLong(_ length: Int, max: Int) -> PricingError {
        .init(.promptTooLong, "The prompt has \(length) characters; at most \(max) are accepted.")
    }

    public static func resolutionNotSupported(_ resolution: String, model: String, supported: [String]) -> PricingError {
        .init(.resolutionNotSupported, "\(model) does not generate '\(resolution.prefix(40))'; supported: \(supported.joined(separator: ", ")).")
    }

    public static func unknownPriceList(_ version: String, provider: String) -> PricingError {
        .init(.unknownPriceList, "Provider '\(provider)' has no price list '\(version.prefix(80))' in this catalog.")
    }

    public static func noPriceInForce(provider: String, at date: String) -> PricingError {
        .init(.noPriceInForce, "Provider '\(provider)' has no price list in force at \(date).")
    }
}

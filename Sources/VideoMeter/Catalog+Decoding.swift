import Foundation

// The on-disk format of a catalog file (see README, "The catalog"). Money is always a JSON
// *string* ("0.050"), so no price ever passes through floating point; durations and scales are
// integers.

private struct ProviderFile: Decodable {
    var provider: String
    var name: String?
    var currency: String?
    var modelNameRouting: Bool?
    var versions: [VersionFile]

    enum CodingKeys: String, CodingKey {
        case provider, name, currency, versions
        case modelNameRouting = "model_name_routing"
    }
}

private struct VersionFile: Decodable {
    var version: String
    var effectiveFrom: String
    var source: String
    var marginPercent: String?
    var settlementScale: Int?
    var rounding: String?
    var displayScale: Int?
    var maxPromptCharacters: Int?
    var models: [ModelFile]

    enum CodingKeys: String, CodingKey {
        case version, source, rounding, models
        case effectiveFrom = "effective_from"
        case marginPercent = "margin_percent"
        case settlementScale = "settlement_scale"
        case displayScale = "display_scale"
        case maxPromptCharacters = "max_prompt_characters"
    }
}

private struct DurationFile: Decodable {
    var `default`: Int
    var min: Int
    var max: Int
}

private struct TokenFile: Decodable {
    var perMillion: String
    var frameSizes: [String: [Int]]
    var framesPerSecond: Int?
    var extraFrames: Int?
    var pixelsPerToken: Int?

    enum CodingKeys: String, CodingKey {
        case perMillion = "per_million"
        case frameSizes = "frame_sizes"
        case framesPerSecond = "frames_per_second"
        case extraFrames = "extra_frames"
        case pixelsPerToken = "pixels_per_token"
    }
}

private struct ModelFile: Decodable {
    var id: String
    var vendor: String?
    var family: String?
    var apiStyle: String
    var resolutions: [String]
    var defaultResolution: String?
    var unknownResolution: String?
    var duration: DurationFile
    var requiresImage: Bool?
    var maxPromptCharacters: Int?
    var perSecond: [String: String]?
    var outputTokens: TokenFile?
    var imageFee: String?
    var flatFee: String?
    var marginPercent: String?
    var billableOutcomes: [String]?
    var passThrough: [String: [String]]?
    var source: String

    enum CodingKeys: String, CodingKey {
        case id, vendor, family, resolutions, duration, source
        case apiStyle = "api_style"
        case defaultResolution = "default_resolution"
        case unknownResolution = "unknown_resolution"
        case requiresImage = "requires_image"
        case maxPromptCharacters = "max_prompt_characters"
        case perSecond = "per_second"
        case outputTokens = "output_tokens"
        case imageFee = "image_fee"
        case flatFee = "flat_fee"
        case marginPercent = "margin_percent"
        case billableOutcomes = "billable_outcomes"
        case passThrough = "pass_through"
    }
}

extension Catalog {
    /// Decodes and validates catalog files, one per provider.
    ///
    /// - Parameter files: each file's name (for error messages) and contents.
    /// - Throws: ``CatalogErrors`` listing every problem with its file, entry and reason.
    public static func decode(files: [(name: String, data: Data)]) throws -> Catalog {
        var errors: [CatalogError] = []
        var providers: [ProviderCatalog] = []
        var seen: [String: String] = [:]
        for file in files {
            do {
                let provider = try decodeProvider(name: file.name, data: file.data)
                if let other = seen[provider.id] {
                    errors.append(CatalogError(file: file.name, entry: "provider", reason: "provider '\(provider.id)' is already defined in \(other)"))
                } else {
                    seen[provider.id] = file.name
                    providers.append(provider)
                }
            } catch let error as CatalogErrors {
                errors += error.errors
            }
        }
        if files.isEmpty {
            errors.append(CatalogError(file: "(catalog)", entry: "", reason: "no catalog files were given"))
        }
        guard errors.isEmpty else { throw CatalogErrors(errors: errors) }
        return Catalog(providers: providers)
    }

    /// Decodes and validates one provider file.
    public static func decodeProvider(name: String, data: Data) throws -> ProviderCatalog {
        let file: ProviderFile
        do {
            file = try JSONDecoder().decode(ProviderFile.self, from: data)
        } catch let error as DecodingError {
            throw CatalogErrors(errors: [CatalogError(file: name, entry: error.entryPath, reason: error.reason)])
        } catch {
            throw CatalogErrors(errors: [CatalogError(file: name, entry: "", reason: "not valid JSON")])
        }
        var validator = CatalogValidator(file: name)
        if let shape = try? JSONDecoder().decode(KeyShape.self, from: data) {
            validator.checkKeys(shape, file: file)
        }
        let provider = validator.provider(file)
        guard validator.errors.isEmpty, let provider else { throw CatalogErrors(errors: validator.errors) }
        return provider
    }
}

/// The object keys of a JSON document and nothing of its values, so that no number is ever read.
private indirect enum KeyShape: Decodable {
    case object([String: KeyShape])
    case array([KeyShape])
    case scalar

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: KeyShape] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(KeyShape.self, forKey: key) }
            self = .object(members)
        } else if var array = try? decoder.unkeyedContainer() {
            var items: [KeyShape] = []
            while !array.isAtEnd { items.append(try array.decode(KeyShape.self)) }
            self = .array(items)
        } else {
            self = .scalar
        }
    }

    var members: [String: KeyShape] {
        if case .object(let members) = self { return members }
        return [:]
    }

    var items: [KeyShape] {
        if case .array(let items) = self { return items }
        return []
    }
}

/// The fields each object of a catalog file may have. A misspelt field would otherwise be read as
/// absent, and an absent fee or margin is zero: an under-charge nobody sees. Keys starting with
/// `_` are comments and allowed anywhere.
private enum CatalogKeys {
    static let provider: Set = ["provider", "name", "currency", "model_name_routing", "versions"]
    static let version: Set = [
        "version", "effective_from", "source", "margin_percent", "settlement_scale", "rounding", "display_scale",
        "max_prompt_characters", "models",
    ]
    static let model: Set = [
        "id", "vendor", "family", "api_style", "resolutions", "default_resolution", "unknown_resolution", "duration", "requires_image",
        "max_prompt_characters", "per_second", "output_tokens", "image_fee", "flat_fee", "margin_percent",
        "billable_outcomes", "pass_through", "source",
    ]
    static let duration: Set = ["default", "min", "max"]
    static let outputTokens: Set = ["per_million", "frame_sizes", "frames_per_second", "extra_frames", "pixels_per_token"]
}

/// Turns decoded files into catalog values, collecting every problem instead of stopping at the first.
private struct CatalogValidator {
    let file: String
    var errors: [CatalogError] = []

    init(file: String) { self.file = file }

    /// The longest video a model may bill: an hour. It bounds every product of the token formula
    /// (8192 x 8192 pixels x (240 x 3600 + 1000) frames stays far inside `Int`).
    static let maximumDurationSeconds = 3600

    mutating func fail(_ entry: String, _ reason: String) {
        errors.append(CatalogError(file: file, entry: entry, reason: reason))
    }

    /// Refuses every field the format does not define, naming where it is and what was meant.
    mutating func checkKeys(_ shape: KeyShape, file: ProviderFile) {
        func check(_ members: [String: KeyShape], allowed: Set<String>, entry: String) {
            for key in members.keys.sorted() where !allowed.contains(key) && !key.hasPrefix("_") {
                let path = entry.isEmpty ? key : "\(entry) / \(key)"
                fail(path, "unknown field; the fields here are \(allowed.sorted().joined(separator: ", ")) (start a comment's key with _)")
            }
        }
        check(shape.members, allowed: CatalogKeys.provider, entry: "")
        for (index, version) in (shape.members["versions"]?.items ?? []).enumerated() {
            let versionID = index < file.versions.count ? " \(file.versions[index].version)" : ""
            let versionEntry = "versions[\(index)]\(versionID)"
            check(version.members, allowed: CatalogKeys.version, entry: versionEntry)
            for (modelIndex, model) in (version.members["models"]?.items ?? []).enumerated() {
                let models = index < file.versions.count ? file.versions[index].models : []
                let modelID = modelIndex < models.count ? " \(models[modelIndex].id)" : ""
                let modelEntry = "\(versionEntry) / models[\(modelIndex)]\(modelID)"
                check(model.members, allowed: CatalogKeys.model, entry: modelEntry)
                if let duration = model.members["duration"] {
                    check(duration.members, allowed: CatalogKeys.duration, entry: "\(modelEntry) / duration")
                }
                if let tokens = model.members["output_tokens"] {
                    check(tokens.members, allowed: CatalogKeys.outputTokens, entry: "\(modelEntry) / output_tokens")
                }
            }
        }
    }

    mutating func provider(_ source: ProviderFile) -> ProviderCatalog? {
        let id = source.provider.trimmingCharacters(in: .whitespaces)
        if id.isEmpty || id.contains(where: { $0.isWhitespace }) {
            fail("provider", "the provider id must be a non-empty word, e.g. \"blockrun\"")
        }
        let currency = source.currency ?? "USD"
        if currency != "USD" { fail("currency", "only USD is supported (the ledger settles in micro-dollars), not '\(currency)'") }
        if source.versions.isEmpty { fail("versions", "at least one price list version is needed") }

        var versions: [CatalogVersion] = []
        var ids = Set<String>()
        for (index, version) in source.versions.enumerated() {
            let entry = "versions[\(index)] \(version.version)"
            if !ids.insert(version.version).inserted { fail(entry, "version id '\(version.version)' is used twice") }
            if let decoded = self.version(version, entry: entry, provider: id) { versions.append(decoded) }
        }
        versions.sort { $0.effectiveFrom < $1.effectiveFrom }
        for (earlier, later) in zip(versions, versions.dropFirst()) where earlier.effectiveFrom == later.effectiveFrom {
            fail("versions", "versions '\(earlier.id)' and '\(later.id)' take effect at the same instant")
        }
        return ProviderCatalog(
            id: id, name: source.name ?? id, currency: currency, versions: versions, routesByModelName: source.modelNameRouting ?? true)
    }

    mutating func version(_ source: VersionFile, entry: String, provider: String) -> CatalogVersion? {
        let errorCount = errors.count
        let effectiveFrom = CatalogDate.parse(source.effectiveFrom)
        if effectiveFrom == nil { fail("\(entry) / effective_from", "'\(source.effectiveFrom)' is not an ISO 8601 date such as 2026-04-01T00:00:00Z") }
        if source.source.trimmingCharacters(in: .whitespaces).isEmpty { fail("\(entry) / source", "say where these prices come from") }
        let margin = decimal(source.marginPercent ?? "0", entry: "\(entry) / margin_percent", range: 0...1000)
        let settlementScale = source.settlementScale ?? Money.microScale
        if !(0...Money.microScale).contains(settlementScale) {
            fail("\(entry) / settlement_scale", "must be 0 to 6 (the ledger settles in micro-dollars), not \(settlementScale)")
        }
        let displayScale = source.displayScale ?? 2
        if !(0...Money.microScale).contains(displayScale) { fail("\(entry) / display_scale", "must be 0 to 6, not \(displayScale)") }
        let rounding = RoundingRule(rawValue: source.rounding ?? RoundingRule.halfUp.rawValue)
        if rounding == nil {
            fail("\(entry) / rounding", "'\(source.rounding ?? "")' is not one of \(RoundingRule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let maxPrompt = source.maxPromptCharacters ?? 4096
        if maxPrompt < 1 { fail("\(entry) / max_prompt_characters", "must be at least 1") }
        if source.models.isEmpty { fail("\(entry) / models", "a price list needs at least one model") }

        var models: [ModelEntry] = []
        var modelIDs = Set<String>()
        for (index, model) in source.models.enumerated() {
            let modelEntry = "\(entry) / models[\(index)] \(model.id)"
            if !modelIDs.insert(model.id).inserted { fail(modelEntry, "model '\(model.id)' is listed twice in this version") }
            if let decoded = self.model(model, entry: modelEntry, provider: provider, versionMargin: margin ?? 0, versionMaxPrompt: maxPrompt) {
                models.append(decoded)
            }
        }
        guard errors.count == errorCount, let effectiveFrom, let rounding else { return nil }
        return CatalogVersion(
            id: source.version, effectiveFrom: effectiveFrom, source: source.source,
            settlementScale: settlementScale, rounding: rounding, displayScale: displayScale, models: models
        )
    }

    mutating func model(_ source: ModelFile, entry: String, provider: String, versionMargin: Decimal, versionMaxPrompt: Int) -> ModelEntry? {
        let errorCount = errors.count
        if source.id.trimmingCharacters(in: .whitespaces).isEmpty { fail(entry, "the model id is empty") }
        let style = APIStyle(rawValue: source.apiStyle)
        if style == nil { fail("\(entry) / api_style", "'\(source.apiStyle)' is not sync or async") }
        let resolutions = source.resolutions.map { $0.lowercased() }
        if resolutions.isEmpty { fail("\(entry) / resolutions", "list at least one resolution, e.g. [\"720p\"]") }
        let defaultResolution = (source.defaultResolution ?? resolutions.first ?? "").lowercased()
        if !resolutions.contains(defaultResolution) {
            fail("\(entry) / default_resolution", "'\(defaultResolution)' is not among the resolutions \(resolutions)")
        }
        let fallback = ResolutionFallback(rawValue: source.unknownResolution ?? ResolutionFallback.reject.rawValue)
        if fallback == nil { fail("\(entry) / unknown_resolution", "'\(source.unknownResolution ?? "")' is not reject or default") }
        let duration = source.duration
        if duration.min < 1 { fail("\(entry) / duration", "min must be at least 1 s, not \(duration.min)") }
        if duration.max > Self.maximumDurationSeconds {
            fail("\(entry) / duration", "max must be at most \(Self.maximumDurationSeconds) s, not \(duration.max)")
        } else if !(duration.min <= duration.default && duration.default <= duration.max) {
            fail("\(entry) / duration", "needs min <= default <= max, got \(duration.min) / \(duration.default) / \(duration.max)")
        }

        var perSecond: [String: Decimal] = [:]
        for (resolution, text) in source.perSecond ?? [:] {
            if let price = decimal(text, entry: "\(entry) / per_second / \(resolution)", range: 0...1000) {
                perSecond[resolution.lowercased()] = price
            }
            if !resolutions.contains(resolution.lowercased()) {
                fail("\(entry) / per_second / \(resolution)", "priced but not among the resolutions \(resolutions)")
            }
        }
        var tokens: TokenPricing?
        if let tokenFile = source.outputTokens {
            tokens = tokenPricing(tokenFile, entry: "\(entry) / output_tokens", resolutions: resolutions)
        }
        if source.perSecond == nil && source.outputTokens == nil {
            fail(entry, "no price: give per_second or output_tokens")
        } else if source.perSecond != nil && source.outputTokens != nil {
            fail(entry, "two prices: give per_second or output_tokens, not both")
        } else if source.perSecond != nil {
            for resolution in resolutions where perSecond[resolution] == nil && errors.count == errorCount {
                fail("\(entry) / per_second", "no price for \(resolution)")
            }
        }
        let imageFee = decimal(source.imageFee ?? "0", entry: "\(entry) / image_fee", range: 0...1000)
        let flatFee = decimal(source.flatFee ?? "0", entry: "\(entry) / flat_fee", range: 0...1000)
        let margin = source.marginPercent.map { decimal($0, entry: "\(entry) / margin_percent", range: 0...1000) } ?? versionMargin
        var outcomes = Set<Outcome>()
        // A refusal or a timeout is a request the upstream never ran: it can never be billed.
        let billable: [Outcome] = [.succeeded, .failed, .cancelled, .expired]
        for name in source.billableOutcomes ?? [Outcome.succeeded.rawValue] {
            if let outcome = Outcome(rawValue: name), billable.contains(outcome) { outcomes.insert(outcome) } else {
                fail("\(entry) / billable_outcomes", "'\(name)' is not one of \(billable.map(\.rawValue).joined(separator: ", ")) (refusals and timeouts are never billed)")
            }
        }
        let maxPrompt = source.maxPromptCharacters ?? versionMaxPrompt
        if maxPrompt < 1 { fail("\(entry) / max_prompt_characters", "must be at least 1") }
        if source.source.trimmingCharacters(in: .whitespaces).isEmpty { fail("\(entry) / source", "say where this model's figures come from") }
        // The underlying model, the same across sellers: `vendor` + `family` (default: the id's last
        // path component, so `xai/grok-imagine-video` and `grok-imagine-video` are one model).
        let family = source.family ?? String(source.id.split(separator: "/").last ?? Substring(source.id))
        if family.isEmpty || !family.allSatisfy({ $0.isLowercase || $0.isNumber || "-._".contains($0) }) {
            fail("\(entry) / family", "'\(family)' is not a model family such as grok-imagine-video (lower-case letters, digits, - . _)")
        }
        // Members that change nothing of the price, forwarded as they are: never a priced one.
        let priced: Set<String> = ["model", "prompt", "duration", "duration_seconds", "resolution", "image", "image_url"]
        for (member, values) in source.passThrough ?? [:] {
            if priced.contains(member) || member.isEmpty {
                fail("\(entry) / pass_through / \(member)", "'\(member)' is read and priced by VideoMeter; only members that do not change the price pass through")
            }
            if values.isEmpty || values.contains(where: \.isEmpty) {
                fail("\(entry) / pass_through / \(member)", "list the values the seller documents (non-empty strings)")
            }
        }

        guard errors.count == errorCount, let style, let fallback, let imageFee, let flatFee, let margin else { return nil }
        return ModelEntry(
            id: source.id, provider: provider, vendor: source.vendor ?? "", family: family, apiStyle: style,
            resolutions: resolutions, defaultResolution: defaultResolution, unknownResolution: fallback,
            defaultDuration: duration.default, minDuration: duration.min, maxDuration: duration.max,
            requiresImage: source.requiresImage ?? false, maxPromptCharacters: maxPrompt,
            prices: PriceComponents(perSecond: perSecond, tokens: tokens, imageFee: imageFee, flatFee: flatFee, marginPercent: margin),
            billableOutcomes: outcomes, passThrough: source.passThrough ?? [:], source: source.source
        )
    }

    mutating func tokenPricing(_ source: TokenFile, entry: String, resolutions: [String]) -> TokenPricing? {
        let errorCount = errors.count
        let perMillion = decimal(source.perMillion, entry: "\(entry) / per_million", range: 0...100_000)
        var sizes: [String: FrameSize] = [:]
        for (resolution, size) in source.frameSizes {
            if size.count == 2, size[0] > 0, size[1] > 0, size[0] <= 8192, size[1] <= 8192 {
                sizes[resolution.lowercased()] = FrameSize(width: size[0], height: size[1])
            } else {
                fail("\(entry) / frame_sizes / \(resolution)", "must be [width, height] in pixels, e.g. [1280, 720]")
            }
        }
        for resolution in resolutions where sizes[resolution] == nil {
            fail("\(entry) / frame_sizes", "no frame size for \(resolution)")
        }
        let formula = TokenFormula(
            framesPerSecond: source.framesPerSecond ?? TokenFormula.seedance.framesPerSecond,
            extraFrames: source.extraFrames ?? TokenFormula.seedance.extraFrames,
            pixelsPerToken: source.pixelsPerToken ?? TokenFormula.seedance.pixelsPerToken
        )
        if !(1...240).contains(formula.framesPerSecond) || !(0...1000).contains(formula.extraFrames)
            || !(1...(1 << 20)).contains(formula.pixelsPerToken) {
            fail(entry, "the token formula needs frames_per_second 1...240, extra_frames 0...1000, pixels_per_token 1...1048576")
        }
        guard errors.count == errorCount, let perMillion else { return nil }
        return TokenPricing(perMillion: perMillion, frameSizes: sizes, formula: formula)
    }

    mutating func decimal(_ text: String, entry: String, range: ClosedRange<Decimal>) -> Decimal? {
        guard let value = Money.parse(text) else {
            fail(entry, "'\(text)' is not a plain decimal such as \"0.050\"")
            return nil
        }
        guard range.contains(value) else {
            fail(entry, "\(text) is outside \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }
}

extension DecodingError {
    /// The JSON path of the failing value, as `versions[0] / models[2] / per_second`.
    var entryPath: String {
        let path: [any CodingKey]
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
        @unknown default:
            path = []
        }
        var parts: [String] = []
        for key in path {
            if let index = key.intValue, let last = parts.popLast() {
                parts.append("\(last)[\(index)]")
            } else {
                parts.append(key.stringValue)
            }
        }
        return parts.joined(separator: " / ")
    }

    var reason: String {
        switch self {
        case .typeMismatch(let type, _):
            if type == String.self { return "expected a string (prices are decimal strings such as \"0.050\", never JSON numbers)" }
            if type == Int.self { return "expected a whole number" }
            return "has the wrong type (expected \(type))"
        case .valueNotFound:
            return "is missing a value"
        case .keyNotFound(let key, _):
            return "the required field '\(key.stringValue)' is missing"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON: \(context.debugDescription)" : context.debugDescription
        @unknown default:
            return "could not be read"
        }
    }
}

/// ISO 8601 dates as catalogs and `--at` write them: a full timestamp or a day (midnight UTC).
public enum CatalogDate {
    public static func parse(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime]
        if let date = full.date(from: text) { return date }
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = TimeZone(identifier: "UTC")
        return day.date(from: text)
    }

    /// ISO 8601 in UTC, to the second unless `fractionalSeconds` (milliseconds) is asked for.
    public static func format(_ date: Date, fractionalSeconds: Bool = false) -> String {
        // Every metered call stamps its quote: to the second, the civil date is computed here
        // rather than by a new ICU formatter per call (same text, tested against the formatter).
        if !fractionalSeconds, let text = formatToTheSecond(date.timeIntervalSince1970) { return text }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = fractionalSeconds ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `yyyy-MM-ddTHH:mm:ssZ` for the second containing `interval` (seconds since 1970), for
    /// years 1601 to 9999 (before 1582 the formatter writes Julian dates); nil outside them.
    static func formatToTheSecond(_ interval: TimeInterval) -> String? {
        guard interval.isFinite, interval >= -11_644_473_600, interval < 253_402_300_800 else { return nil }
        let seconds = Int64(interval.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        // Days to the proleptic Gregorian civil date (Howard Hinnant's days_from_civil, inverted).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func padded(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))T\(padded(inDay / 3600, 2)):\(padded(inDay / 60 % 60, 2)):\(padded(inDay % 60, 2))Z"
    }
}

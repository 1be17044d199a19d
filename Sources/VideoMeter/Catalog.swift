import Foundation

/// How an upstream answers a generation request.
public enum APIStyle: String, Sendable, Codable, CaseIterable {
    /// The connection stays open until the video is ready (BlockRun).
    case sync
    /// A task id comes back at once and is polled to a terminal state (WorldRouter).
    case async
}

/// What happens to a resolution the model does not list.
public enum ResolutionFallback: String, Sendable, Codable {
    /// Refused with `resolution_not_supported`.
    case reject
    /// Priced and generated at the model's default resolution (WorldRouter: 720p).
    case useDefault = "default"
}

/// The terminal outcomes of a generation call.
public enum Outcome: String, Sendable, Codable, CaseIterable {
    case succeeded, failed, cancelled, expired
    case timedOut = "timed_out"
    case rejected
}

/// The Seedance output-token formula: `width x height x (framesPerSecond x seconds + extraFrames) / pixelsPerToken`.
public struct TokenFormula: Sendable, Equatable {
    public var framesPerSecond: Int
    public var extraFrames: Int
    public var pixelsPerToken: Int

    public static let seedance = TokenFormula(framesPerSecond: 24, extraFrames: 1, pixelsPerToken: 1024)

    /// Output tokens for a video of `seconds` at `width` x `height`, rounded up to a whole token.
    public func tokens(width: Int, height: Int, seconds: Int) -> Int {
        let numerator = width * height * (framesPerSecond * seconds + extraFrames)
        return (numerator + pixelsPerToken - 1) / pixelsPerToken
    }
}

/// Per-output-token pricing (ByteDance Seedance).
public struct TokenPricing: Sendable, Equatable {
    /// Price of one million output tokens.
    public var perMillion: Decimal {
        didSet { perToken = perMillion / 1_000_000 }
    }
    /// `perMillion / 1,000,000`, divided once when the catalog is read.
    public private(set) var perToken: Decimal
    /// Frame size of each resolution, e.g. 720p = 1280 x 720.
    public var frameSizes: [String: FrameSize]
    public var formula: TokenFormula

    public init(perMillion: Decimal, frameSizes: [String: FrameSize], formula: TokenFormula) {
        self.perMillion = perMillion
        self.perToken = perMillion / 1_000_000
        self.frameSizes = frameSizes
        self.formula = formula
    }
}

public struct FrameSize: Sendable, Equatable {
    public var width: Int
    public var height: Int
}

/// The price components of one model in one catalog version. All amounts in the catalog currency.
public struct PriceComponents: Sendable, Equatable {
    /// Upstream price per generated second, by resolution.
    public var perSecond: [String: Decimal] { didSet { rescale() } }
    /// Upstream price per output token, when the model is priced that way.
    public var tokens: TokenPricing? { didSet { rescale() } }
    /// Fee per input image.
    public var imageFee: Decimal { didSet { rescale() } }
    /// Fee per request, added after the margin (the reseller's own fee).
    public var flatFee: Decimal { didSet { rescale() } }
    /// Margin on the upstream cost, in percent (5 = 5 %).
    public var marginPercent: Decimal {
        didSet {
            marginFraction = marginPercent / 100
            rescale()
        }
    }
    /// `marginPercent / 100`, divided once when the catalog is read rather than in every quote.
    public private(set) var marginFraction: Decimal
    /// The same prices as integers at one scale, for the exact fast path (nil where they do not fit).
    public private(set) var scaled: ScaledPrices?

    public init(perSecond: [String: Decimal], tokens: TokenPricing?, imageFee: Decimal, flatFee: Decimal, marginPercent: Decimal) {
        self.perSecond = perSecond
        self.tokens = tokens
        self.imageFee = imageFee
        self.flatFee = flatFee
        self.marginPercent = marginPercent
        self.marginFraction = marginPercent / 100
        self.scaled = nil
        self.scaled = ScaledPrices(self)
    }

    private mutating func rescale() { scaled = ScaledPrices(self) }
}

/// A model as one catalog version prices and constrains it.
public struct ModelEntry: Sendable, Equatable {
    public var id: String
    public var provider: String
    /// Who makes the model (xai, bytedance).
    public var vendor: String
    /// The underlying model (`grok-imagine-video`): entries of the same vendor and family are the
    /// same video sold by different sellers (`quote --compare`).
    public var family: String
    public var apiStyle: APIStyle
    public var resolutions: [String]
    public var defaultResolution: String
    public var unknownResolution: ResolutionFallback
    public var defaultDuration: Int
    public var minDuration: Int
    public var maxDuration: Int
    public var requiresImage: Bool
    public var maxPromptCharacters: Int
    public var prices: PriceComponents
    public var billableOutcomes: Set<Outcome>
    /// Request members the seller documents that do not change the price (e.g. Grok's
    /// `aspect_ratio`), with the values it accepts: forwarded unchanged, validated against these.
    public var passThrough: [String: [String]] = [:]
    /// Where the figures came from (a published sheet, a list price, an assumption).
    public var source: String
}

/// One effective-dated price list of one provider.
public struct CatalogVersion: Sendable, Equatable {
    public var id: String
    public var effectiveFrom: Date
    public var source: String
    public var settlementScale: Int
    public var rounding: RoundingRule
    public var displayScale: Int
    public var models: [ModelEntry]
    let modelIndex: [String: Int]

    public func model(_ id: String) -> ModelEntry? {
        modelIndex[id].map { models[$0] }
    }

    init(id: String, effectiveFrom: Date, source: String, settlementScale: Int, rounding: RoundingRule, displayScale: Int, models: [ModelEntry]) {
        self.id = id
        self.effectiveFrom = effectiveFrom
        self.source = source
        self.settlementScale = settlementScale
        self.rounding = rounding
        self.displayScale = displayScale
        self.models = models
        self.modelIndex = Dictionary(models.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Every price list of one provider, oldest first.
public struct ProviderCatalog: Sendable, Equatable {
    public var id: String
    public var name: String
    public var currency: String
    /// Ascending by `effectiveFrom`.
    public var versions: [CatalogVersion]
    /// Whether a request that names only a model may be routed here (`model_name_routing`,
    /// default true). A seller that sells the same model ids as another (xAI direct) sets it false:
    /// it is then reached by name only through its provider id (`--provider`, `/xai/v1/...`).
    public var routesByModelName: Bool = true

    /// The version in force at `date`: the latest whose `effectiveFrom` is not after it.
    public func version(at date: Date) -> CatalogVersion? {
        var low = 0
        var high = versions.count
        while low < high {
            let mid = (low + high) / 2
            if versions[mid].effectiveFrom <= date { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : versions[low - 1]
    }
}

/// The whole price catalog: one ``ProviderCatalog`` per provider file in `pricing/`.
public struct Catalog: Sendable, Equatable {
    public private(set) var providers: [ProviderCatalog]
    private let providerIndex: [String: Int]
    /// For each model id, the providers routed to by model name that have listed it in any version.
    private let modelProviders: [String: [String]]

    public init(providers: [ProviderCatalog]) {
        self.providers = providers.sorted { $0.id < $1.id }
        self.providerIndex = Dictionary(self.providers.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var modelProviders: [String: [String]] = [:]
        for provider in self.providers where provider.routesByModelName {
            let ids = Set(provider.versions.flatMap { $0.models.map(\.id) })
            for id in ids { modelProviders[id, default: []].append(provider.id) }
        }
        self.modelProviders = modelProviders
    }

    public func provider(_ id: String) -> ProviderCatalog? {
        providerIndex[id].map { providers[$0] }
    }

    /// The providers that list `model` in some version and are routed to by model name.
    public func providers(listing model: String) -> [String] {
        modelProviders[model] ?? []
    }
}

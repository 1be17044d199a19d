import Foundation

extension Catalog {
    /// Resolves the model a request names, at a date: the provider, its version in force, the entry.
    public func resolve(model: String, provider: String?, at date: Date) throws(PricingError) -> (ProviderCatalog, CatalogVersion, ModelEntry) {
        let providerCatalog: ProviderCatalog
        if let provider {
            guard let found = self.provider(provider) else { throw .unknownProvider(provider, known: providers.map(\.id)) }
            providerCatalog = found
        } else {
            let candidates = providers(listing: model)
            guard let only = candidates.first else { throw .unknownModel(model, provider: nil) }
            guard candidates.count == 1 else { throw .ambiguousModel(model, providers: candidates) }
            providerCatalog = self.provider(only)!
        }
        guard let version = providerCatalog.version(at: date) else {
            if providers(listing: model).contains(providerCatalog.id) {
                throw .noPriceInForce(provider: providerCatalog.id, at: CatalogDate.format(date))
            }
            throw .unknownModel(model, provider: provider)
        }
        guard let entry = version.model(model) else { throw .unknownModel(model, provider: provider) }
        return (providerCatalog, version, entry)
    }

    /// Prices `request` with the catalog version in force at `date`.
    ///
    /// Validation happens first and in a fixed order (model, prompt, duration, resolution, images),
    /// so the same bad request always gets the same code.
    public func quote(_ request: QuoteRequest, at date: Date) throws(PricingError) -> Quote {
        let call = try validated(request, at: date)
        return Self.makeQuote(
            provider: call.provider, version: call.version, model: call.model, seconds: call.seconds,
            resolution: call.resolution, fellBack: call.fellBack, images: call.images
        )
    }

    /// The figures of ``quote(_:at:)`` from the exact fast path (``ScaledPrices``): the same
    /// validation and the same totals, without the Decimal lines.
    public func totals(_ request: QuoteRequest, at date: Date) throws(PricingError) -> QuoteTotals {
        let call = try validated(request, at: date)
        return Self.makeTotals(
            provider: call.provider, version: call.version, model: call.model, seconds: call.seconds,
            resolution: call.resolution, fellBack: call.fellBack, images: call.images
        )
    }

    /// A request checked against the model in force at `date`: what a quote prices.
    struct ValidatedCall {
        var provider: ProviderCatalog
        var version: CatalogVersion
        var model: ModelEntry
        var seconds: Int
        var resolution: String
        var fellBack: Bool
        var images: Int
    }

    func validated(_ request: QuoteRequest, at date: Date) throws(PricingError) -> ValidatedCall {
        let (provider, version, model) = try resolve(model: request.model, provider: request.provider, at: date)

        if let prompt = request.prompt {
            if prompt.allSatisfy(\.isWhitespace) { throw .emptyPrompt() }
            if QuoteRequest.containsControlCharacter(prompt) { throw .invalidPrompt() }
            let length = prompt.count
            if length > model.maxPromptCharacters { throw .promptTooLong(length, max: model.maxPromptCharacters) }
        }

        let seconds = request.durationSeconds ?? model.defaultDuration
        if seconds <= 0 { throw .invalidDuration(String(seconds)) }
        if seconds > model.maxDuration { throw .durationAboveMax(seconds, max: model.maxDuration, model: model.id) }
        if seconds < model.minDuration { throw .durationBelowMin(seconds, min: model.minDuration, model: model.id) }

        var resolution = model.defaultResolution
        var fellBack = false
        if let requested = request.resolution {
            if model.resolutions.contains(requested) {
                resolution = requested
            } else if case let normalised = requested.lowercased(), model.resolutions.contains(normalised) {
                resolution = normalised
            } else if model.unknownResolution == .useDefault {
                fellBack = true
            } else {
                throw .resolutionNotSupported(requested, model: model.id, supported: model.resolutions)
            }
        }

        for url in request.imageURLs where !Self.isImageURL(url) { throw .invalidImageURL(url) }
        if model.requiresImage && request.imageURLs.isEmpty { throw .imageRequired(model: model.id) }
        return ValidatedCall(
            provider: provider, version: version, model: model, seconds: seconds, resolution: resolution,
            fellBack: fellBack, images: request.imageURLs.count)
    }

    /// Prices a call that was already validated and held, for its settlement: `seconds` and
    /// `resolution` as the upstream reports them, `imageCount` as held, with the price list the hold
    /// stored (`version`), so the charge uses the rates the hold was quoted at whatever price list
    /// is in force now or was meant to be in force then.
    ///
    /// Prompt and image URLs are not checked again; the duration and resolution are.
    /// - Throws: `unknown_price_list` when the catalog no longer has that version.
    public func reprice(
        provider: String, model: String, seconds: Int, resolution: String, imageCount: Int, version versionID: String
    ) throws(PricingError) -> Quote {
        guard let providerCatalog = self.provider(provider) else { throw .unknownProvider(provider, known: providers.map(\.id)) }
        guard let version = providerCatalog.versions.first(where: { $0.id == versionID }) else {
            throw .unknownPriceList(versionID, provider: provider)
        }
        guard let entry = version.model(model) else { throw .unknownModel(model, provider: provider) }
        return try reprice(provider: providerCatalog, version: version, entry: entry, seconds: seconds, resolution: resolution, imageCount: imageCount)
    }

    /// Prices a call as ``reprice(provider:model:seconds:resolution:imageCount:version:)`` does, with
    /// the price list in force at `date`: for what-if questions, not for settling a hold.
    public func reprice(
        provider: String, model: String, seconds: Int, resolution: String, imageCount: Int, at date: Date
    ) throws(PricingError) -> Quote {
        let (providerCatalog, version, entry) = try resolve(model: model, provider: provider, at: date)
        return try reprice(provider: providerCatalog, version: version, entry: entry, seconds: seconds, resolution: resolution, imageCount: imageCount)
    }

    func reprice(
        provider providerCatalog: ProviderCatalog, version: CatalogVersion, entry: ModelEntry, seconds: Int, resolution: String, imageCount: Int
    ) throws(PricingError) -> Quote {
        let call = try validatedCharge(
            provider: providerCatalog, version: version, entry: entry, seconds: seconds, resolution: resolution, imageCount: imageCount)
        return Self.makeQuote(
            provider: call.provider, version: call.version, model: call.model, seconds: call.seconds,
            resolution: call.resolution, fellBack: call.fellBack, images: call.images
        )
    }

    /// The figures of ``reprice(provider:model:seconds:resolution:imageCount:at:)`` from the exact
    /// fast path: what a recorded call would cost under the price list in force at `date`.
    public func repriceTotals(
        provider: String, model: String, seconds: Int, resolution: String, imageCount: Int, at date: Date
    ) throws(PricingError) -> QuoteTotals {
        let (providerCatalog, version, entry) = try resolve(model: model, provider: provider, at: date)
        let call = try validatedCharge(
            provider: providerCatalog, version: version, entry: entry, seconds: seconds, resolution: resolution, imageCount: imageCount)
        return Self.makeTotals(
            provider: call.provider, version: call.version, model: call.model, seconds: call.seconds,
            resolution: call.resolution, fellBack: call.fellBack, images: call.images
        )
    }

    func validatedCharge(
        provider: ProviderCatalog, version: CatalogVersion, entry: ModelEntry, seconds: Int, resolution: String, imageCount: Int
    ) throws(PricingError) -> ValidatedCall {
        if seconds <= 0 { throw .invalidDuration(String(seconds)) }
        if seconds > entry.maxDuration { throw .durationAboveMax(seconds, max: entry.maxDuration, model: entry.id) }
        if seconds < entry.minDuration { throw .durationBelowMin(seconds, min: entry.minDuration, model: entry.id) }
        let normalised = resolution.lowercased()
        let known = entry.resolutions.contains(normalised)
        if !known && entry.unknownResolution == .reject {
            throw .resolutionNotSupported(resolution, model: entry.id, supported: entry.resolutions)
        }
        return ValidatedCall(
            provider: provider, version: version, model: entry, seconds: seconds,
            resolution: known ? normalised : entry.defaultResolution, fellBack: !known, images: max(0, imageCount))
    }

    /// The totals of a validated call through ``ScaledPrices``; the Decimal engine's figures where
    /// the prices or a product do not fit `Int64`.
    static func makeTotals(
        provider: ProviderCatalog, version: CatalogVersion, model: ModelEntry, seconds: Int, resolution: String,
        fellBack: Bool, images: Int
    ) -> QuoteTotals {
        let rule = version.rounding
        if let scaled = model.prices.scaled,
           let priced = scaled.exact(seconds: seconds, resolution: resolution, images: images, tokens: model.prices.tokens),
           let total = ScaledPrices.round(priced.exact, from: scaled.exactScale, to: version.settlementScale, rule),
           let display = ScaledPrices.round(priced.exact, from: scaled.exactScale, to: version.displayScale, rule),
           let worst = seconds == model.maxDuration
               ? priced : scaled.exact(seconds: model.maxDuration, resolution: resolution, images: images, tokens: model.prices.tokens),
           let worstTotal = ScaledPrices.round(worst.exact, from: scaled.exactScale, to: version.settlementScale, rule),
           let worstDisplay = ScaledPrices.round(worst.exact, from: scaled.exactScale, to: version.displayScale, rule)
        {
            return QuoteTotals(
                provider: provider.id, model: model.id, billedSeconds: seconds, resolution: resolution, resolutionFellBack: fellBack,
                imageCount: images, catalogVersion: version.id, exactUnits: priced.exact, exactScale: scaled.exactScale,
                totalUnits: total, settlementScale: version.settlementScale, displayUnits: display, displayScale: version.displayScale,
                worstCaseTotalUnits: worstTotal, worstCaseDisplayUnits: worstDisplay, rounding: rule
            )
        }
        return QuoteTotals(makeQuote(
            provider: provider, version: version, model: model, seconds: seconds, resolution: resolution, fellBack: fellBack, images: images))
    }

    static func makeQuote(
        provider: ProviderCatalog, version: CatalogVersion, model: ModelEntry, seconds: Int, resolution: String,
        fellBack: Bool, images: Int
    ) -> Quote {
        let priced = Self.price(model: model, seconds: seconds, resolution: resolution, images: images, version: version)
        let worst = seconds == model.maxDuration
            ? priced
            : Self.price(model: model, seconds: model.maxDuration, resolution: resolution, images: images, version: version, lines: false)

        return Quote(
            provider: provider.id, model: model.id, apiStyle: model.apiStyle, currency: provider.currency,
            billedSeconds: seconds, resolution: resolution, resolutionFellBack: fellBack,
            imageCount: images, lines: priced.lines,
            exactTotal: priced.exact, total: priced.total, displayTotal: priced.display,
            upstreamCost: priced.upstream, margin: priced.margin, flatFee: max(model.prices.flatFee, 0),
            settlementScale: version.settlementScale, displayScale: version.displayScale, rounding: version.rounding,
            catalogVersion: version.id, catalogEffectiveFrom: version.effectiveFrom,
            worstCase: .init(billedSeconds: model.maxDuration, exactTotal: worst.exact, total: worst.total, displayTotal: worst.display),
            billableOutcomes: model.billableOutcomes
        )
    }

    /// The arithmetic of a quote: upstream lines, then the margin on their sum, then the flat fee.
    /// With `lines == false` only the totals are computed (the worst case needs no lines).
    static func price(model: ModelEntry, seconds: Int, resolution: String, images: Int, version: CatalogVersion, lines wantLines: Bool = true)
        -> (lines: [QuoteLine], exact: Decimal, total: Decimal, display: Decimal, upstream: Decimal, margin: Decimal)
    {
        let prices = model.prices
        var lines: [QuoteLine] = []
        if wantLines { lines.reserveCapacity(4) }
        var upstream = Decimal.zero
        if let rate = prices.perSecond[resolution] {
            let quantity = Decimal(seconds)
            let amount = quantity * rate
            upstream += amount
            if wantLines {
                lines.append(QuoteLine(kind: .seconds, quantity: quantity, unitPrice: rate, amount: amount, seconds: seconds, resolution: resolution))
            }
        } else if let tokens = prices.tokens, let size = tokens.frameSizes[resolution] {
            let quantity = Decimal(tokens.formula.tokens(width: size.width, height: size.height, seconds: seconds))
            let unitPrice = tokens.perToken
            let amount = quantity * unitPrice
            upstream += amount
            if wantLines {
                lines.append(QuoteLine(kind: .outputTokens, quantity: quantity, unitPrice: unitPrice, amount: amount, seconds: seconds, resolution: resolution))
            }
        }
        if images > 0 && prices.imageFee > 0 {
            let quantity = Decimal(images)
            let amount = quantity * prices.imageFee
            upstream += amount
            if wantLines { lines.append(QuoteLine(kind: .imageFee, quantity: quantity, unitPrice: prices.imageFee, amount: amount)) }
        }
        var margin = Decimal.zero
        if prices.marginPercent > 0 {
            let fraction = prices.marginFraction
            margin = upstream * fraction
            if wantLines { lines.append(QuoteLine(kind: .margin, quantity: upstream, unitPrice: fraction, amount: margin)) }
        }
        var exact = upstream + margin
        if prices.flatFee > 0 {
            exact += prices.flatFee
            if wantLines { lines.append(QuoteLine(kind: .flatFee, quantity: 1, unitPrice: prices.flatFee, amount: prices.flatFee)) }
        }
        let total = Money.round(exact, scale: version.settlementScale, version.rounding)
        let display = Money.round(exact, scale: version.displayScale, version.rounding)
        return (lines, exact, total, display, upstream, margin)
    }

    static func isImageURL(_ text: String) -> Bool {
        guard text.count <= 4096, let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = components.host, !host.isEmpty
        else { return false }
        return true
    }
}

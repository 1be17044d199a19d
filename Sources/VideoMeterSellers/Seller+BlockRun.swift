import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterProviders

extension Seller {
    /// BlockRun: synchronous generations, paid per call (x402), Grok Imagine and Seedance.
    public static let blockRun = Seller(
        id: "blockrun", dialect: BlockRunDialect(), emulatorStyle: .blockrun,
        variables: [ProviderEnvironment.blockRunURLVariable, ProviderEnvironment.blockRunPaymentVariable],
        configuredClient: { environment, http, _ in
            let settings = ProviderEnvironment(environment: environment)
            guard settings.isBlockRunConfigured else { return nil }
            return try BlockRunClient(httpClient: http, configuration: settings.blockRunConfiguration())
        },
        sandboxClient: { baseURL, http, _ in
            try BlockRunClient(httpClient: http, configuration: .init(baseURL: baseURL, limits: .unlimited))
        },
        sandboxEmulator: { latency, seed in EmulatorConfiguration(style: .blockrun, latency: latency, seed: seed) })
}

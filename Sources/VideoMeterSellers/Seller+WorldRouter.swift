import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterProviders

extension Seller {
    /// WorldRouter: Grok Imagine as asynchronous tasks, with a team-scoped key.
    public static let worldRouter = Seller(
        id: "worldrouter", dialect: WorldRouterDialect(), emulatorStyle: .worldrouter,
        variables: [ProviderEnvironment.worldRouterURLVariable, ProviderEnvironment.worldRouterKeyVariable],
        configuredClient: { environment, http, poll in
            guard var configuration = ProviderEnvironment(environment: environment).worldRouterConfiguration() else { return nil }
            configuration.poll = poll
            return try WorldRouterClient(httpClient: http, configuration: configuration)
        },
        sandboxClient: { baseURL, http, poll in
            try WorldRouterClient(httpClient: http, configuration: .init(baseURL: baseURL, apiKey: Secret(Seller.sandboxKey), poll: poll))
        },
        sandboxEmulator: { latency, seed in
            EmulatorConfiguration(style: .worldrouter, latency: latency, pendingCap: 1000, seed: seed)
        })

    /// The key sandbox clients present to their emulator.
    public static let sandboxKey = "sandbox-team-key"
}

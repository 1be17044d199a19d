import Foundation
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterProviders

extension Seller {
    /// `VIDEOMETER_XAI_KEY`: xAI API key (secret, Bearer); setting it configures the real upstream.
    public static let xaiKeyVariable = "VIDEOMETER_XAI_KEY"
    /// `VIDEOMETER_XAI_URL`: the API's base URL (default `https://api.x.ai`).
    public static let xaiURLVariable = "VIDEOMETER_XAI_URL"

    /// xAI direct: Grok Imagine as asynchronous generations (`request_id`), list prices, a Bearer key.
    public static let xai = Seller(
        id: "xai", dialect: XAIDialect(), emulatorStyle: .xai, variables: [xaiURLVariable, xaiKeyVariable],
        configuredClient: { environment, http, _ in
            func value(_ name: String) -> String? {
                guard let text = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
                return text
            }
            guard let key = value(xaiKeyVariable) else { return nil }
            // xAI allows about 60 requests a minute: creates wait for a slot rather than provoke 429s.
            return try XAIClient(httpClient: http, configuration: .init(
                baseURL: value(xaiURLVariable) ?? XAIClient.Configuration.defaultBaseURL, apiKey: Secret(key),
                limits: ProviderLimits(requestsPerMinute: 60)))
        },
        sandboxClient: { baseURL, http, _ in
            try XAIClient(httpClient: http, configuration: .init(baseURL: baseURL, apiKey: Secret(Seller.sandboxKey)))
        },
        sandboxEmulator: { latency, seed in EmulatorConfiguration(style: .xai, latency: latency, pendingCap: 1000, seed: seed) })
}

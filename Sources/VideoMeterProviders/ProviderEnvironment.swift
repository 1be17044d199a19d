import Foundation

/// Upstream settings read from the environment.
///
/// | variable | meaning |
/// |---|---|
/// | `VIDEOMETER_BLOCKRUN_URL` | BlockRun base URL, e.g. `https://blockrun.ai/api`, or ClawRouter's `http://127.0.0.1:8402` |
/// | `VIDEOMETER_BLOCKRUN_PAYMENT` | optional `X-Payment` header value (secret) |
/// | `VIDEOMETER_WORLDROUTER_URL` | WorldRouter base URL (default: the quickstart origin) |
/// | `VIDEOMETER_WORLDROUTER_KEY` | WorldRouter team-scoped API key (secret) |
///
/// An upstream counts as configured when its URL (BlockRun) or key (WorldRouter) is set; otherwise
/// the CLI uses the in-process emulator ("sandbox"). Secrets are ``Secret``s: `description` shows
/// whether they are set, never their value. Empty variables count as unset.
public struct ProviderEnvironment: Sendable, CustomStringConvertible {
    public static let blockRunURLVariable = "VIDEOMETER_BLOCKRUN_URL"
    public static let blockRunPaymentVariable = "VIDEOMETER_BLOCKRUN_PAYMENT"
    public static let worldRouterURLVariable = "VIDEOMETER_WORLDROUTER_URL"
    public static let worldRouterKeyVariable = "VIDEOMETER_WORLDROUTER_KEY"

    public var blockRunURL: String?
    public var blockRunPayment: Secret?
    public var worldRouterURL: String?
    public var worldRouterKey: Secret?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
            return text
        }
        blockRunURL = value(Self.blockRunURLVariable)
        blockRunPayment = value(Self.blockRunPaymentVariable).map(Secret.init)
        worldRouterURL = value(Self.worldRouterURLVariable)
        worldRouterKey = value(Self.worldRouterKeyVariable).map(Secret.init)
    }

    public var isBlockRunConfigured: Bool { blockRunURL != nil }
    public var isWorldRouterConfigured: Bool { worldRouterKey != nil }

    /// BlockRun settings from the environment over `base` (ClawRouter's address when no URL is set).
    public func blockRunConfiguration(_ base: BlockRunClient.Configuration = .init()) -> BlockRunClient.Configuration {
        var configuration = base
        if let blockRunURL { configuration.baseURL = blockRunURL }
        if let blockRunPayment { configuration.payment = blockRunPayment }
        return configuration
    }

    /// WorldRouter settings from the environment; `nil` without a key.
    public func worldRouterConfiguration() -> WorldRouterClient.Configuration? {
        guard let worldRouterKey else { return nil }
        return WorldRouterClient.Configuration(
            baseURL: worldRouterURL ?? WorldRouterClient.Configuration.defaultBaseURL, apiKey: worldRouterKey)
    }

    public var description: String {
        "ProviderEnvironment(blockRunURL: \(blockRunURL ?? "unset"), blockRunPayment: \(blockRunPayment == nil ? "unset" : "[redacted]"), "
            + "worldRouterURL: \(worldRouterURL ?? "unset"), worldRouterKey: \(worldRouterKey == nil ? "unset" : "[redacted]"))"
    }
}

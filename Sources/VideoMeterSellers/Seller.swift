import AsyncHTTPClient
import Foundation
import VideoMeter
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterProviders

/// Everything VideoMeter needs to sell through one upstream, keyed by the catalog's provider id:
/// the upstream client (real, from the environment, or against an emulator), the gateway's
/// dialect for its clients, and the emulator style that stands in for it in the sandbox. Its
/// prices are the catalog file `pricing/<id>.json`.
///
/// docs/ARCHITECTURE.md, "Adding a seller", lists the files a new seller adds; the seller is then
/// registered once, in ``Sellers/all``.
public struct Seller: Sendable {
    /// The catalog provider id (`blockrun`, `worldrouter`).
    public let id: String
    /// How the gateway reads its clients' bodies and shapes its answers.
    public let dialect: any SellerDialect
    /// The emulator style of its sandbox.
    public let emulatorStyle: EmulatorStyle
    /// Environment variables that configure the real upstream (for `--help` and the README).
    public let variables: [String]
    /// The client for the real upstream configured by `environment`, or `nil` when it is not
    /// configured (the CLI then uses the sandbox).
    public let configuredClient: @Sendable (_ environment: [String: String], _ http: HTTPClient, _ poll: PollPolicy) throws -> (any VideoProvider)?
    /// A client for an emulator of this seller at `baseURL`.
    public let sandboxClient: @Sendable (_ baseURL: String, _ http: HTTPClient, _ poll: PollPolicy) throws -> any VideoProvider
    /// The sandbox emulator's configuration, for a generation `latency` and a fault `seed`.
    public let sandboxEmulator: @Sendable (_ latency: Duration, _ seed: UInt64) -> EmulatorConfiguration

    public init(
        id: String, dialect: any SellerDialect, emulatorStyle: EmulatorStyle, variables: [String],
        configuredClient: @escaping @Sendable ([String: String], HTTPClient, PollPolicy) throws -> (any VideoProvider)?,
        sandboxClient: @escaping @Sendable (String, HTTPClient, PollPolicy) throws -> any VideoProvider,
        sandboxEmulator: @escaping @Sendable (Duration, UInt64) -> EmulatorConfiguration
    ) {
        precondition(dialect.providerID == id, "seller \(id) registered with the dialect of \(dialect.providerID)")
        self.id = id
        self.dialect = dialect
        self.emulatorStyle = emulatorStyle
        self.variables = variables
        self.configuredClient = configuredClient
        self.sandboxClient = sandboxClient
        self.sandboxEmulator = sandboxEmulator
    }
}

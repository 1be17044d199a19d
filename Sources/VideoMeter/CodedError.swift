/// An error that users can match on: a short stable `code` and a sentence a person understands.
///
/// Every domain error of VideoMeter conforms (pricing, ledger, providers, metering). The codes are
/// part of the public interface (see DESIGN.md); the gateway maps them to HTTP statuses, the CLI
/// prints `error: <code>: <message>`.
public protocol CodedError: Error, CustomStringConvertible, Sendable {
    /// A stable snake_case identifier, e.g. `duration_above_max`.
    var code: String { get }
    /// One or two sentences for a person, never containing secrets.
    var message: String { get }
}

extension CodedError {
    public var description: String { "\(code): \(message)" }
}

import VideoMeter

/// Why a metered call ended without a settled answer, or could not start.
///
/// Pricing refusals (`PricingError`), ledger refusals (`LedgerError`, e.g. `budget_exceeded`) and
/// upstream errors (`ProviderError`) are passed on as they are; these cover what only the metering
/// layer knows.
public struct MeteringError: CodedError, Equatable {
    private enum Kind: String, Sendable, CaseIterable {
        case providerNotConfigured = "provider_not_configured"
        case outcomeUnknown = "outcome_unknown"
        case callInProgress = "call_in_progress"
        case stillRunning = "still_running"
    }

    private let kind: Kind
    public let message: String
    /// The hold the call is kept under, when there is one.
    public let holdID: Int64?

    public var code: String { kind.rawValue }

    /// Every code a metering error can carry.
    public static var allCodes: [String] { Kind.allCases.map(\.rawValue) }

    private init(_ kind: Kind, _ message: String, holdID: Int64? = nil) {
        self.kind = kind
        self.message = message
        self.holdID = holdID
    }

    public static func providerNotConfigured(_ provider: String) -> MeteringError {
        .init(.providerNotConfigured, "No upstream is configured for provider '\(provider)'; see README, Configuration.")
    }

    /// The request was sent and no answer came back: the hold stays until reconciled or expired.
    public static func outcomeUnknown(holdID: Int64, detail: String) -> MeteringError {
        .init(.outcomeUnknown, "The request was sent but no answer came back (\(detail)); hold \(holdID) is kept until `videometer reconcile` settles it or it expires.", holdID: holdID)
    }

    /// The same idempotency key is being served right now by another caller.
    public static func callInProgress(key: String, holdID: Int64) -> MeteringError {
        .init(.callInProgress, "A call with idempotency key '\(key.prefix(100))' is still in progress; retry later for its result.", holdID: holdID)
    }

    /// Polling gave up before the task finished; the task goes on upstream and is settled later.
    public static func stillRunning(holdID: Int64, taskID: String) -> MeteringError {
        .init(.stillRunning, "Task \(taskID) is still running upstream; hold \(holdID) stays until `videometer reconcile` (or the gateway) settles it.", holdID: holdID)
    }
}

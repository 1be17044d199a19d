import Foundation
import Logging
import VideoMeter
@_spi(Simulation) import VideoMeterLedger
@_spi(Simulation) import VideoMeterLedgerPostgres

extension LedgerStores {
    /// Opens the ledger at `address` for one simulated metering process of `videometer-sim`: `life`
    /// lets the simulator crash it (its writes then fail before reaching the store), and `bug`
    /// breaks one of the SQLite ledger's rules. The PostgreSQL store has no injected bugs of its
    /// own: a ledger bug with a postgres address is refused (``SimulationInjectionError``).
    @_spi(Simulation) public static func openForSimulation(
        _ address: LedgerAddress, clock: any WallClock, logger: Logger, injecting bug: InjectedBug?, life: ProcessLife?
    ) async throws -> any SimulationObservable {
        switch address {
        case .file(let path):
            return try Ledger(path: path, clock: clock, logger: logger, injecting: bug, life: life)
        case .postgres(let configuration):
            if let bug, bug.breaksTheLedger { throw SimulationInjectionError(bug: bug) }
            return try await PostgresLedger.open(configuration, clock: clock, logger: logger, life: life)
        }
    }
}

extension InjectedBug {
    /// Whether the bug lives in the ledger (SQLite only) rather than in the metered client.
    @_spi(Simulation) public var breaksTheLedger: Bool { self == .doublePost || self == .ignoreLimit }
}

/// `--inject` names a bug of the SQLite ledger, and the run is on PostgreSQL.
@_spi(Simulation) public struct SimulationInjectionError: CodedError {
    public let bug: InjectedBug
    public init(bug: InjectedBug) { self.bug = bug }
    public var code: String { "injection_not_supported" }
    public var message: String {
        let clientBugs = InjectedBug.allCases.filter { !$0.breaksTheLedger }.map(\.rawValue).joined(separator: ", ")
        return "--inject \(bug.rawValue) breaks a rule inside the SQLite ledger, which the PostgreSQL store has no switch for; with a postgres:// --ledger, inject one of the metered client's bugs: \(clientBugs)."
    }
}

import Foundation
import Logging
import VideoMeter
import VideoMeterLedger
import VideoMeterLedgerPostgres

/// Opens the ledger a ``LedgerAddress`` names as the contract (``LedgerStore``): the SQLite
/// ``Ledger`` for a file, the ``PostgresLedger`` for a postgres URL. The one place that knows both
/// stores; the CLI and the gateway see only `any LedgerStore`.
public enum LedgerStores {
    /// Opens (creating and migrating when needed) the ledger at `address`.
    ///
    /// - Throws: a SQLite error for a file that cannot be opened; ``PostgresLedgerError`` for a
    ///   database that cannot be reached (`ledger_unavailable`, fast), refuses the credentials
    ///   (`ledger_authentication_failed`) or was written by a newer binary (`ledger_schema_newer`,
    ///   nothing written).
    public static func open(
        _ address: LedgerAddress, clock: any WallClock, logger: Logger = Logger(label: "videometer.ledger")
    ) async throws -> any LedgerStore {
        switch address {
        case .file(let path):
            return try Ledger(path: path, clock: clock, logger: logger)
        case .postgres(let configuration):
            return try await PostgresLedger.open(configuration, clock: clock, logger: logger)
        }
    }

    /// Opens a ledger that must exist already: a file path that names no file is `no_ledger` (a
    /// mistyped path does not become a new, empty ledger); a PostgreSQL database is opened as it is.
    public static func openExisting(
        _ address: LedgerAddress, clock: any WallClock, logger: Logger = Logger(label: "videometer.ledger")
    ) async throws -> any LedgerStore {
        if case .file(let path) = address, !FileManager.default.fileExists(atPath: path) { throw NoLedgerError(path: path) }
        return try await open(address, clock: clock, logger: logger)
    }

    /// Ends what `store` holds open (a PostgreSQL pool, after answering what is queued); nothing
    /// for a SQLite file.
    public static func close(_ store: any LedgerStore) async {
        if let postgres = store as? PostgresLedger { await postgres.close() }
    }
}

/// The ledger file a command needs does not exist.
public struct NoLedgerError: CodedError {
    public let path: String
    public init(path: String) { self.path = path }
    public var code: String { "no_ledger" }
    public var message: String {
        "There is no ledger at \(path). Create one with `videometer team create NAME`, or point --db (or VIDEOMETER_DB) at an existing file or a PostgreSQL URL."
    }
}

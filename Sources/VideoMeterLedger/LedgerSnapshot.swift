import Foundation
import GRDB
import VideoMeter

/// A ledger file opened read-only, for commands that must not write to it (`videometer reprice`).
/// It never migrates: a ledger whose schema is older than this binary is refused
/// (`ledger_not_migrated`; any writing command migrates it), as is one written by a newer binary.
/// It answers the reports' facet of the contract (``LedgerReporting``) with the SQLite store's queries.
public struct LedgerSnapshot: Sendable {
    let reader: DatabaseQueue

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "videometer.ledger.readonly"
        reader = try DatabaseQueue(path: path, configuration: configuration)
        let (complete, newer) = try reader.read { db in
            let known = Set(LedgerSchema.migrator.migrations)
            let applied = try LedgerSchema.migrator.appliedIdentifiers(db)
            return (known.isSubset(of: applied), !applied.isSubset(of: known))
        }
        if newer { throw LedgerSnapshotError.newerSchema(path: path) }
        if !complete { throw LedgerSnapshotError.notMigrated(path: path) }
    }
}

/// Why a ledger cannot be opened read-only.
public struct LedgerSnapshotError: CodedError, Equatable {
    public let code: String
    public let message: String

    static func notMigrated(path: String) -> Self {
        Self(code: "ledger_not_migrated", message: """
            The ledger at \(path) was written by an older videometer and is not migrated yet; this command only reads. \
            Run any command that writes to it first (for example `videometer ledger verify`), then try again.
            """)
    }

    static func newerSchema(path: String) -> Self {
        Self(code: "ledger_newer_than_binary", message: """
            The ledger at \(path) was written by a newer videometer than this one; upgrade videometer to read it.
            """)
    }
}

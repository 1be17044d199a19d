import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterStores

/// `--db PATH|URL`: which ledger a command uses, shared by every command that reads or writes it.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp(
        "The ledger: a SQLite file (default ./videometer.sqlite; `team create` and `serve` create it) or a PostgreSQL database postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require] (default prefer; also VIDEOMETER_DB).",
        valueName: "PATH|URL"))
    var path: String?

    /// Where the ledger is after applying the flag, the environment and the default.
    func address() throws -> LedgerAddress {
        try LedgerAddress.resolve(flag: path, environment: ProcessInfo.processInfo.environment)
    }

    /// The store for messages (`SQLite file …` or `PostgreSQL database … on host:port as user`),
    /// never a password.
    var storeDescription: String {
        (try? address().description) ?? LedgerLocation.redacted(LedgerLocation.resolve(flag: path, environment: ProcessInfo.processInfo.environment))
    }

    /// Opens (creating and migrating if needed) the ledger: for commands that start one.
    func open() async throws -> any LedgerStore {
        try await LedgerStores.open(try address(), clock: ProcessClock.shared)
    }

    /// Opens a ledger that must exist already: a mistyped file path is an error (`no_ledger`), not a
    /// new empty ledger that reports nothing wrong.
    func openExisting() async throws -> any LedgerStore {
        try await LedgerStores.openExisting(try address(), clock: ProcessClock.shared)
    }

    /// The ledger a read-only command reads (`reprice`): a SQLite file is opened read-only and never
    /// migrated (``LedgerSnapshot``); a PostgreSQL ledger is opened as every command opens it, and
    /// read in one read-only transaction.
    func openForReading() async throws -> any LedgerReporting {
        switch try address() {
        case .file(let path):
            guard FileManager.default.fileExists(atPath: path) else { throw NoLedgerError(path: path) }
            return try LedgerSnapshot(path: path)
        case .postgres:
            return try await openExisting()
        }
    }
}

/// Parses a dollar amount typed by a user into micro-dollars, refusing negatives and garbage.
func parseUSD(_ text: String, option: String, allowZero: Bool = true) throws -> MicroUSD {
    guard let micro = Money.parseMicro(text) else {
        throw ValidationError("\(option) '\(text)' is not a dollar amount such as 12.50 (at most 6 decimals).")
    }
    guard micro >= 0 else { throw ValidationError("\(option) cannot be negative (got \(text)).") }
    guard allowZero || micro > 0 else { throw ValidationError("\(option) must be more than 0.") }
    guard micro <= Ledger.maximumMicro else {
        throw ValidationError("\(option) cannot be more than \(Money.format(micro: Ledger.maximumMicro)) USD.")
    }
    return micro
}

/// Formats milliseconds since 1970 as ISO 8601 in UTC.
func isoTimestamp(_ milliseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000))
}

/// Formats milliseconds since 1970 as ISO 8601 with the offset of `zone`.
func isoTimestamp(_ milliseconds: Int64, zone: String) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000))
}

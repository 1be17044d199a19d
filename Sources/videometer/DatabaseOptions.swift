import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger

/// `--db PATH`: which ledger file a command uses, shared by every command that reads or writes it.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp(
        "The ledger's SQLite file (also VIDEOMETER_DB; default ./videometer.sqlite); `team create` and `serve` create it.",
        valueName: "PATH"))
    var path: String?

    /// The path after applying the flag, the environment and the default (for messages).
    var resolvedPath: String {
        LedgerLocation.redacted(LedgerLocation.resolve(flag: path, environment: ProcessInfo.processInfo.environment))
    }

    /// The ledger file; a URL or anything shaped like one is `unsupported_database`.
    func file() throws -> String {
        do {
            return try LedgerLocation.resolveFile(flag: path, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw UnsupportedDatabaseError(underlying: error)
        }
    }

    /// Opens (creating and migrating if needed) the ledger: for commands that start one.
    func open() throws -> Ledger {
        try Ledger(path: try file(), clock: ProcessClock.shared)
    }

    /// Opens a ledger that must exist already: a mistyped path is an error (`no_ledger`), not a new
    /// empty ledger that reports nothing wrong.
    func openExisting() throws -> Ledger {
        let path = try file()
        guard FileManager.default.fileExists(atPath: path) else { throw NoLedgerError(path: path) }
        return try Ledger(path: path, clock: ProcessClock.shared)
    }
}

extension DatabaseOptions {
    /// Opens an existing ledger read-only, without migrating it: for commands that must not write.
    func openSnapshot() throws -> LedgerSnapshot {
        let path = try file()
        guard FileManager.default.fileExists(atPath: path) else { throw NoLedgerError(path: path) }
        return try LedgerSnapshot(path: path)
    }
}

/// `--db` or `VIDEOMETER_DB` is a URL, not a file.
struct UnsupportedDatabaseError: CodedError {
    let underlying: LedgerLocationError
    var code: String { underlying.code }
    var message: String { underlying.message }
}

/// The ledger file a command needs does not exist.
struct NoLedgerError: CodedError {
    let path: String
    var code: String { "no_ledger" }
    var message: String {
        "There is no ledger at \(path). Create one with `videometer team create NAME`, or point --db (or VIDEOMETER_DB) at an existing file."
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

import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterLedgerPostgres

/// Where a ledger is, as `--db` / `VIDEOMETER_DB` name it: a SQLite file path, or a PostgreSQL
/// database `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`
/// (`postgresql://` too).
///
/// Anything else shaped like a URL (`mysql://…`, `postgres:/typo`, a postgres URL without a
/// database or with an unknown `sslmode`) is refused before anything is opened or created, with
/// an error that names what is accepted and never the password.
public enum LedgerAddress: Sendable, CustomStringConvertible {
    /// A SQLite file (created and migrated on first use).
    case file(String)
    /// A PostgreSQL database, shared by every process pointed at it.
    case postgres(PostgresLedger.Configuration)

    /// Reads `--db` (else `VIDEOMETER_DB`, else `./videometer.sqlite`; an empty value counts as absent).
    public static func resolve(flag: String?, environment: [String: String]) throws(LedgerAddressError) -> LedgerAddress {
        try parse(LedgerLocation.resolve(flag: flag, environment: environment))
    }

    /// Reads one location: a postgres URL, or a file path; anything else URL-shaped is an error.
    public static func parse(_ text: String) throws(LedgerAddressError) -> LedgerAddress {
        let scheme = text.firstIndex(of: ":").map { text[..<$0].lowercased() }
        if scheme == "postgres" || scheme == "postgresql" {
            do {
                return .postgres(try PostgresLedger.Configuration(url: text))
            } catch {
                throw .invalidURL(text, detail: error.invalidURLDetail ?? error.message)
            }
        }
        if LedgerLocation.looksLikeURL(text) { throw .unsupported(text) }
        return .file(text)
    }

    /// The store for people, without a password: `SQLite file ./videometer.sqlite` or
    /// `PostgreSQL database videometer on db.internal:5432 as meter`.
    public var description: String {
        switch self {
        case .file(let path):
            "SQLite file \(path)"
        case .postgres(let configuration):
            "PostgreSQL database \(configuration.database) on \(configuration.host):\(configuration.port) as \(configuration.username)"
        }
    }

    /// Whether this is a PostgreSQL database.
    public var isPostgres: Bool {
        if case .postgres = self { return true }
        return false
    }
}

/// `--db` or `VIDEOMETER_DB` names no ledger this build can open; nothing was opened or created.
public struct LedgerAddressError: CodedError, Equatable {
    private enum Kind: Equatable {
        case unsupported(String)
        case invalidURL(String, detail: String)
    }

    private let kind: Kind

    /// A URL of another kind (`mysql://…`) or something shaped like one (`sqlite:…`).
    public static func unsupported(_ location: String) -> Self { Self(kind: .unsupported(location)) }
    /// A postgres URL that cannot be read (no database, no user, unknown `sslmode`…).
    public static func invalidURL(_ location: String, detail: String) -> Self { Self(kind: .invalidURL(location, detail: detail)) }

    static let accepted = "--db (or VIDEOMETER_DB) takes a SQLite file path such as ./videometer.sqlite, or postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require] (postgresql:// too)."

    public var code: String {
        switch kind {
        case .unsupported: "unsupported_database"
        case .invalidURL: "invalid_database_url"
        }
    }

    public var message: String {
        switch kind {
        case .unsupported(let location):
            "'\(LedgerLocation.redacted(location).prefix(200))' is neither a file path nor a PostgreSQL URL. \(Self.accepted)"
        case .invalidURL(let location, let detail):
            "'\(LedgerLocation.redacted(location).prefix(200))' is not a usable PostgreSQL URL: \(detail) \(Self.accepted)"
        }
    }
}

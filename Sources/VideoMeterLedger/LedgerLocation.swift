import Foundation

/// Where the ledger is: `--db`, else `VIDEOMETER_DB`, else `./videometer.sqlite` (a file path or a
/// database URL; `VideoMeterStores`' `LedgerAddress` reads which).
public enum LedgerLocation {
    /// The file used when neither the flag nor the environment names one.
    public static let defaultPath = "./videometer.sqlite"
    /// The environment variable consulted when no flag is given.
    public static let environmentVariable = "VIDEOMETER_DB"

    /// Resolves the database path; an empty flag or variable counts as absent.
    public static func resolve(flag: String?, environment: [String: String]) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let path = environment[environmentVariable], !path.isEmpty { return path }
        return defaultPath
    }

    /// For commands that run on a SQLite file only (the simulator): resolves the database path and
    /// refuses what is not a file path: a URL (`postgres://…`,
    /// `mysql://…`) or anything that starts like one (`postgres:/typo`), which would otherwise
    /// become a directory named `postgres:` holding a new, empty ledger.
    ///
    /// - Throws: ``LedgerLocationError`` `unsupported_database`; nothing is created.
    public static func resolveFile(flag: String?, environment: [String: String]) throws(LedgerLocationError) -> String {
        let location = resolve(flag: flag, environment: environment)
        if looksLikeURL(location) { throw LedgerLocationError(location: location) }
        return location
    }

    /// Database URL schemes people type, and any `scheme://`.
    static let schemes = ["postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "file", "http", "https", "jdbc", "redis", "mongodb"]

    /// Whether `text` is a URL (`scheme://…`) or starts like a database URL people type (`postgres:/typo`).
    public static func looksLikeURL(_ text: String) -> Bool {
        if text.contains("://") { return true }
        guard let colon = text.firstIndex(of: ":") else { return false }
        return schemes.contains(text[..<colon].lowercased())
    }

    /// `text` with anything that may be a password removed, for messages: in a URL-shaped value,
    /// the user information (up to the last `@` before the host, whatever it contains) and the
    /// query string are replaced; a plain file path is returned as it is.
    public static func redacted(_ text: String) -> String {
        guard looksLikeURL(text) else { return text }
        guard let colon = text.firstIndex(of: ":") else { return text }
        let scheme = text[..<colon]
        var rest = text[text.index(after: colon)...]
        var slashes = ""
        while rest.hasPrefix("/") { slashes += "/"; rest = rest.dropFirst() }
        // The authority ends at the first `/`, `?` or `#`; a password may hold `@`: the last one counts.
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = "[redacted]@" + authority[authority.index(after: at)...] }
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<query] + "?[redacted]" }
        return "\(scheme):\(slashes)\(authority)\(path)"
    }
}

/// A command that keeps its ledger in a SQLite file only (the simulator's `--ledger`) was given a URL.
public struct LedgerLocationError: Error, Equatable, CustomStringConvertible {
    public let location: String
    public var code: String { "unsupported_database" }
    public var message: String {
        "'\(LedgerLocation.redacted(location).prefix(200))' is not a file path. This command keeps its ledger in a SQLite file: give it a path such as ./ledger.sqlite; nothing was created."
    }
    public var description: String { "\(code): \(message)" }
}

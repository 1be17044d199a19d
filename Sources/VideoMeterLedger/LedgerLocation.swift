/// Where the ledger's SQLite file lives: `--db PATH`, else `VIDEOMETER_DB`, else `./videometer.sqlite`.
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
}

import PostgresNIO
import VideoMeter

/// Why a PostgreSQL ledger could not be opened or reached: a short stable code and a sentence, never
/// a password.
public struct PostgresLedgerError: CodedError, Equatable {
    private enum Kind: Equatable {
        case invalidURL(String)
        case unavailable(String)
        case authenticationFailed(String)
        case schemaNewer([String])
        case synchronousCommitOff(String)
    }

    private let kind: Kind

    /// The URL is not `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
    public static func invalidURL(_ detail: String) -> Self { Self(kind: .invalidURL(detail)) }
    /// The server could not be reached (refused, timed out, closed) or the database does not exist.
    public static func unavailable(_ detail: String) -> Self { Self(kind: .unavailable(detail)) }
    /// The server refused the user name or password.
    public static func authenticationFailed(_ detail: String) -> Self { Self(kind: .authenticationFailed(detail)) }
    /// The database holds migrations this binary does not know: it was written by a newer one.
    public static func schemaNewer(_ identifiers: [String]) -> Self { Self(kind: .schemaNewer(identifiers)) }
    /// The server acknowledges commits before they are durable.
    public static func synchronousCommitOff(_ setting: String) -> Self { Self(kind: .synchronousCommitOff(setting)) }

    /// What is wrong with an unusable URL (`invalid_database_url`), without the example the message
    /// adds: for callers that list the accepted forms themselves. Nil for the other codes.
    public var invalidURLDetail: String? {
        if case .invalidURL(let detail) = kind { return detail }
        return nil
    }

    public var code: String {
        switch kind {
        case .invalidURL: "invalid_database_url"
        case .unavailable: "ledger_unavailable"
        case .authenticationFailed: "ledger_authentication_failed"
        case .schemaNewer: "ledger_schema_newer"
        case .synchronousCommitOff: "ledger_not_durable"
        }
    }

    public var message: String {
        switch kind {
        case .invalidURL(let detail):
            "\(detail) Give a URL such as postgres://user:password@host:5432/videometer."
        case .unavailable(let detail):
            "The PostgreSQL ledger cannot be reached: \(detail)"
        case .authenticationFailed(let detail):
            "PostgreSQL refused the credentials: \(detail)"
        case .schemaNewer(let identifiers):
            "The ledger database has migrations this videometer does not know (\(identifiers.joined(separator: ", "))): it was written by a newer version. Upgrade videometer; nothing was changed."
        case .synchronousCommitOff(let setting):
            "The server runs with synchronous_commit = \(setting): an acknowledged charge could be lost in a crash. Set it to on."
        }
    }

    /// The ledger's reading of a driver error: unreachable and refused credentials get their own
    /// codes; a server error keeps its SQLSTATE and message.
    static func from(_ error: any Error) -> any Error {
        if error is PostgresLedgerError { return error }
        if let psql = error as? PSQLError {
            if let state = psql.serverInfo?[.sqlState] {
                let message = psql.serverInfo?[.message] ?? ""
                switch state {
                case "28P01", "28000": return authenticationFailed("\(message) (SQLSTATE \(state)).")
                case "3D000", "57P01", "57P02", "57P03", "53300": return unavailable("\(message) (SQLSTATE \(state)).")
                default: return error
                }
            }
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                let underlying = psql.underlying.map { "\($0)" } ?? "\(psql.code)"
                return unavailable("\(underlying).")
            default:
                return error
            }
        }
        if error is ChannelError || error is IOError || error is NIOConnectionError {
            return unavailable("\(error).")
        }
        return error
    }
}

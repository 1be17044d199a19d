import Foundation
import PostgresNIO

extension PostgresLedger {
    /// Where the PostgreSQL ledger is and how to reach it.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        /// `disable`, `prefer` (TLS when the server offers it; the default, as libpq's) or `require`.
        public var tls: TLSMode
        /// How long opening a connection may take before the ledger reports `ledger_unavailable`.
        public var connectTimeout: Duration
        /// The pool's size: the group committer uses one connection, reads the others.
        public var maximumConnections: Int
        /// The most write operations one transaction carries (1: one operation per transaction,
        /// the benchmark's baseline).
        public var maximumBatch: Int = 512
        /// How long an operation waits for a pooled connection before it fails with
        /// `ledger_unavailable` (the server down or unreachable): the gateway fails closed fast.
        public var leaseTimeout: Duration = .seconds(2)

        public enum TLSMode: String, Sendable { case disable, prefer, require }

        public init(
            host: String, port: Int = 5432, username: String, password: String?, database: String, tls: TLSMode = .prefer,
            connectTimeout: Duration = .seconds(10), maximumConnections: Int = 8
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tls = tls
            self.connectTimeout = connectTimeout
            self.maximumConnections = maximumConnections
        }

        /// Reads `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`
        /// (`postgresql://` too); percent-escapes in the user and password are decoded.
        public init(url text: String) throws(PostgresLedgerError) {
            guard let components = URLComponents(string: text),
                  let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
            else { throw .invalidURL("'\(Self.redacted(text))' is not a postgres:// URL.") }
            guard let host = components.host, !host.isEmpty else { throw .invalidURL("The URL names no host.") }
            guard let user = components.user, !user.isEmpty else { throw .invalidURL("The URL names no user.") }
            let database = String(components.path.drop(while: { $0 == "/" }))
            guard !database.isEmpty, !database.contains("/") else { throw .invalidURL("The URL names no database (…/videometer).") }
            var tls = TLSMode.prefer
            for item in components.queryItems ?? [] {
                switch item.name {
                case "sslmode":
                    switch item.value ?? "" {
                    case "disable": tls = .disable
                    case "allow", "prefer": tls = .prefer
                    case "require", "verify-ca", "verify-full": tls = .require
                    default: throw .invalidURL("sslmode '\(item.value ?? "")' is not disable, prefer or require.")
                    }
                default:
                    throw .invalidURL("The URL parameter '\(item.name)' is not supported (only sslmode).")
                }
            }
            guard (1...65535).contains(components.port ?? 5432) else { throw .invalidURL("The port is not between 1 and 65535.") }
            self.init(
                host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
                password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database, tls: tls)
        }

        /// The URL with its password and query replaced, for messages.
        static func redacted(_ text: String) -> String {
            guard var components = URLComponents(string: text) else { return "(unreadable URL)" }
            if components.password != nil { components.password = "[redacted]" }
            return components.string ?? "(unreadable URL)"
        }

        var clientTLS: PostgresClient.Configuration.TLS {
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        }

        /// Every connection asks for durable commits, whatever the server's default.
        static let startupParameters = [("synchronous_commit", "on"), ("application_name", "videometer")]

        var client: PostgresClient.Configuration {
            var configuration = PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
            configuration.options.connectTimeout = connectTimeout
            configuration.options.maximumConnections = maximumConnections
            configuration.options.additionalStartupParameters = Self.startupParameters
            return configuration
        }

        func connection() throws -> PostgresConnection.Configuration {
            let connectionTLS: PostgresConnection.Configuration.TLS
            switch tls {
            case .disable: connectionTLS = .disable
            case .prefer: connectionTLS = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: connectionTLS = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            var configuration = PostgresConnection.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: connectionTLS)
            let (seconds, attoseconds) = connectTimeout.components
            configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            configuration.options.additionalStartupParameters = Self.startupParameters
            return configuration
        }
    }
}

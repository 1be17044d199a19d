import Foundation
import Testing
import VideoMeterLedgerPostgres
import VideoMeterTesting

/// The CLI on a PostgreSQL ledger (`--db postgres://…` or `VIDEOMETER_DB`): the same commands,
/// nothing written to the working directory, and every bad address a clear error that creates
/// nothing and never shows the password.
@Suite struct PostgresCommandTests {
    static func url(_ configuration: PostgresLedger.Configuration, password: String? = nil, database: String? = nil) -> String {
        "postgres://\(configuration.username):\(password ?? configuration.password ?? "")@\(configuration.host):\(configuration.port)/\(database ?? configuration.database)?sslmode=disable"
    }

    static func emptyDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-pg-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func contents(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
    }

    @Test func teamsBudgetsAndKeysLiveInPostgreSQLAndNoFileAppears() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = Self.url(configuration)
        let directory = try Self.emptyDirectory()
        let environment = ["VIDEOMETER_DB": url]
        func run(_ arguments: [String]) async throws -> CLI.Result {
            let result = try await CLI.run(arguments, environment: environment, in: directory)
            #expect(!result.stdout.contains(PostgresTestServer.password) && !result.stderr.contains(PostgresTestServer.password))
            return result
        }

        var result = try await run(["team", "create", "acme"])
        #expect(result.status == 0, "\(result.stderr)")
        result = try await run(["budget", "set", "--team", "acme", "--monthly", "25.50", "--daily", "5"])
        #expect(result.status == 0, "\(result.stderr)")
        result = try await run(["budget", "show", "--team", "acme", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((status["monthly"] as? [String: Any])?["limit"] as? String == "25.500000")
        #expect(status["available"] as? String == "5.000000")

        result = try await run(["keys", "create", "--team", "acme", "--name", "ci"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("vmk_"))
        result = try await run(["keys", "list"])
        #expect(result.status == 0 && result.stdout.contains("ci") && result.stdout.contains("acme"), "\(result.stdout)")
        result = try await run(["keys", "revoke", "ci"])
        #expect(result.status == 0, "\(result.stderr)")
        result = try await run(["ledger", "verify"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The flag names the same database as the variable did.
        result = try await CLI.run(["team", "list", "--db", url], in: directory)
        #expect(result.status == 0 && result.stdout.contains("acme"), "\(result.stderr)")

        // The report and reprice read the same database through the contract.
        result = try await run(["report", "--month", TestClock.month, "--format", "csv"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("month,team,time_zone,"), "\(result.stdout)")
        result = try await run(["reprice", "--month", TestClock.month, "--at", "2026-11-01T00:00:00Z", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"repriced\" : \"0.000000\"") || result.stdout.contains("\"repriced\":\"0.000000\""), "\(result.stdout)")
        // --help shows the forms the option takes, never the configured value.
        result = try await run(["serve", "--help"])
        #expect(result.status == 0 && result.stdout.contains("postgres://user[:password]@host[:port]/database"), "\(result.stdout)")
        #expect(try Self.contents(directory) == [])
    }

    @Test(arguments: [
        ("mysql://meter:secret-pw@db.internal/ledger", "unsupported_database"),
        ("sqlite:ledger.sqlite", "unsupported_database"),
        ("postgres:/typo", "invalid_database_url"),
        ("postgres://meter:secret-pw@db.internal", "invalid_database_url"),
        ("postgresql://meter:secret-pw@db.internal:5432/", "invalid_database_url"),
        ("postgres://meter:secret-pw@db.internal/ledger?sslmode=sometimes", "invalid_database_url"),
        ("postgres://meter:secret-pw@db.internal/ledger?application=x", "invalid_database_url"),
    ])
    func aBadAddressIsRefusedNamingWhatIsAcceptedAndCreatesNothing(_ address: String, _ code: String) async throws {
        let directory = try Self.emptyDirectory()
        for arguments in [["team", "create", "acme", "--db", address], ["budget", "show", "--team", "acme", "--db", address]] {
            let result = try await CLI.run(arguments, in: directory)
            #expect(result.status != 0)
            #expect(result.stderr.contains(code), "\(result.stderr)")
            #expect(result.stderr.contains("postgres://user[:password]@host[:port]/database"), "\(result.stderr)")
            #expect(!result.stderr.contains("secret-pw") && !result.stdout.contains("secret-pw"))
        }
        let serve = try await CLI.run(["serve", "--port", "0"], environment: ["VIDEOMETER_DB": address], in: directory)
        #expect(serve.status != 0)
        #expect(serve.stderr.contains(code), "\(serve.stderr)")
        #expect(!serve.stderr.contains("secret-pw"))
        #expect(try Self.contents(directory) == [])
    }

    @Test func aWrongPasswordAnUnreachableServerAndANewerSchemaAreClearErrors() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let directory = try Self.emptyDirectory()

        var result = try await CLI.run(["team", "create", "acme", "--db", Self.url(configuration, password: "wrong-pw-123")], in: directory)
        #expect(result.status != 0)
        #expect(result.stderr.contains("ledger_authentication_failed"), "\(result.stderr)")
        #expect(!result.stderr.contains("wrong-pw-123"))

        let closed = try PostgresTestServer.freePort()
        var unreachable = configuration
        unreachable.port = closed
        let started = ContinuousClock.now
        result = try await CLI.run(["team", "list", "--db", Self.url(unreachable)], in: directory)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(result.status != 0)
        #expect(result.stderr.contains("ledger_unavailable"), "\(result.stderr)")
        #expect(!result.stderr.contains(PostgresTestServer.password))

        let url = Self.url(configuration)
        #expect(try await CLI.run(["team", "create", "acme", "--db", url], in: directory).status == 0)
        try await PostgresTestServer.execute(
            "INSERT INTO ledgerMigration (identifier, appliedAt) VALUES ('pg-v99-from-the-future', 0)", on: configuration)
        result = try await CLI.run(["team", "create", "beta", "--db", url], in: directory)
        #expect(result.status != 0)
        #expect(result.stderr.contains("ledger_schema_newer"), "\(result.stderr)")
        // Nothing was written: once the future migration is gone, only acme is there.
        try await PostgresTestServer.execute("DELETE FROM ledgerMigration WHERE identifier = 'pg-v99-from-the-future'", on: configuration)
        result = try await CLI.run(["team", "list", "--db", url], in: directory)
        #expect(result.status == 0 && result.stdout.contains("acme") && !result.stdout.contains("beta"), "\(result.stdout)")
        #expect(try Self.contents(directory) == [])
    }

    @Test func serveNamesItsPostgreSQLStoreWithoutThePassword() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let directory = try Self.emptyDirectory()
        let log = directory.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--port", "0"]
        process.environment = VideometerProcess.environment(["VIDEOMETER_DB": Self.url(configuration)])
        process.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try VideometerProcess.launch(process)
        var text = ""
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if text.contains("listening") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        process.waitUntilExit()
        try handle.close()
        #expect(text.contains("ledger: PostgreSQL database \(configuration.database) on \(configuration.host):\(configuration.port) as postgres"), "\(text)")
        #expect(!text.contains(PostgresTestServer.password))
        #expect(try Self.contents(directory) == ["serve.log"])
    }
}

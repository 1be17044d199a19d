import Foundation
import Testing
import VideoMeterLedgerPostgres
import VideoMeterTesting

/// `videometer ledger copy`: a ledger moved from a SQLite file to PostgreSQL and back verifies and
/// reports the same, to the micro-dollar; a copy onto a ledger, onto itself or to a bad address is
/// refused and changes nothing.
@Suite struct LedgerCopyCommandTests {
    @Test func sqliteToPostgresAndBackReportsTheSameToTheMicroDollar() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = PostgresCommandTests.url(configuration)
        let directory = try PostgresCommandTests.emptyDirectory()
        let original = directory.appendingPathComponent("original.sqlite").path
        let back = directory.appendingPathComponent("back.sqlite").path
        func run(_ arguments: [String]) async throws -> CLI.Result {
            let result = try await CLI.run(arguments, in: directory)
            #expect(!result.stdout.contains(PostgresTestServer.password) && !result.stderr.contains(PostgresTestServer.password))
            return result
        }

        #expect(try await run(["team", "create", "acme", "--db", original]).status == 0)
        #expect(try await run(["team", "create", "tokyo", "--timezone", "Asia/Tokyo", "--db", original]).status == 0)
        #expect(try await run(["budget", "set", "--team", "acme", "--monthly", "100", "--db", original]).status == 0)
        #expect(try await run(["budget", "set", "--team", "tokyo", "--monthly", "50", "--daily", "20", "--db", original]).status == 0)
        #expect(try await run(["keys", "create", "--team", "acme", "--name", "ci", "--db", original]).status == 0)
        var result = try await run([
            "ledger", "exercise", "--team", "acme", "--count", "12", "--amount", "0.35", "--concurrency", "3", "--key-prefix", "a", "--db", original,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        result = try await run([
            "ledger", "exercise", "--team", "tokyo", "--count", "5", "--amount", "1.10", "--concurrency", "1", "--key-prefix", "t", "--db", original,
        ])
        #expect(result.status == 0, "\(result.stderr)")

        result = try await run(["ledger", "copy", "--from", original, "--to", url, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        // 12 x 0.35 + 5 x 1.10, posted in full.
        #expect(summary["posted_total"] as? String == "9.700000")
        #expect(summary["holds"] as? Int == 17)
        #expect(summary["consistent"] as? Bool == true)
        #expect((summary["rows"] as? [String: Int])?["apiKey"] == 1)

        result = try await run(["ledger", "copy", "--from", url, "--to", back])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("9.700000 USD posted; both ledgers verify and agree"), "\(result.stdout)")

        var reports: [String] = []
        for ledger in [original, url, back] {
            let report = try await run(["report", "--month", TestClock.month, "--format", "csv", "--db", ledger])
            #expect(report.status == 0, "\(report.stderr)")
            reports.append(report.stdout)
        }
        #expect(reports[0].contains("acme") && reports[0].contains("tokyo"))
        #expect(reports[1] == reports[0])
        #expect(reports[2] == reports[0])
        for ledger in [url, back] {
            let status = try await run(["budget", "show", "--team", "tokyo", "--json", "--db", ledger])
            #expect(status.status == 0 && status.stdout.contains("\"posted\" : \"5.500000\""), "\(status.stdout)")
        }
        // The copy keeps the key: it authenticates against the copy as against the original.
        let keys = try await run(["keys", "list", "--db", back])
        #expect(keys.status == 0 && keys.stdout.contains("ci"), "\(keys.stdout)")
    }

    @Test func aCopyOntoALedgerOntoItselfOrToABadAddressIsRefusedAndChangesNothing() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let url = PostgresCommandTests.url(configuration)
        let directory = try PostgresCommandTests.emptyDirectory()
        let source = directory.appendingPathComponent("source.sqlite").path
        #expect(try await CLI.run(["team", "create", "acme", "--db", source], in: directory).status == 0)
        #expect(try await CLI.run(["team", "create", "other", "--db", url], in: directory).status == 0)

        var result = try await CLI.run(["ledger", "copy", "--from", source, "--to", url], in: directory)
        #expect(result.status == 1)
        #expect(result.stderr.contains("ledger_copy_target_not_empty"), "\(result.stderr)")
        var teams = try await CLI.run(["team", "list", "--db", url], in: directory)
        #expect(teams.stdout.contains("other") && !teams.stdout.contains("acme"), "\(teams.stdout)")

        result = try await CLI.run(["ledger", "copy", "--from", source, "--to", url, "--replace"], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        teams = try await CLI.run(["team", "list", "--db", url], in: directory)
        #expect(teams.stdout.contains("acme") && !teams.stdout.contains("other"), "\(teams.stdout)")

        result = try await CLI.run(["ledger", "copy", "--from", source, "--to", source], in: directory)
        #expect(result.status == 1 && result.stderr.contains("ledger_copy_same_store"), "\(result.stderr)")
        // Written otherwise, the same file or database is still the same store.
        let link = directory.appendingPathComponent("link.sqlite").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: source)
        for (from, to) in [(source, "./source.sqlite"), (source, link), (url, "postgres://someone-else@\(configuration.host.uppercased()):\(configuration.port)/\(configuration.database)?sslmode=disable")] {
            result = try await CLI.run(["ledger", "copy", "--from", from, "--to", to, "--replace"], in: directory)
            #expect(result.status == 1 && result.stderr.contains("ledger_copy_same_store"), "\(from) -> \(to): \(result.stderr)")
        }
        try FileManager.default.removeItem(atPath: link)

        let before = try PostgresCommandTests.contents(directory)
        result = try await CLI.run(["ledger", "copy", "--from", source, "--to", "mysql://meter:secret-pw@db.internal/ledger"], in: directory)
        #expect(result.status == 1 && result.stderr.contains("unsupported_database") && !result.stderr.contains("secret-pw"), "\(result.stderr)")
        result = try await CLI.run(["ledger", "copy", "--from", directory.appendingPathComponent("missing.sqlite").path, "--to", url], in: directory)
        #expect(result.status == 1 && result.stderr.contains("no_ledger"), "\(result.stderr)")
        // Refusals create nothing.
        #expect(try PostgresCommandTests.contents(directory).sorted() == before.sorted())
    }
}

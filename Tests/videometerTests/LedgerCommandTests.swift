import Foundation
import GRDB
import Testing
import VideoMeterLedger

/// `team`, `budget`, `ledger` and `keys`, run as a user would against a real ledger file.
@Suite("Ledger commands, run as a user would")
struct LedgerCommandTests {
    /// A fresh directory whose `ledger.sqlite` the commands use.
    struct Workspace {
        let directory: URL
        var db: String { directory.appendingPathComponent("ledger.sqlite").path }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-ledger-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        func run(_ arguments: [String]) async throws -> CLI.Result {
            try await CLI.run(arguments + ["--db", db], in: directory)
        }

        func json(_ arguments: [String]) async throws -> Any {
            let result = try await run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        }
    }

    @Test(arguments: [
        ["ledger", "verify"], ["ledger", "holds"], ["ledger", "expire"], ["budget", "show", "--team", "x"], ["team", "list"],
        ["keys", "list"], ["keys", "create", "--team", "x"], ["reconcile"], ["budget", "set", "--team", "x", "--monthly", "5"],
    ])
    func aMistypedLedgerPathIsAnErrorAndCreatesNothing(arguments: [String]) async throws {
        let workspace = try Workspace()
        let result = try await workspace.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: no_ledger: There is no ledger at \(workspace.db)."))
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).isEmpty)
    }

    @Test func budgetsHoldsExpiryAndVerifyWithExactAmounts() async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio", "--timezone", "Europe/Paris"]).status == 0)
        #expect(try await workspace.run(["budget", "set", "--team", "studio", "--monthly", "5", "--daily", "1"]).status == 0)
        let exercise = try await workspace.run(["ledger", "exercise", "--team", "studio", "--count", "5", "--amount", "0.25", "--hold-only"])
        // The daily limit fits four holds of 0.25; the fifth is refused by it.
        #expect(exercise.stdout.split(separator: "\n").filter { $0.hasPrefix("hold ") }.count == 4)
        #expect(exercise.stdout.contains("refused exercise-4 budget_exceeded daily"))

        let budget = try #require(try await workspace.json(["budget", "show", "--team", "studio", "--json"]) as? [String: Any])
        #expect(budget["time_zone"] as? String == "Europe/Paris")
        #expect(budget["available"] as? String == "0.000000")
        let monthly = try #require(budget["monthly"] as? [String: Any])
        #expect(monthly["pending"] as? String == "1.000000")
        #expect(monthly["available"] as? String == "4.000000")
        #expect(monthly["period_end"] as? String == "2026-12-01T00:00:00+01:00")

        let holds = try #require(try await workspace.json(["ledger", "holds", "--json"]) as? [[String: Any]])
        #expect(holds.map { $0["amount"] as? String } == Array(repeating: "0.250000", count: 4))
        #expect(holds.allSatisfy { $0["state"] as? String == "pending" && $0["team"] as? String == "studio" })

        // Nothing is due yet: expire releases nothing, and the ledger is consistent.
        let expire = try await workspace.run(["ledger", "expire"])
        #expect(expire.status == 0)
        #expect(expire.stdout.contains("0"))
        let verify = try await workspace.run(["ledger", "verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("ledger consistent"))
    }

    @Test(arguments: [
        (["budget", "set", "--team", "studio", "--monthly", "-5"], "--monthly cannot be negative"),
        (["budget", "set", "--team", "studio", "--monthly", "abc"], "--monthly 'abc' is not a dollar amount"),
        (["budget", "set", "--team", "studio", "--monthly", "5", "--daily", "1.0000001"], "--daily '1.0000001' is not a dollar amount"),
        (["budget", "set", "--team", "studio", "--monthly", "5", "--alerts", "50,50"], "must be distinct percentages"),
        (["team", "create", "other", "--timezone", "Mars/Base"], "is not an IANA time zone"),
    ])
    func badInputIsRefusedAndChangesNothing(arguments: [String], message: String) async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio"]).status == 0)
        #expect(try await workspace.run(["budget", "set", "--team", "studio", "--monthly", "10"]).status == 0)
        let before = try await workspace.run(["budget", "show", "--team", "studio", "--json"]).stdout
        let teamsBefore = try await workspace.run(["team", "list"]).stdout
        let result = try await workspace.run(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try await workspace.run(["budget", "show", "--team", "studio", "--json"]).stdout == before)
        #expect(try await workspace.run(["team", "list"]).stdout == teamsBefore)
    }

    @Test func anUnknownTeamIsNamed() async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio"]).status == 0)
        let result = try await workspace.run(["budget", "set", "--team", "stduio", "--monthly", "5"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: unknown_team: "))
        #expect(result.stderr.contains("stduio"))
    }

    @Test func keysAreShownOnceListedWithoutTheSecretAndRevokedByLabel() async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio"]).status == 0)
        let created = try await workspace.run(["keys", "create", "--team", "studio", "--name", "ci-bot"])
        #expect(created.status == 0)
        let key = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.hasPrefix("vmk_") && key.count == 47)
        #expect(created.stderr.contains("not shown again"))

        let listed = try await workspace.run(["keys", "list", "--json"])
        #expect(!listed.stdout.contains(key))
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(keys.count == 1)
        #expect(keys.first?["name"] as? String == "ci-bot")
        #expect(keys.first?["prefix"] as? String == String(key.prefix(12)))
        #expect(keys.first?["revoked_at"] == nil)

        #expect(try await workspace.run(["keys", "revoke", "ci-bot"]).status == 0)
        let revoked = try #require(try await workspace.json(["keys", "list", "--json"]) as? [[String: Any]])
        #expect(revoked.first?["revoked_at"] is String)
        let unknown = try await workspace.run(["keys", "revoke", "nobody"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.hasPrefix("error: unknown_key: "))
    }
    /// A ledger file a newer videometer has migrated is refused by every command, and left as it is.
    @Test func aLedgerMigratedByANewerVideometerIsRefusedAndLeftAsItWas() async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio"]).status == 0)
        let database = try DatabaseQueue(path: workspace.db)
        try await database.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-a-newer-videometer')")
        }
        try database.close()
        for arguments in [["team", "create", "other"], ["team", "list"], ["ledger", "verify"], ["budget", "show", "--team", "studio"]] {
            let result = try await workspace.run(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasPrefix("error: ledger_newer_than_binary: "), "\(arguments): \(result.stderr)")
        }
        let reopened = try DatabaseQueue(path: workspace.db)
        #expect(try await reopened.read { db in try String.fetchAll(db, sql: "SELECT name FROM team") } == ["studio"])
        try reopened.close()
    }

    @Test func verifyExitsNonZeroAndNamesEveryProblem() async throws {
        let workspace = try Workspace()
        #expect(try await workspace.run(["team", "create", "studio"]).status == 0)
        #expect(try await workspace.run(["budget", "set", "--team", "studio", "--monthly", "5"]).status == 0)
        #expect(try await workspace.run(["ledger", "exercise", "--team", "studio", "--count", "2", "--amount", "0.5"]).status == 0)
        #expect(try await workspace.run(["ledger", "verify"]).status == 0)
        // Someone edits the database behind the ledger's back.
        let database = try DatabaseQueue(path: workspace.db)
        try await database.write { db in
            try db.execute(sql: "UPDATE balance SET postedMicro = postedMicro + 1 WHERE scope = 'month'")
            try db.execute(sql: "UPDATE hold SET postedMicro = 0 WHERE id = 2")
        }
        try database.close()
        let result = try await workspace.run(["ledger", "verify"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("checked 4 journal entries, 2 holds, 2 usage events"))
        #expect(result.stderr.contains("problem: balance team 1 month"))
        #expect(result.stderr.contains("problem: hold 2: row says posted with 0.000000 USD posted, journal says posted with 0.500000 USD"))
        #expect(result.stderr.hasSuffix("error: ledger_inconsistent: 2 problem(s) found\n"))
    }
}

/// `--db` and `VIDEOMETER_DB` take a file path or a PostgreSQL URL; anything else URL-shaped, or a
/// postgres URL that cannot be used, is refused, creates nothing and never shows its password.
@Suite("A ledger location that is not a file")
struct LedgerLocationTests {
    @Test(arguments: [
        ("mysql://root:s3cret@db/ledger", "unsupported_database"), ("sqlite:ledger.sqlite", "unsupported_database"),
        ("postgresql://localhost/videometer", "invalid_database_url"), ("postgres:/typo", "invalid_database_url"),
        ("postgres://", "invalid_database_url"), ("postgres://videometer:s3cret@127.0.0.1:5432/", "invalid_database_url"),
    ])
    func aLocationThatIsNeitherAFileNorAUsablePostgresURLIsRefusedAndCreatesNothing(_ location: String, _ code: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-db-url-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (arguments, environment) in [(["team", "create", "acme"], ["VIDEOMETER_DB": location]), (["team", "create", "acme", "--db", location], [:])] {
            let result = try await CLI.run(arguments, environment: environment, in: directory)
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("error: \(code): "), "\(result.stderr)")
            #expect(!result.stderr.contains("s3cret"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "\(location) created something")
        }
    }
}

@Suite("Redacting a database URL")
struct RedactionTests {
    @Test(arguments: [
        ("postgres://videometer:s3cret@db.internal:5432/ledger", "postgres://[redacted]@db.internal:5432/ledger"),
        ("postgres://u:p@ss@host/db", "postgres://[redacted]@host/db"),
        ("postgresql://host/db?sslmode=require&password=s3cret", "postgresql://host/db?[redacted]"),
        ("postgres:u:s3cret@host", "postgres:[redacted]@host"),
        ("./ledger.sqlite", "./ledger.sqlite"),
    ])
    func noPasswordSurvives(_ input: String, _ expected: String) {
        #expect(LedgerLocation.redacted(input) == expected)
    }
}

import Foundation
import Testing
import VideoMeterTesting

/// The `videometer-sim` binary, run as a user runs it.
enum SimBinary {
    static let url: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("videometer-sim")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/videometer-sim")
    }()

    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await VideometerProcess.detached { try runHere(arguments) }
    }

    private static func runHere(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        // Through the suite's one launcher: Foundation's `Process.run()` has crashed on Linux when
        // tests launched children from several threads at once, in any test target.
        try VideometerProcess.launch(process)
        let stdout = readToEnd(out.fileHandleForReading)
        let stderr = readToEnd(err.fileHandleForReading)
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

@Suite("videometer-sim on the command line", .serialized)
struct SimulateCommandTests {
    @Test func theSameArgumentsPrintTheSameOutputByteForByte() async throws {
        let first = try await SimBinary.run(["--seeds", "11-13", "--steps", "300", "--verbose"])
        let second = try await SimBinary.run(["--seeds", "11-13", "--steps", "300", "--verbose"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout == second.stdout)
        #expect(first.stdout.contains("all 3 seeds passed"))
        #expect(first.stderr.contains("steps/s"))
    }

    @Test func aViolationExitsOneWithTheSeedStepInvariantAndLastEvents() async throws {
        let result = try await SimBinary.run(["--seeds", "1-50", "--steps", "2000", "--inject", "skip-void"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("invariant: settle"))
        #expect(result.stdout.contains("last events:"))
        let seed = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("seed: ") }).dropFirst(6)
        let replay = try await SimBinary.run(["--seed", String(seed), "--steps", "2000", "--inject", "skip-void"])
        #expect(replay.status == 1)
        #expect(result.stdout.contains(replay.stdout))
    }

    @Test(arguments: [
        ["--seeds", "5-2"],
        ["--seeds", "five"],
        ["--seed", "1", "--steps=-1"],
        ["--seed", "1", "--inject", "forget-everything"],
        ["--seed", "1", "--ledger", "postgres://sim@localhost"],
        ["--seed", "1", "--ledger", "postgres://sim@localhost/videometer?sslmode=sometimes"],
        ["--seeds", "1-2", "--ledger", "postgres://sim@localhost/videometer", "--inject", "double-post"],
        ["--seeds", "1-2", "--ledger", "/tmp/one-file-for-two-seeds.sqlite"],
        ["--steps", "10"],
        ["--seed", "1", "--seeds", "1-2"],
    ])
    func badArgumentsAreUsageErrors(arguments: [String]) async throws {
        let result = try await SimBinary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!result.stderr.isEmpty)
    }

    @Test func aLedgerURLOfAnotherKindIsRefusedNamingWhatIsAccepted() async throws {
        let result = try await SimBinary.run(["--seed", "1", "--ledger", "mysql://sim:secret@localhost/videometer"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("unsupported_database"))
        #expect(result.stderr.contains("--ledger takes a SQLite file path"))
        #expect(result.stderr.contains("postgres://user[:password]@host[:port]/database"))
        #expect(!result.stderr.contains("secret"))
        let malformed = try await SimBinary.run(["--seed", "1", "--ledger", "postgres://sim:secret@localhost:99999/videometer"])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("invalid_database_url"), "\(malformed.stderr)")
        #expect(!malformed.stderr.contains("secret"))
    }

    @Test func aPostgresLedgerRunsEachSeedInADatabaseOfItsOwnAndPrintsTheSameOutput() async throws {
        guard let server = try await PostgresTestServer.shared.server() else { return }
        let url = "postgres://\(server.username):\(server.password ?? "")@\(server.host):\(server.port)/\(server.database)?sslmode=disable"
        let arguments = ["--seeds", "12-13", "--steps", "60", "--ledger", url]
        let first = try await SimBinary.run(arguments)
        let second = try await SimBinary.run(arguments)
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout == second.stdout)
        #expect(first.stdout.contains("all 2 seeds passed"))
        #expect(!first.stdout.contains(PostgresTestServer.password) && !first.stderr.contains(PostgresTestServer.password))
        // Both seeds' databases were dropped at the end of their runs.
        try await PostgresTestServer.execute("""
            DO $$ BEGIN
              IF EXISTS (SELECT 1 FROM pg_database WHERE datname LIKE 'videometer_sim_12_%' OR datname LIKE 'videometer_sim_13_%') THEN
                RAISE EXCEPTION 'a seed database was left behind';
              END IF;
            END $$
            """, on: server)
    }

    @Test func anUnreachablePostgresServerIsAClearErrorNotAViolation() async throws {
        let closed = try PostgresTestServer.freePort()
        let result = try await SimBinary.run(["--seed", "1", "--ledger", "postgres://sim:secret@127.0.0.1:\(closed)/videometer?sslmode=disable"])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("ledger_unavailable"), "\(result.stderr)")
        #expect(!result.stderr.contains("secret"))
    }

    @Test func aLedgerFileIsKeptForInspection() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-sim-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sim.sqlite").path
        let result = try await SimBinary.run(["--seed", "4", "--steps", "200", "--ledger", path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: path))
        let again = try await SimBinary.run(["--seed", "4", "--steps", "200", "--ledger", path])
        #expect(again.status == 64)
    }
}

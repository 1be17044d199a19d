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

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
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
    @Test func theSameArgumentsPrintTheSameOutputByteForByte() throws {
        let first = try SimBinary.run(["--seeds", "11-13", "--steps", "300", "--verbose"])
        let second = try SimBinary.run(["--seeds", "11-13", "--steps", "300", "--verbose"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout == second.stdout)
        #expect(first.stdout.contains("all 3 seeds passed"))
        #expect(first.stderr.contains("steps/s"))
    }

    @Test func aViolationExitsOneWithTheSeedStepInvariantAndLastEvents() throws {
        let result = try SimBinary.run(["--seeds", "1-50", "--steps", "2000", "--inject", "skip-void"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("invariant: settle"))
        #expect(result.stdout.contains("last events:"))
        let seed = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("seed: ") }).dropFirst(6)
        let replay = try SimBinary.run(["--seed", String(seed), "--steps", "2000", "--inject", "skip-void"])
        #expect(replay.status == 1)
        #expect(result.stdout.contains(replay.stdout))
    }

    @Test(arguments: [
        ["--seeds", "5-2"],
        ["--seeds", "five"],
        ["--seed", "1", "--steps=-1"],
        ["--seed", "1", "--inject", "forget-everything"],
        ["--seed", "1", "--ledger", "postgres://sim@localhost/videometer"],
        ["--steps", "10"],
        ["--seed", "1", "--seeds", "1-2"],
    ])
    func badArgumentsAreUsageErrors(arguments: [String]) throws {
        let result = try SimBinary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!result.stderr.isEmpty)
    }

    @Test func aLedgerURLIsRefusedNamingWhatIsAccepted() throws {
        let result = try SimBinary.run(["--seed", "1", "--ledger", "postgres://sim:secret@localhost/videometer"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("unsupported_database"))
        #expect(result.stderr.contains("SQLite file path"))
        #expect(!result.stderr.contains("secret"))
    }

    @Test func aLedgerFileIsKeptForInspection() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-sim-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sim.sqlite").path
        let result = try SimBinary.run(["--seed", "4", "--steps", "200", "--ledger", path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: path))
        let again = try SimBinary.run(["--seed", "4", "--steps", "200", "--ledger", path])
        #expect(again.status == 64)
    }
}

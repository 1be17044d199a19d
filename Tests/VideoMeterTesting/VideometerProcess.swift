import Foundation

/// Runs the built `videometer` binary as a user would, on the test's clock, and captures what it
/// prints (swift-argument-parser's `AssertExecuteCommand` does the same).
public enum VideometerProcess {
    /// The binary built beside the test bundle (`.build/<config>/videometer`).
    public static let binary: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("videometer")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/videometer")
    }()

    /// Foundation's `Process.run()` on Linux has crashed (a bad pointer in its memcpy) when tests
    /// launched children from several threads at once; every launch in the suite goes through
    /// ``launch(_:)``, one at a time. The children still run concurrently.
    private static let launching = NSLock()

    /// Starts `process`, never at the same time as another launch of the suite.
    public static func launch(_ process: Process) throws {
        try launching.withLock { try process.run() }
    }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The environment a child gets: this process's, without the variables that would point it at
    /// another catalog or ledger, with the test's clock, then `overrides` (a `nil` value removes).
    public static func environment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["VIDEOMETER_PRICING"] = nil
        environment["VIDEOMETER_DB"] = nil
        for (key, value) in TestClock.environment() { environment[key] = value }
        for (key, value) in overrides { environment[key] = value }
        return environment
    }

    /// A configured, not yet started process whose output goes to two pipes.
    public static func process(
        _ arguments: [String], environment overrides: [String: String?] = [:], in directory: URL? = nil
    ) -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment(overrides)
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        return (process, out, err)
    }

    /// Runs the binary to its end.
    public static func run(_ arguments: [String], environment overrides: [String: String?] = [:], in directory: URL? = nil) throws -> Output {
        let (process, out, err) = process(arguments, environment: overrides, in: directory)
        try launch(process)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts the binary without waiting for it; its output is discarded.
    public static func spawn(_ arguments: [String], environment overrides: [String: String?] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment(overrides)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try launch(process)
        return process
    }

}

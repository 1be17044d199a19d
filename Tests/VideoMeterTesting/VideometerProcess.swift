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
    ///
    /// Foundation's `Process.run()` looks for the highest open descriptor by reading
    /// `/proc/self/fd` and copies each entry's whole 256-byte `d_name`, also from the last entries
    /// of its 32 KB `getdents` buffer: with about 1,360 descriptors open that buffer is full, the
    /// copy can run past the end of the heap, and the test process dies of a SIGSEGV in memmove
    /// (it did in CI). The suite keeps far fewer open: see ``TestSlots`` and `testHTTPClient`.
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
        let stdout = readToEnd(out.fileHandleForReading)
        let stderr = readToEnd(err.fileHandleForReading)
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// ``run(_:environment:in:)`` on a thread of its own: the caller's task waits without holding
    /// one of the few threads of Swift's cooperative pool for the child's whole run (a PostgreSQL
    /// command takes a while), so the suite's other tests keep running meanwhile.
    public static func runDetached(
        _ arguments: [String], environment overrides: [String: String?] = [:], in directory: URL? = nil
    ) async throws -> Output {
        try await detached { try run(arguments, environment: overrides, in: directory) }
    }

    /// Runs `body`, which blocks (waiting for a child process), on a thread of its own while the
    /// caller's task is suspended: on a 2-core machine the cooperative pool has two threads, and
    /// two tests blocked in `waitUntilExit` would stall every other test of the suite.
    public static func detached<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "test.videometer-child"
            thread.start()
        }
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

/// Reads a pipe to its end with `read(2)`, retrying when a signal interrupts it.
///
/// Foundation's `readDataToEndOfFile()` stops the process with a `try!` when `read` fails with
/// `EINTR`, and a child process ending anywhere in the test process (a `videometer`, `pg_ctl`)
/// can deliver the `SIGCHLD` that interrupts it.
public func readToEnd(_ handle: FileHandle) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    let descriptor = handle.fileDescriptor
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            data.append(contentsOf: buffer[0..<count])
        } else if count == 0 || errno != EINTR {
            return data
        }
    }
}

/// What a readable pipe holds now (empty at its end), with `read(2)`, retrying on `EINTR`:
/// Foundation's `availableData` stops the process on an interrupted read, as
/// ``readToEnd(_:)`` explains.
public func readAvailable(_ handle: FileHandle) -> Data {
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
        if count >= 0 { return Data(buffer[0..<count]) }
        if errno != EINTR { return Data() }
    }
}

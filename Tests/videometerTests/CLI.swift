import Foundation
import VideoMeterTesting

/// Runs the built `videometer` binary, as a user would, on the test's clock (``TestClock``).
///
/// Every run waits for the child on a thread of its own (``VideometerProcess/runDetached``), never
/// on one of the cooperative pool's few threads.
struct CLI {
    typealias Result = VideometerProcess.Output

    static var binary: URL { VideometerProcess.binary }

    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) async throws -> Result {
        try await VideometerProcess.runDetached(arguments, environment: environment.mapValues { $0 }, in: directory)
    }

    /// Starts the binary without waiting for it; its output is discarded.
    static func spawn(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        try VideometerProcess.spawn(arguments, environment: environment.mapValues { $0 })
    }

    static func json(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await run(arguments)
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else { return [:] }
        return object
    }
}

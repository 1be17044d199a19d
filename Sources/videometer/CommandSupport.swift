import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterCatalog

/// `--pricing PATH`: where prices come from, shared by every command that quotes.
struct CatalogOptions: ParsableArguments {
    @Option(name: .customLong("pricing"), help: ArgumentHelp(
        "A catalog file or directory to use instead of the embedded one (also VIDEOMETER_PRICING).",
        valueName: "PATH"))
    var path: String?

    func load() throws -> Catalog {
        try Catalog.resolve(flag: path)
    }
}

/// Prints a domain error the way every command does, and exits with status 1.
///
/// Text: `error: <code>: <message>` on standard error. With `json`, `{"error": {"code", "message"}}`
/// on standard output as well, so scripts can parse it.
func fail(_ error: any CodedError, json: Bool) -> ExitCode {
    if json {
        let body = ["error": ["code": error.code, "message": error.message]]
        if let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }
    FileHandle.standardError.write(Data("error: \(error.code): \(error.message)\n".utf8))
    return ExitCode(1)
}

/// Runs `body`, turning any ``CodedError`` into the standard error output and exit status 1.
func reportingErrors<T>(json: Bool = false, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as any CodedError {
        throw fail(error, json: json)
    }
}

/// Parses a date given on the command line: ISO 8601 (`2026-11-21` or `2026-11-21T10:00:00Z`).
func parseDate(_ text: String, option: String) throws -> Date {
    guard let date = CatalogDate.parse(text) else {
        throw ValidationError("\(option) '\(text)' is not an ISO 8601 date such as 2026-11-21 or 2026-11-21T10:00:00Z.")
    }
    return date
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

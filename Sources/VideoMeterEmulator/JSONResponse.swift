import Foundation
import Hummingbird

/// Builds the JSON responses the emulated upstreams send.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ object: [String: Any], headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encoded<T: Encodable>(_ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// BlockRun's error shape: `{"error": "message"}`.
    static func blockRunError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        make(status, ["error": message])
    }

    /// WorldRouter's error shape: `{"error": {"code", "message"}}`, plus any extra fields.
    static func worldRouterError(
        _ status: HTTPResponse.Status, code: String, message: String, extra: [String: Any] = [:],
        headers: HTTPFields = [:]
    ) -> Response {
        var error: [String: Any] = ["code": code, "message": message]
        error.merge(extra) { _, new in new }
        return make(status, ["error": error], headers: headers)
    }
}

/// A request body that decoded, or why it did not.
enum DecodedBody<T> {
    case value(T)
    case invalid(String)
}

extension HTTPResponse.Status {
    static let paymentRequired = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")
    static let failedDependency = HTTPResponse.Status(code: 424, reasonPhrase: "Failed Dependency")
}

extension Request {
    /// Decodes the JSON body; a malformed body is reported as a message rather than thrown.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: EmulatorRequestContext) async -> DecodedBody<T> {
        do {
            let buffer = try await body.collect(upTo: 1 << 20)
            return .value(try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView)))
        } catch let error as DecodingError {
            return .invalid("The request body is not valid: \(Self.describe(error))")
        } catch {
            return .invalid("The request body could not be read.")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field '\(key.stringValue)'."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type."
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "malformed JSON."
                : "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' is invalid."
        @unknown default: "malformed JSON."
        }
    }
}

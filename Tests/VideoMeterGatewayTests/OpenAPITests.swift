import Foundation
import HTTPTypes
import NIOHTTP1
import Testing
@testable import VideoMeterGateway
import VideoMeterTesting

/// docs/openapi.json and the gateway cannot drift: the same routes, only codes the gateway can
/// produce, and every documented example answered as documented.
@Suite("The OpenAPI document and the routes")
struct OpenAPITests {
    static var document: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any]) ?? [:] }
    static var paths: [String: [String: Any]] { document["paths"] as? [String: [String: Any]] ?? [:] }
    static let methods = ["get", "post", "put", "patch", "delete"]

    /// `/v1/videos/generations/{id}` and `/…/:id` alike, for comparing paths.
    static func normalised(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") || part.hasPrefix(":") ? "*" : String(part)
        }.joined(separator: "/")
    }

    @Test func theServedDocumentIsTheOneInDocs() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.json")
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text == OpenAPIDocument.json + "\n" || text == OpenAPIDocument.json, "run docs/embed-openapi.sh")
        #expect(Self.document["openapi"] as? String == "3.1.0")
    }

    @Test func everyServedRouteIsDocumentedAndEveryDocumentedRouteIsServed() async throws {
        try await withGateway { gw in
            let served = Set(gw.gateway.servedPaths.withLock { $0 }.flatMap { path, methods in
                methods.map { "\($0.rawValue) \(Self.normalised(path))" }
            })
            let documented = Set(Self.paths.flatMap { path, item in
                Self.methods.filter { item[$0] != nil }.map { "\($0.uppercased()) \(Self.normalised(path))" }
            })
            #expect(served == documented, "served only: \(served.subtracting(documented).sorted()); documented only: \(documented.subtracting(served).sorted())")
            // And the document is what the gateway serves, without a key.
            let answer = try await gw.get("/openapi.json", key: nil)
            #expect(answer.status == 200)
            #expect(answer.text == OpenAPIDocument.json)
        }
    }

    /// Every error code the document names, by operation.
    static func documentedCodes() -> [String: Set<String>] {
        var codes: [String: Set<String>] = [:]
        for (path, item) in paths {
            for method in methods {
                guard let operation = item[method] as? [String: Any], let responses = operation["responses"] as? [String: Any] else { continue }
                for (_, response) in responses {
                    let text = String(decoding: (try? JSONSerialization.data(withJSONObject: response)) ?? Data(), as: UTF8.self)
                    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { continue }
                    codes["\(method.uppercased()) \(path)", default: []].formUnion(enums(in: object, under: "code"))
                }
            }
        }
        return codes
    }

    /// The values of every `enum` under a property named `name`.
    static func enums(in object: Any, under name: String) -> Set<String> {
        var found: Set<String> = []
        if let dictionary = object as? [String: Any] {
            for (key, value) in dictionary {
                if key == name, let schema = value as? [String: Any], let values = schema["enum"] as? [String] { found.formUnion(values) }
                found.formUnion(enums(in: value, under: name))
            }
        } else if let array = object as? [Any] {
            for value in array { found.formUnion(enums(in: value, under: name)) }
        }
        return found
    }

    @Test func theDocumentNamesOnlyCodesTheGatewayCanProduceAndEveryOneItCan() {
        let documented = Self.documentedCodes()
        let all = documented.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let producible = GatewayError.producibleCodes
        #expect(all.subtracting(producible).isEmpty, "documented, never produced: \(all.subtracting(producible).sorted())")
        // Codes that never reach a response: unknown routes (`not_found`, no operation to put it
        // under), settlement-only ledger and pricing codes, report templates, CLI-side limits.
        // `method_not_allowed` answers methods the document does not list (described in its info).
        let neverAnswered: Set<String> = ["not_found", "method_not_allowed", "unknown_price_list", "invalid_template"]
        let missing = producible.subtracting(all).subtracting(neverAnswered)
        #expect(missing.isEmpty, "produced, not documented: \(missing.sorted())")
    }

    @Test func everyDocumentedStatusIsOneTheGatewayAnswers() {
        let answered: Set<String> = ["200", "400", "401", "402", "403", "404", "405", "409", "422", "424", "429", "500", "501", "502", "503", "504"]
        for (path, item) in Self.paths {
            for method in Self.methods {
                guard let responses = (item[method] as? [String: Any])?["responses"] as? [String: Any] else { continue }
                #expect(Set(responses.keys).isSubset(of: answered), "\(method) \(path): \(responses.keys.sorted())")
            }
        }
    }

    @Test func everyDocumentedExampleIsAnsweredAsDocumented() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 50_000_000)
            var replayed = 0
            for (path, item) in Self.paths.sorted(by: { $0.key < $1.key }) {
                for method in Self.methods {
                    guard let operation = item[method] as? [String: Any] else { continue }
                    let content = ((operation["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any]
                    let examples = content?["examples"] as? [String: [String: Any]] ?? [:]
                    let hasParameters = path.contains("{")
                    let answersOK = (operation["responses"] as? [String: Any])?["200"] != nil
                    if !answersOK || (examples.isEmpty && (method != "get" || hasParameters)) { continue }
                    let bodies: [Data?] = examples.isEmpty ? [nil] : try examples.values.map { try JSONSerialization.data(withJSONObject: $0["value"] as Any) }
                    for body in bodies {
                        let answer = try await gw.request(
                            HTTPMethod(rawValue: method.uppercased()), path, key: key, body: body.map { String(decoding: $0, as: UTF8.self) })
                        let responses = operation["responses"] as? [String: Any] ?? [:]
                        let documented = try #require(responses["\(answer.status)"] as? [String: Any], "\(method) \(path) answered \(answer.status): \(answer.text.prefix(300))")
                        #expect(answer.status == 200, "\(method) \(path): \(answer.text.prefix(300))")
                        let media = (documented["content"] as? [String: Any])?.keys.first ?? "application/json"
                        if media == "application/json" {
                            let schema = ((documented["content"] as? [String: Any])?[media] as? [String: Any])?["schema"] ?? [:]
                            let value = try JSONSerialization.jsonObject(with: answer.body, options: [.fragmentsAllowed])
                            let problems = SchemaCheck(document: Self.document).problems(value, schema, at: "\(method) \(path)")
                            #expect(problems.isEmpty, "\(problems)")
                        }
                        replayed += 1
                    }
                }
            }
            #expect(replayed >= 9)
        }
    }
}

/// A small JSON Schema checker for the parts the document uses: `$ref`, `allOf`, `anyOf`,
/// `oneOf`, `type`, `required`, `properties`, `additionalProperties: false`, `items`, `enum`.
struct SchemaCheck {
    let document: [String: Any]

    func resolve(_ schema: Any) -> [String: Any] {
        guard var object = schema as? [String: Any] else { return [:] }
        while let reference = object["$ref"] as? String, reference.hasPrefix("#/") {
            var node: Any = document
            for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
            object = node as? [String: Any] ?? [:]
        }
        return object
    }

    func problems(_ value: Any, _ schemaValue: Any, at path: String) -> [String] {
        let schema = resolve(schemaValue)
        var problems: [String] = []
        for part in schema["allOf"] as? [Any] ?? [] { problems += self.problems(value, part, at: path) }
        if let options = (schema["anyOf"] ?? schema["oneOf"]) as? [Any] {
            let matching = options.filter { self.problems(value, $0, at: path).isEmpty }.count
            if matching == 0 { problems.append("\(path): matches none of the alternatives") }
            if schema["oneOf"] != nil && matching > 1 { problems.append("\(path): matches \(matching) oneOf alternatives") }
        }
        if let type = schema["type"] as? String {
            let ok: Bool = switch type {
            case "object": value is [String: Any]
            case "array": value is [Any]
            case "string": value is String
            // Foundation reads JSON numbers and booleans alike as NSNumber on Linux.
            case "integer": (value as? NSNumber).map { $0.doubleValue.rounded() == $0.doubleValue } ?? false
            case "number": value is NSNumber
            case "boolean": value is Bool || value is NSNumber
            default: true
            }
            if !ok { problems.append("\(path): not \(type)") }
        }
        if let values = schema["enum"] as? [String], let text = value as? String, !values.contains(text) {
            problems.append("\(path): '\(text)' not in \(values)")
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil { problems.append("\(path): missing \(name)") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in object {
                if let property = properties[name] {
                    problems += self.problems(member, property, at: "\(path).\(name)")
                } else if (schema["additionalProperties"] as? Bool) == false {
                    problems.append("\(path): unexpected member \(name)")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, item) in array.enumerated() { problems += self.problems(item, items, at: "\(path)[\(index)]") }
        }
        return problems
    }
}

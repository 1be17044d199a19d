import Foundation
import Testing
import VideoMeterGateway

/// Every malformed body answers 400 with a stable code and leaves the ledger and the upstreams
/// untouched.
@Suite("Bad input is refused with 400 and changes nothing")
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var body: [UInt8]
        var code: String
        /// Refused by the generation path only: a quote needs no prompt.
        var generationOnly = false
        var testDescription: String { name }

        init(_ name: String, _ body: String, _ code: String, generationOnly: Bool = false) {
            self.name = name
            self.body = Array(body.utf8)
            self.code = code
            self.generationOnly = generationOnly
        }

        init(_ name: String, bytes: [UInt8], _ code: String) {
            self.name = name
            self.body = bytes
            self.code = code
        }
    }

    static let injections = [
        "'; DROP TABLE hold; --", "\" OR 1=1 --", "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x/a}", "../../etc/passwd",
        "\\u0000", "%00", "\u{202E}gnp.exe",
    ]

    static let cases: [Case] = {
        var cases: [Case] = [
            Case("empty body", "", "invalid_json"),
            Case("not JSON", "model=xai", "invalid_json"),
            Case("truncated", #"{"model": "xai/grok-imagine-video", "prompt": "a"#, "invalid_json"),
            Case("trailing comma", #"{"model": "xai/grok-imagine-video", "prompt": "a",}"#, "invalid_json"),
            Case("two values", #"{"model": "xai/grok-imagine-video", "prompt": "a"} {}"#, "invalid_json"),
            Case("duplicate member", #"{"model": "xai/grok-imagine-video", "model": "bytedance/seedance-2.0", "prompt": "a"}"#, "invalid_json"),
            Case("lone surrogate", #"{"model": "xai/grok-imagine-video", "prompt": "\ud800"}"#, "invalid_json"),
            Case("invalid UTF-8", bytes: Array(#"{"model": "xai/grok-imagine-video", "prompt": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), "invalid_json"),
            Case("NaN", #"{"model": "grok-imagine-video", "prompt": "a", "duration": NaN}"#, "invalid_json"),
            Case("deep nesting", String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "invalid_json"),
            Case("array body", #"["xai/grok-imagine-video"]"#, "invalid_request"),
            Case("string body", #""hello""#, "invalid_request"),
            Case("null body", "null", "invalid_request"),
            Case("missing model", #"{"prompt": "a"}"#, "invalid_request"),
            Case("null model", #"{"model": null, "prompt": "a"}"#, "invalid_request"),
            Case("model a number", #"{"model": 5, "prompt": "a"}"#, "invalid_request"),
            Case("model an object", #"{"model": {"id": "xai/grok-imagine-video"}, "prompt": "a"}"#, "invalid_request"),
            Case("unknown model", #"{"model": "openai/sora-2", "prompt": "a"}"#, "unknown_model"),
            Case("empty model", #"{"model": "", "prompt": "a"}"#, "unknown_model"),
            Case("model with the other style's name", #"{"model": "xai/grok-imagine-video-1.5-preview", "prompt": "a"}"#, "unknown_model"),
            Case("missing prompt", #"{"model": "xai/grok-imagine-video"}"#, "invalid_request", generationOnly: true),
            Case("NUL in the prompt", #"{"model": "xai/grok-imagine-video", "prompt": "a\u0000cat"}"#, "invalid_prompt"),
            Case("escape in the prompt", #"{"model": "grok-imagine-video", "prompt": "a\u001bcat"}"#, "invalid_prompt"),
            Case("DEL in the prompt", #"{"model": "grok-imagine-video", "prompt": "a\u007fcat"}"#, "invalid_prompt"),
            Case("carriage return in the prompt", #"{"model": "grok-imagine-video", "prompt": "a\rcat"}"#, "invalid_prompt"),
            Case("aspect ratio not documented", #"{"model": "grok-imagine-video", "prompt": "a", "aspect_ratio": "5:4"}"#, "invalid_request"),
            Case("aspect ratio a number", #"{"model": "grok-imagine-video", "prompt": "a", "aspect_ratio": 1.5}"#, "invalid_request"),
            Case("aspect ratio on a BlockRun model", #"{"model": "xai/grok-imagine-video", "prompt": "a", "aspect_ratio": "16:9"}"#, "invalid_request"),
            Case("prompt a number", #"{"model": "xai/grok-imagine-video", "prompt": 42}"#, "invalid_request"),
            Case("prompt an array", #"{"model": "xai/grok-imagine-video", "prompt": ["a"]}"#, "invalid_request"),
            Case("empty prompt", #"{"model": "xai/grok-imagine-video", "prompt": ""}"#, "empty_prompt"),
            Case("blank prompt", #"{"model": "xai/grok-imagine-video", "prompt": " \n\t "}"#, "empty_prompt"),
            Case("prompt too long", #"{"model": "xai/grok-imagine-video", "prompt": "\#(String(repeating: "é", count: 20_000))"}"#, "prompt_too_long"),
            Case("BlockRun model with WorldRouter's duration", #"{"model": "xai/grok-imagine-video", "prompt": "a", "duration": 5}"#, "invalid_request"),
            Case("WorldRouter model with BlockRun's duration", #"{"model": "grok-imagine-video", "prompt": "a", "duration_seconds": 5}"#, "invalid_request"),
            Case("unknown member", #"{"model": "xai/grok-imagine-video", "prompt": "a", "n": 2}"#, "invalid_request"),
            Case("image a string", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "image": "https://example.com/a.png"}"#, "invalid_request"),
            Case("image with extra member", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "image": {"url": "https://example.com/a.png", "x": 1}}"#, "invalid_request"),
            Case("image url a number", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "image": {"url": 7}}"#, "invalid_request"),
            Case("1.5-preview without image", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "resolution": "720p"}"#, "image_required"),
            Case("image url not http", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "image": {"url": "file:///etc/passwd"}}"#, "invalid_image_url"),
            Case("image_url relative", #"{"model": "xai/grok-imagine-video", "prompt": "a", "image_url": "seed.jpg"}"#, "invalid_image_url"),
            Case("image_url javascript", #"{"model": "xai/grok-imagine-video", "prompt": "a", "image_url": "javascript:alert(1)"}"#, "invalid_image_url"),
            Case("resolution a number", #"{"model": "grok-imagine-video", "prompt": "a", "resolution": 720}"#, "invalid_request"),
            Case("duration above max", #"{"model": "xai/grok-imagine-video", "prompt": "a", "duration_seconds": 9}"#, "duration_above_max"),
            Case("duration above max (WorldRouter)", #"{"model": "grok-imagine-video", "prompt": "a", "duration": 16}"#, "duration_above_max"),
        ]
        for (label, text) in [
            ("negative", "-3"), ("zero", "0"), ("negative zero", "-0"), ("fractional", "5.5"), ("integral fraction", "5.0"),
            ("exponent", "1e1"), ("tiny exponent", "5E0"), ("huge", "99999999999999999999999999"), ("ten digits", "1000000000"),
            ("string", "\"5\""), ("boolean", "true"), ("array", "[5]"), ("object", "{\"s\": 5}"),
        ] {
            cases.append(Case("\(label) duration_seconds", #"{"model": "bytedance/seedance-2.0", "prompt": "a", "duration_seconds": \#(text)}"#, "invalid_duration"))
            cases.append(Case("\(label) duration", #"{"model": "grok-imagine-video", "prompt": "a", "duration": \#(text)}"#, "invalid_duration"))
        }
        for (index, injection) in injections.enumerated() {
            let escaped = injection.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            cases.append(Case("injection \(index) as model", #"{"model": "\#(escaped)", "prompt": "a"}"#, "unknown_model"))
            cases.append(Case("injection \(index) as image_url", #"{"model": "xai/grok-imagine-video", "prompt": "a", "image_url": "\#(escaped)"}"#, "invalid_image_url"))
            cases.append(Case("injection \(index) as image.url", #"{"model": "grok-imagine-video-1.5-preview", "prompt": "a", "image": {"url": "\#(escaped)"}}"#, "invalid_image_url"))
            cases.append(Case("injection \(index) as duration", #"{"model": "grok-imagine-video", "prompt": "a", "duration": "\#(escaped)"}"#, "invalid_duration"))
            cases.append(Case("injection \(index) as member name", #"{"model": "xai/grok-imagine-video", "prompt": "a", "\#(escaped)": 1}"#, "invalid_request"))
            cases.append(Case("injection \(index) as prompt, bad duration", #"{"model": "grok-imagine-video", "prompt": "\#(escaped)", "duration": -1}"#, "invalid_duration"))
        }
        cases.append(Case("unicode model", #"{"model": "ｘａｉ/grok-imagine-video", "prompt": "a"}"#, "unknown_model"))
        cases.append(Case("emoji prompt, bad duration", #"{"model": "grok-imagine-video", "prompt": "🎬 über café 中文", "duration": 2.5}"#, "invalid_duration"))
        return cases
    }()

    @Test(arguments: cases)
    func badBodyIs400AndChangesNothing(_ testCase: Case) async throws {
        try await BadInputTests.fixture.check(testCase)
    }

    @Test func oversizedBodiesAre400() async throws {
        let prompt = String(repeating: "a", count: 70 * 1024)
        try await BadInputTests.fixture.check(Case("70 KiB body", #"{"model": "xai/grok-imagine-video", "prompt": "\#(prompt)"}"#, "body_too_large"))
        try await BadInputTests.fixture.check(Case("10 MiB body", bytes: [UInt8](repeating: 0x20, count: 10 << 20), "body_too_large"))
    }

    @Test func badIdempotencyKeysAre400() async throws {
        let shared = try await BadInputTests.fixture.shared()
        for key in [String(repeating: "k", count: 256), "with space", "tab\tkey", "ünïcode"] {
            let before = try await shared.fixture.ledgerSnapshot()
            let answer = try await shared.fixture.post(
                "/v1/videos/generations", key: shared.key, #"{"model": "xai/grok-imagine-video", "prompt": "a"}"#, headers: [("Idempotency-Key", key)])
            #expect(answer.status == 400, "\(key)")
            #expect(answer.errorCode == "invalid_request")
            #expect(try await shared.fixture.ledgerSnapshot() == before)
        }
    }

    /// One gateway for the whole table: bad input must not change it, so sharing it is the test.
    static let fixture = SharedFixture()
}

actor SharedFixture {
    /// The one start, which every case awaits. A value set after `make()` returned would not do:
    /// the actor runs the other cases' calls while the first awaits, and each started a gateway
    /// of its own (170 of them, 700 listening sockets, none shut down).
    private var starting: Task<(fixture: GatewayFixture, key: String), any Error>?

    func shared() async throws -> (fixture: GatewayFixture, key: String) {
        if let starting { return try await starting.value }
        let task = Task {
            let fixture = try await GatewayFixture.make()
            let key = try await fixture.team("studio", budgetMicro: 5_000_000)
            return (fixture: fixture, key: key)
        }
        starting = task
        return try await task.value
    }

    func check(_ testCase: BadInputTests.Case) async throws {
        let (fixture, key) = try await shared()
        let before = try await fixture.ledgerSnapshot()
        let blockRunBefore = await fixture.blockRun.stats().created
        let worldRouterBefore = await fixture.worldRouter.stats().created
        for path in testCase.generationOnly ? ["/v1/videos/generations"] : ["/v1/videos/generations", "/v1/quotes"] {
            let answer = try await fixture.request(.POST, path, key: key, bytes: testCase.body, headers: [("Content-Type", "application/json")])
            #expect(answer.status == 400, "\(testCase.name) \(path): \(answer.status) \(answer.text.prefix(300))")
            #expect(answer.errorCode == testCase.code, "\(testCase.name) \(path): \(answer.text.prefix(300))")
            let error = answer.json["error"] as? [String: Any]
            #expect((error?["message"] as? String)?.isEmpty == false)
        }
        #expect(try await fixture.ledgerSnapshot() == before, "\(testCase.name)")
        #expect(await fixture.blockRun.stats().created == blockRunBefore)
        #expect(await fixture.worldRouter.stats().created == worldRouterBefore)
        #expect(try await fixture.ledger.verify().isConsistent)
    }
}

import Foundation
import Testing

@Suite("videometer quote, models and pricing, run as a user would")
struct QuoteCommandTests {
    @Test(arguments: [
        ("xai/grok-imagine-video", "0.420000", "0.420", 8),
        ("bytedance/seedance-1.5-pro", "0.157500", "0.158", 5),
        ("bytedance/seedance-2.0-fast", "0.787500", "0.788", 5),
        ("bytedance/seedance-2.0", "1.575000", "1.575", 5),
    ])
    func defaultBilledColumnOfTheSeedSheet(model: String, total: String, display: String, seconds: Int) async throws {
        let quote = try await CLI.json(["quote", "--model", model, "--at", "2026-11-21", "--json"])
        #expect(quote["total"] as? String == total)
        #expect(quote["total_display"] as? String == display)
        #expect(quote["billed_seconds"] as? Int == seconds)
        #expect(quote["provider"] as? String == "blockrun")
        #expect(quote["resolution"] as? String == "720p")
        #expect(quote["currency"] as? String == "USD")
        #expect(quote["catalog_version"] as? String == "blockrun-2026-04")
        #expect((quote["lines"] as? [Any])?.count == 2)
    }

    @Test func elevenSecondsIsRefusedWithTheCodeAndASentence() async throws {
        let result = try await CLI.run(["quote", "--model", "bytedance/seedance-2.0", "--duration", "11"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "error: duration_above_max: 11 s is above the 10 s maximum of bytedance/seedance-2.0.\n")
    }

    @Test func aFractionalDurationIsInvalid() async throws {
        let result = try await CLI.run(["quote", "--model", "bytedance/seedance-2.0", "--duration", "5.5", "--json"])
        #expect(result.status == 1)
        #expect(result.stdout.contains(#""code":"invalid_duration""#))
    }

    @Test(arguments: ["-3", "0", "five"])
    func aNegativeZeroOrWordDurationIsInvalidNotAUsageError(duration: String) async throws {
        let result = try await CLI.run(["quote", "--model", "bytedance/seedance-2.0", "--duration", duration])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: invalid_duration: "))
    }

    /// The gateway's prompt rule holds on the command line too: NUL, ESC and other control
    /// characters are refused before anything is priced, held or sent; newline and tab are text.
    // (NUL cannot be passed on a command line; the gateway's tests send it.)
    @Test(arguments: ["a cat\u{1}", "a \u{1B}[31mred\u{1B}[0m cat", "a\u{7F}cat"])
    func aPromptWithAControlCharacterIsInvalidPrompt(prompt: String) async throws {
        for command in [["quote"], ["generate", "--team", "nobody", "--sandbox-latency-ms", "0"]] {
            let result = try await CLI.run(command + ["--model", "bytedance/seedance-2.0", "--prompt", prompt])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.hasPrefix("error: invalid_prompt: "), "\(command): \(result.stderr)")
        }
        let text = try await CLI.run(["quote", "--model", "bytedance/seedance-2.0", "--prompt", "a cat\n\twalking"])
        #expect(text.status == 0, "\(text.stderr)")
    }

    @Test func anUnknownLogLevelIsNamedAndTheCommandRunsAtNotice() async throws {
        let result = try await CLI.run(["models"], environment: ["VIDEOMETER_LOG_LEVEL": "loud"])
        #expect(result.status == 0)
        #expect(result.stderr.hasPrefix("warning: VIDEOMETER_LOG_LEVEL 'loud' is not trace, debug, info, notice, warning, error or critical"), "\(result.stderr)")
        let known = try await CLI.run(["models"], environment: ["VIDEOMETER_LOG_LEVEL": "Warning"])
        #expect(known.status == 0 && known.stderr.isEmpty, "\(known.stderr)")
    }

    @Test func aQuoteUsesThePriceListInForceAtItsDate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-prices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func version(_ id: String, from date: String, rate: String) -> String {
            #"{"version": "\#(id)", "effective_from": "\#(date)", "source": "test", "models": [{"id": "m", "api_style": "sync", "resolutions": ["720p"], "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": "\#(rate)"}, "source": "test"}]}"#
        }
        try #"{"provider": "p", "versions": [\#(version("june", from: "2026-06-01T00:00:00Z", rate: "0.040")), \#(version("jan", from: "2026-01-01T00:00:00Z", rate: "0.030"))]}"#
            .write(to: directory.appendingPathComponent("p.json"), atomically: true, encoding: .utf8)
        let before = try await CLI.json(["quote", "--model", "m", "--pricing", directory.path, "--at", "2026-05-31T23:59:59Z", "--json"])
        #expect(before["catalog_version"] as? String == "jan")
        #expect(before["total"] as? String == "0.150000")
        let after = try await CLI.json(["quote", "--model", "m", "--pricing", directory.path, "--at", "2026-06-01T00:00:00Z", "--json"])
        #expect(after["catalog_version"] as? String == "june")
        #expect(after["total"] as? String == "0.200000")
    }

    @Test func worldRouterPreviewWithoutImageIsImageRequired() async throws {
        let result = try await CLI.run(["quote", "--model", "grok-imagine-video-1.5-preview"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: image_required: "))
    }

    @Test func worldRouterFallsBackTo720pAndAddsTheImageFee() async throws {
        let quote = try await CLI.json(["quote", "--model", "grok-imagine-video", "--resolution", "1080p", "--duration", "10", "--image-url", "https://example.com/a.png", "--json"])
        #expect(quote["resolution"] as? String == "720p")
        #expect(quote["resolution_fell_back"] as? Bool == true)
        #expect(quote["total"] as? String == "0.702000")  // 10 x 0.07 + 0.002
        #expect(quote["worst_case_total"] as? String == "1.052000")  // 15 x 0.07 + 0.002
    }

    @Test func quoteAtADateBeforeEveryPriceListIsRefused() async throws {
        let result = try await CLI.run(["quote", "--model", "xai/grok-imagine-video", "--at", "2025-01-01"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: no_price_in_force: "))
    }

    @Test func aBadDateIsAUsageError() async throws {
        let result = try await CLI.run(["quote", "--model", "xai/grok-imagine-video", "--at", "yesterday"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--at 'yesterday' is not an ISO 8601 date"))
    }

    @Test func modelsListsEveryModelAsATableAndAsJSON() async throws {
        let table = try await CLI.run(["models"])
        #expect(table.status == 0)
        for model in ["xai/grok-imagine-video", "bytedance/seedance-2.0-fast", "grok-imagine-video-1.5-preview"] {
            #expect(table.stdout.contains(model))
        }
        let json = try await CLI.run(["models", "--provider", "worldrouter", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        #expect((rows.first?["per_second"] as? [String: String])?["720p"] == "0.07")
    }

    @Test func pricingValidateNamesFileEntryAndReason() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-pricing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("broken.json")
        try #"{"provider": "p", "versions": [{"version": "v", "effective_from": "2026-01-01", "source": "s", "models": [{"id": "m", "api_style": "sync", "resolutions": ["720p"], "duration": {"default": 5, "min": 1, "max": 10}, "per_second": {"720p": 0.05}, "source": "s"}]}]}"#
            .write(to: file, atomically: true, encoding: .utf8)
        let result = try await CLI.run(["pricing", "validate", file.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("broken.json: versions[0] / models[0] / per_second / 720p: expected a string"))

        let shipped = try await CLI.run(["pricing", "validate"])
        #expect(shipped.status == 0)
        #expect(shipped.stdout.contains("ok: blockrun"))
    }
}

/// `videometer quote --compare`, run as a user would.
@Suite("videometer quote --compare")
struct QuoteCompareCommandTests {
    @Test func theJSONListsOptionsCheapestFirstAndExclusions() async throws {
        let json = try await CLI.json(["quote", "--compare", "--model", "grok-imagine-video", "--duration", "10", "--resolution", "720p", "--json"])
        let options = try #require(json["options"] as? [[String: Any]])
        #expect(options.map { $0["provider"] as? String } == ["worldrouter", "xai"])
        #expect(options.map { $0["total"] as? String } == ["0.700000", "0.700000"])
        #expect(options.first?["billed_seconds"] as? Int == 10)
        #expect(options.first?["worst_case_total"] as? String == "1.050000")
        let excluded = try #require(json["excluded"] as? [[String: Any]])
        #expect(excluded.map { $0["code"] as? String } == ["duration_above_max"])
        #expect(excluded.first?["message"] as? String == "10 s is above the 8 s maximum of xai/grok-imagine-video.")
        let unknown = try await CLI.run(["quote", "--compare", "--model", "openai/sora-2", "--json"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.hasPrefix("error: unknown_model: "))
    }
}

import Foundation
import Testing
import VideoMeterEmulator
import VideoMeterProviders
import VideoMeterTesting

@Suite struct BlockRunClientTests {
    let config = EmulatorConfiguration(style: .blockrun, latency: .milliseconds(2), seed: 7)

    @Test func successfulGenerationParsesData() async throws {
        try await withEmulator(config) { emulator, base in
            let submission = try await blockRun(base).submit(
                GenerationRequest(model: "bytedance/seedance-2.0-fast", prompt: "a red apple", durationSeconds: 7),
                idempotencyKey: "k1")
            let generated = try #require(result(submission))
            #expect(generated.model == "bytedance/seedance-2.0-fast")
            #expect(generated.durationSeconds == 7)
            #expect(generated.videos.count == 1)
            #expect(generated.videos[0].backedUp == true)
            #expect(generated.videos[0].url.hasPrefix(base + "/media/"))
            #expect(generated.videos[0].sourceURL != nil)
            #expect(generated.upstreamRequestID?.hasPrefix("req_") == true)
            #expect(await emulator.stats().completed == 1)
        }
    }

    @Test func defaultDurationIsTheModelDefault() async throws {
        try await withEmulator(config) { _, base in
            let submission = try await blockRun(base).submit(
                GenerationRequest(model: "xai/grok-imagine-video", prompt: "a hummingbird"), idempotencyKey: "k")
            #expect(result(submission)?.durationSeconds == 8)
        }
    }

    @Test func timeoutTagAnswers504() async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: "bytedance/seedance-2.0", prompt: "slow [emulate:timeout]"), idempotencyKey: "k")
            }
            #expect(error?.kind == .timeout)
            #expect(error?.httpStatus == 504)
            #expect(error?.delivery == .refused)
            let stats = await emulator.stats()
            #expect(stats.timedOut == 1 && stats.completed == 0)
        }
    }

    @Test func latencyAboveTheSyncCapAnswers504AtTheCap() async throws {
        var capped = config
        // The generation would take an hour; the 504 must come at the 20 ms cap. The bound below
        // is a minute, so no loaded machine can fail it, and still far below the latency: only
        // the cap can have answered.
        capped.latency = .seconds(3600)
        capped.maxSyncDuration = .milliseconds(20)
        try await withEmulator(capped) { _, base in
            let start = ContinuousClock.now
            let error = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: "bytedance/seedance-2.0", prompt: "long"), idempotencyKey: "k")
            }
            #expect(error?.kind == .timeout)
            #expect(start.duration(to: .now) < .seconds(60))
        }
    }

    @Test(arguments: [
        ("unknown/model", "p", ProviderError.Kind.upstreamInvalidRequest, 400),
        ("xai/grok-imagine-video", "[emulate:payment_required]", .paymentRequired, 402),
        ("xai/grok-imagine-video", "[emulate:rejected]", .forbidden, 403),
        ("xai/grok-imagine-video", "[emulate:rate_limited]", .rateLimited, 429),
        ("xai/grok-imagine-video", "[emulate:failed]", .serverError, 500),
    ])
    func statusesMapToTypedErrors(model: String, prompt: String, kind: ProviderError.Kind, status: Int) async throws {
        try await withEmulator(config) { _, base in
            let error = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: model, prompt: prompt), idempotencyKey: "k")
            }
            #expect(error?.kind == kind)
            #expect(error?.httpStatus == status)
            #expect(error?.delivery == .refused)
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test func durationAboveTheModelMaximumIs400() async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p", durationSeconds: 9), idempotencyKey: "k")
            }
            #expect(error?.kind == .upstreamInvalidRequest)
            #expect(error?.message.contains("duration_seconds 9") == true)
            #expect(await emulator.stats().rejected == 1)
        }
    }

    @Test func requiredPaymentHeaderIsSentAndNeverShown() async throws {
        var paid = config
        paid.requirePayment = true
        try await withEmulator(paid) { emulator, base in
            let missing = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p"), idempotencyKey: "k")
            }
            #expect(missing?.kind == .paymentRequired)
            let client = try blockRun(base, payment: "x402-secret-payment")
            #expect(!client.configuration.description.contains("x402-secret-payment"))
            let submission = try await client.submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p"), idempotencyKey: "k")
            #expect(result(submission) != nil)
            let owners = await emulator.stats().tasks.values.map(\.owner)
            #expect(owners.allSatisfy { $0.hasPrefix("key_") && !$0.contains("x402") })
        }
    }

    @Test func inFlightRequestsBeyondThePendingCapGet429() async throws {
        var busy = config
        // The first call stays in flight until released; the second is sent once the emulator
        // has admitted the first.
        busy.latency = .seconds(3600)
        busy.maxSyncDuration = .seconds(7200)
        busy.pendingCap = 1
        try await withEmulator(busy) { emulator, base in
            // The 429 comes at once; the long timeout only keeps a loaded machine from turning the
            // wait for it into an unknown outcome.
            let client = try blockRun(base, timeout: .seconds(120))
            async let first = client.submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "first"), idempotencyKey: "a")
            try await eventually { await emulator.stats().created == 1 }
            let second = await providerError {
                try await client.submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "second"), idempotencyKey: "b")
            }
            #expect(second?.kind == .rateLimited)
            await emulator.setLatency(.zero)
            #expect(result(try await first) != nil)
        }
    }

    @Test func connectionRefusedMeansNothingWasSent() async throws {
        let closed = try closedPort()
        let port = closed.port
        defer { withExtendedLifetime(closed) {} }
        let error = await providerError {
            try await blockRun("http://127.0.0.1:\(port)").submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p"), idempotencyKey: "k")
        }
        #expect(error?.kind == .unreachable)
        #expect(error?.delivery == .notSent)
    }

    @Test func serverThatDropsTheConnectionLeavesTheOutcomeUnknown() async throws {
        let server = try await DroppingServer()
        let error = await providerError {
            try await blockRun(server.baseURL).submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p"), idempotencyKey: "k")
        }
        try await server.close()
        #expect(error?.kind == .outcomeUnknown)
        #expect(error?.delivery == .unknown)
    }

    @Test func readTimeoutLeavesTheOutcomeUnknown() async throws {
        var slow = config
        slow.latency = .milliseconds(500)
        try await withEmulator(slow) { _, base in
            let error = await providerError {
                try await blockRun(base, timeout: .milliseconds(100)).submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p"), idempotencyKey: "k")
            }
            #expect(error?.kind == .outcomeUnknown)
        }
    }

    @Test func emulatorDropTagLeavesTheOutcomeUnknown() async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await blockRun(base).submit(GenerationRequest(model: "xai/grok-imagine-video", prompt: "p [emulate:drop]"), idempotencyKey: "k")
            }
            #expect(error?.kind == .outcomeUnknown)
            #expect(await emulator.stats().dropped == 1)
        }
    }

    @Test func syncProviderHasNoTaskStatus() async throws {
        let error = await providerError { try await blockRun("http://127.0.0.1:1").status(taskID: "x") }
        #expect(error?.kind == .statusUnsupported)
    }
}

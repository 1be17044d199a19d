import Foundation
import Testing
import VideoMeterEmulator
import VideoMeterProviders
import VideoMeterTesting

/// xAI's REST video API, against the emulator's xAI style: every status and every error.
@Suite struct XAIClientTests {
    let config = EmulatorConfiguration(style: .xai, latency: .milliseconds(10), pendingCap: 8, seed: 5)
    let poll = PollPolicy(initialInterval: .milliseconds(2), maxInterval: .milliseconds(5), deadline: .seconds(10))

    func xai(_ base: String, key: String = "xai-key") throws -> XAIClient {
        try XAIClient(httpClient: sharedHTTPClient, configuration: .init(baseURL: base, apiKey: Secret(key), requestTimeout: .seconds(5)))
    }

    func finish(_ client: XAIClient, _ request: GenerationRequest) async throws -> TaskStatus {
        let id = try #require(taskID(try await client.submit(request, idempotencyKey: UUID().uuidString)))
        return try await TaskPoller(provider: client, policy: poll, clock: ContinuousClock()).poll(taskID: id)
    }

    @Test func aGenerationIsPendingThenDoneWithItsVideoAndItsCostInTicks() async throws {
        var held = config
        held.latency = .seconds(600)
        try await withEmulator(held) { emulator, base in
            let client = try xai(base)
            let id = try #require(taskID(try await client.submit(
                GenerationRequest(model: "grok-imagine-video", prompt: "a kite", durationSeconds: 6, resolution: "720p", options: ["aspect_ratio": "9:16"]),
                idempotencyKey: "k")))
            #expect(id.hasPrefix("xvid_"))
            // Pending until the test lets the generation finish.
            let first = try await client.status(taskID: id)
            #expect(first.state == .running)
            #expect(first.reportedCostTicks == nil)
            await emulator.setLatency(.zero)
            try await eventually { try await client.status(taskID: id).state.isTerminal }
            let done = try await client.status(taskID: id)
            #expect(done.state == .succeeded)
            #expect(done.durationSeconds == 6)
            #expect(done.result?.videoURL == "\(base)/media/\(id).mp4")
            // 6 s at 720p, $0.07 a second: $0.42 = 4,200,000,000 ticks of 10^-10 USD.
            #expect(done.reportedCostTicks == 4_200_000_000)
            // The pass-through member reached the upstream unchanged.
            #expect(await emulator.stats().tasks[id]?.aspectRatio == "9:16")
        }
    }

    @Test func withoutDurationOrResolutionXAIGenerates8SecondsAt480p() async throws {
        try await withEmulator(config) { _, base in
            let done = try await finish(try xai(base), GenerationRequest(model: "grok-imagine-video", prompt: "a kite"))
            #expect(done.durationSeconds == 8)
            #expect(done.reportedCostTicks == 4_000_000_000)
        }
    }

    @Test func aModerationBlockIsAFailureThatStillReportsItsCost() async throws {
        try await withEmulator(config) { emulator, base in
            let blocked = try await finish(
                try xai(base),
                GenerationRequest(model: "grok-imagine-video-1.5-preview", prompt: "x [emulate:moderated]", imageURL: "https://x.test/a.png", durationSeconds: 5))
            #expect(blocked.state == .failed)
            #expect(blocked.failureCode == "moderated")
            #expect(blocked.result == nil)
            // 5 s at 480p, $0.08 a second, plus $0.01 for the image: $0.41.
            #expect(blocked.reportedCostTicks == 4_100_000_000)
            #expect(await emulator.stats().moderated == 1)
        }
    }

    @Test(arguments: [("[emulate:failed]", TaskState.failed), ("[emulate:expired]", .expired)])
    func failedAndExpiredAreTerminal(tag: String, state: TaskState) async throws {
        try await withEmulator(config) { _, base in
            let final = try await finish(try xai(base), GenerationRequest(model: "grok-imagine-video", prompt: "p \(tag)"))
            #expect(final.state == state)
            #expect(final.result == nil)
        }
    }

    @Test(arguments: [
        ("[emulate:rejected]", ProviderError.Kind.upstreamInvalidRequest, 400),
        ("[emulate:payment_required]", .forbidden, 403),
        ("[emulate:rate_limited]", .rateLimited, 429),
        ("[emulate:upstream_failure]", .serverError, 503),
    ])
    func refusalsAtCreateAreTypedWithTheirStatus(tag: String, kind: ProviderError.Kind, status: Int) async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await xai(base).submit(GenerationRequest(model: "grok-imagine-video", prompt: "p \(tag)"), idempotencyKey: "k")
            }
            #expect(error?.kind == kind)
            #expect(error?.httpStatus == status)
            #expect(error?.delivery == .refused)
            if status == 429 { #expect(error?.retryAfter == .seconds(1)) }
            #expect(await emulator.stats().created == 0)
        }
    }

    @Test func anUnknownKeyIs401AndTheKeyIsNeverInTheMessage() async throws {
        var strict = config
        strict.acceptedKeys = ["good-key"]
        try await withEmulator(strict) { _, base in
            let error = await providerError {
                try await xai(base, key: "bad-secret-key").submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")
            }
            #expect(error?.kind == .upstreamUnauthorized)
            #expect(error?.message.contains("bad-secret-key") == false)
        }
    }

    @Test func anotherKeysGenerationIsNotFound() async throws {
        try await withEmulator(config) { _, base in
            let id = try #require(taskID(try await xai(base, key: "a").submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")))
            let error = await providerError { try await xai(base, key: "b").status(taskID: id) }
            #expect(error?.kind == .taskNotFound)
        }
    }

    @Test func aConnectionDroppedAfterSendingIsAnUnknownOutcome() async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await xai(base).submit(GenerationRequest(model: "grok-imagine-video", prompt: "p [emulate:drop]"), idempotencyKey: "k")
            }
            #expect(error?.delivery == .unknown)
            #expect(await emulator.stats().created == 1)
        }
    }

    @Test func anUnreachableUpstreamWasNeverSent() async throws {
        let closed = try closedPort()
        let port = closed.port
        defer { withExtendedLifetime(closed) {} }
        let error = await providerError {
            try await xai("http://127.0.0.1:\(port)").submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")
        }
        #expect(error?.kind == .unreachable)
        #expect(error?.delivery == .notSent)
    }
}

import Foundation
import Testing
import VideoMeterEmulator
import VideoMeterProviders

@Suite struct WorldRouterClientTests {
    let config = EmulatorConfiguration(style: .worldrouter, latency: .milliseconds(10), pendingCap: 8, seed: 11)

    private func runToTerminal(_ client: WorldRouterClient, _ request: GenerationRequest) async throws -> TaskStatus {
        let id = try #require(taskID(try await client.submit(request, idempotencyKey: UUID().uuidString)))
        return try await client.poll(taskID: id)
    }

    @Test func createAndPollToSucceeded() async throws {
        try await withEmulator(config) { _, base in
            let client = try worldRouter(base)
            let id = try #require(taskID(try await client.submit(
                GenerationRequest(model: "grok-imagine-video", prompt: "a drone flyover", durationSeconds: 6, resolution: "480p"),
                idempotencyKey: "k")))
            let states = StateLog()
            let final = try await client.poll(taskID: id) { await states.append($0.state) }
            #expect(final.state == .succeeded)
            #expect(final.result?.videoURL?.hasPrefix(base + "/media/") == true)
            #expect(final.durationSeconds == 6)
            #expect(final.resolution == "480p")
            #expect(final.result?.durationSeconds == 6)
            #expect(await states.values.last == .succeeded)
        }
    }

    @Test(arguments: [("[emulate:failed]", TaskState.failed), ("[emulate:cancelled]", .cancelled),
                      ("[emulate:expired]", .expired), ("[emulate:timeout]", .expired)])
    func terminalFailures(tag: String, state: TaskState) async throws {
        try await withEmulator(config) { emulator, base in
            let final = try await runToTerminal(try worldRouter(base), GenerationRequest(model: "grok-imagine-video", prompt: "p \(tag)"))
            #expect(final.state == state)
            #expect(final.result == nil)
            #expect(final.failureCode != nil)
            #expect(await emulator.stats().completed == 0)
        }
    }

    @Test func pollingManyTimesReturnsTheSameTerminalResult() async throws {
        try await withEmulator(config) { emulator, base in
            let client = try worldRouter(base)
            let final = try await runToTerminal(client, GenerationRequest(model: "grok-imagine-video", prompt: "p"))
            for _ in 0..<10 {
                #expect(try await client.status(taskID: final.id) == final)
            }
            let stats = await emulator.stats()
            #expect(stats.created == 1 && stats.completed == 1)
        }
    }

    @Test func upstreamFailureIsRetriedWithoutCreatingATask() async throws {
        var flaky = config
        flaky.upstreamFailureRate = 1
        try await withEmulator(flaky) { emulator, base in
            let client = try worldRouter(base, createRetry: CreateRetryPolicy(maxAttempts: 3, initialInterval: .milliseconds(1)))
            let error = await providerError {
                try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")
            }
            #expect(error?.kind == .upstreamFailure)
            #expect(error?.httpStatus == 424)
            #expect(error?.upstreamStatus == 503)
            let stats = await emulator.stats()
            #expect(stats.upstreamFailures == 3)
            #expect(stats.created == 0)
        }
    }

    @Test func upstreamFailureRetrySucceedsOnceTheUpstreamRecovers() async throws {
        var flaky = config
        flaky.upstreamFailureRate = 0.5
        try await withEmulator(flaky) { emulator, base in
            let client = try worldRouter(base, createRetry: CreateRetryPolicy(maxAttempts: 12, initialInterval: .milliseconds(1), maxInterval: .milliseconds(2)))
            for index in 0..<4 {
                _ = try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "p\(index)"), idempotencyKey: "k\(index)")
            }
            let stats = await emulator.stats()
            #expect(stats.created == 4)
            #expect(stats.upstreamFailures > 0)
        }
    }

    @Test func pendingCapAnswers429WithRetryAfter() async throws {
        var capped = config
        capped.pendingCap = 2
        // Pending for the whole test, however slowly a loaded machine runs it: the third create
        // must meet two tasks still pending.
        capped.latency = .seconds(600)
        try await withEmulator(capped) { _, base in
            let client = try worldRouter(base)
            for index in 0..<2 {
                _ = try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "p\(index)"), idempotencyKey: "\(index)")
            }
            let error = await providerError {
                try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "p2"), idempotencyKey: "2")
            }
            #expect(error?.kind == .tooManyPendingTasks)
            #expect(error?.code == "grok_video_too_many_pending_tasks")
            #expect(error?.retryAfter == .seconds(1))
            // Another key has its own cap.
            _ = try await worldRouter(base, key: "team-key-b").submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "b")
        }
    }

    @Test func anotherKeysTaskIsForbidden() async throws {
        try await withEmulator(config) { _, base in
            let id = try #require(taskID(try await worldRouter(base).submit(
                GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")))
            let error = await providerError { try await worldRouter(base, key: "team-key-b").status(taskID: id) }
            #expect(error?.kind == .accessDenied)
            #expect(error?.code == "media_resource_access_denied")
            let missing = await providerError { try await worldRouter(base).status(taskID: "task_unknown") }
            #expect(missing?.kind == .taskNotFound)
        }
    }

    @Test func listRouteIsDisabled() async throws {
        try await withEmulator(config) { _, base in
            let (status, object) = try await getJSON(base + "/v1/videos/generations")
            #expect(status == 404)
            let message = (object["error"] as? [String: Any])?["message"] as? String
            #expect(message?.contains("disabled") == true)
        }
    }

    @Test(arguments: [nil, "1080p", "4k"] as [String?])
    func unknownOrOmittedResolutionFallsBackTo720p(resolution: String?) async throws {
        try await withEmulator(config) { _, base in
            let final = try await runToTerminal(try worldRouter(base),
                GenerationRequest(model: "grok-imagine-video", prompt: "p", resolution: resolution))
            #expect(final.resolution == "720p")
        }
    }

    @Test func previewModelWithoutImageIsInvalid() async throws {
        try await withEmulator(config) { emulator, base in
            let client = try worldRouter(base)
            let error = await providerError {
                try await client.submit(GenerationRequest(model: "grok-imagine-video-1.5-preview", prompt: "pan"), idempotencyKey: "k")
            }
            #expect(error?.kind == .invalidRequest)
            #expect(error?.code == "invalid_request")
            #expect(await emulator.stats().created == 0)
            let final = try await runToTerminal(client, GenerationRequest(
                model: "grok-imagine-video-1.5-preview", prompt: "pan", imageURL: "https://example.com/start.png"))
            #expect(final.state == .succeeded)
        }
    }

    @Test func keyAndBalanceErrors() async throws {
        var keyed = config
        keyed.keysWithoutTeam = ["personal-key"]
        keyed.keysWithLowBalance = ["poor-key"]
        try await withEmulator(keyed) { _, base in
            let request = GenerationRequest(model: "grok-imagine-video", prompt: "p")
            let team = await providerError { try await worldRouter(base, key: "personal-key").submit(request, idempotencyKey: "k") }
            #expect(team?.kind == .teamRequired)
            let balance = await providerError { try await worldRouter(base, key: "poor-key").submit(request, idempotencyKey: "k") }
            #expect(balance?.kind == .balanceTooLow)
            #expect(balance?.message.contains("poor-key") == false)
        }
    }

    @Test func statsCountEveryOutcome() async throws {
        try await withEmulator(config) { emulator, base in
            let client = try worldRouter(base)
            for tag in ["", "[emulate:failed]", "[emulate:cancelled]", "[emulate:expired]", ""] {
                _ = try await runToTerminal(client, GenerationRequest(model: "grok-imagine-video", prompt: "p \(tag)"))
            }
            _ = await providerError { try await client.submit(GenerationRequest(model: "nope", prompt: "p"), idempotencyKey: "x") }
            let stats = await emulator.stats()
            #expect(stats.created == 5)
            #expect(stats.completed == 2 && stats.failed == 1 && stats.cancelled == 1 && stats.expired == 1)
            #expect(stats.rejected == 1)
            #expect(stats.tasks.count == 5)
            #expect(stats.tasks.values.allSatisfy { $0.owner.hasPrefix("key_") && $0.resolution == "720p" && $0.duration == 8 })
            let (status, object) = try await getJSON(base + "/_emulator/stats")
            #expect(status == 200)
            #expect(object["completed"] as? Int == 2)
            #expect((object["tasks"] as? [String: Any])?.count == 5)
        }
    }

    @Test func outcomesAreDeterministicForASeed() async throws {
        var random = config
        random.latency = .milliseconds(2)
        random.failRate = 0.3
        random.timeoutRate = 0.2
        random.upstreamFailureRate = 0.2
        func run(seed: UInt64) async throws -> [String] {
            var seeded = random
            seeded.seed = seed
            return try await withEmulator(seeded) { _, base in
                let client = try worldRouter(base)
                var outcomes: [String] = []
                for index in 0..<24 {
                    do {
                        outcomes.append(try await runToTerminal(client, GenerationRequest(model: "grok-imagine-video", prompt: "p\(index)")).state.rawValue)
                    } catch let error as ProviderError {
                        outcomes.append(error.code)
                    }
                }
                return outcomes
            }
        }
        let first = try await run(seed: 11)
        let second = try await run(seed: 11)
        #expect(first == second)
        #expect(try await run(seed: 12) != first)
        #expect(Set(first).count >= 3, "\(first)")
    }

    @Test func videoIsARealMP4() async throws {
        try await withEmulator(config) { _, base in
            let final = try await runToTerminal(try worldRouter(base), GenerationRequest(model: "grok-imagine-video", prompt: "p"))
            let url = try #require(final.result?.videoURL)
            let response = try await sharedHTTPClient.execute(.init(url: url), timeout: .seconds(5))
            #expect(response.status.code == 200)
            #expect(response.headers.first(name: "Content-Type") == "video/mp4")
            let body = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            #expect(body == SampleVideo.mp4)
            #expect(body.count > 100 && body.count < 2000)
            #expect(Array(body[4..<8]) == Array("ftyp".utf8))
        }
    }

    @Test func pollingStopsAtTheDeadline() async throws {
        var slow = config
        slow.latency = .seconds(10)
        try await withEmulator(slow) { _, base in
            let client = try worldRouter(base, poll: PollPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(20), deadline: .milliseconds(100)))
            let id = try #require(taskID(try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "p"), idempotencyKey: "k")))
            let error = await providerError { try await client.poll(taskID: id) }
            #expect(error?.kind == .pollDeadlineExceeded)
            #expect(error?.delivery == .unknown)
        }
    }

    @Test func localPendingCapFailsFastWithoutReachingTheUpstream() async throws {
        var slow = config
        slow.latency = .seconds(10)
        try await withEmulator(slow) { emulator, base in
            let client = try worldRouter(base, limits: ProviderLimits(maxPendingTasks: 1, whenExceeded: .failFast))
            let id = try #require(taskID(try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "a"), idempotencyKey: "a")))
            let error = await providerError {
                try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "b"), idempotencyKey: "b")
            }
            #expect(error?.kind == .rateLimitedLocally)
            #expect(error?.delivery == .notSent)
            #expect(await emulator.stats().created == 1)
            await client.releasePendingSlot(taskID: id)
            _ = try await client.submit(GenerationRequest(model: "grok-imagine-video", prompt: "b"), idempotencyKey: "b")
        }
    }

    @Test func droppedCreateLeavesTheOutcomeUnknown() async throws {
        try await withEmulator(config) { emulator, base in
            let error = await providerError {
                try await worldRouter(base).submit(GenerationRequest(model: "grok-imagine-video", prompt: "p [emulate:drop]"), idempotencyKey: "k")
            }
            #expect(error?.kind == .outcomeUnknown)
            #expect(await emulator.stats().created == 1)
        }
    }
}

actor StateLog {
    private(set) var values: [TaskState] = []
    func append(_ state: TaskState) { values.append(state) }
}

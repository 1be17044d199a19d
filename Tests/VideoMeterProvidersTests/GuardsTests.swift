import Testing
import VideoMeterProviders
import VideoMeterTesting

@Suite struct GuardsTests {
    @Test func rateLimiterAllowsTheBurstThenFailsFastWithTheWait() async throws {
        let clock = ManualClock()
        let limiter = RequestRateLimiter(requestsPerMinute: 60, burst: 2, clock: clock)
        try await limiter.acquire(.failFast, provider: "p")
        try await limiter.acquire(.failFast, provider: "p")
        let error = await providerError { try await limiter.acquire(.failFast, provider: "p") }
        #expect(error?.kind == .rateLimitedLocally)
        #expect(error?.retryAfter == .seconds(1))
        clock.advance(by: .milliseconds(400))
        let later = await providerError { try await limiter.acquire(.failFast, provider: "p") }
        #expect(later?.retryAfter == .milliseconds(600))
        clock.advance(by: .milliseconds(600))
        try await limiter.acquire(.failFast, provider: "p")
    }

    @Test func rateLimiterWaitsForTheNextSlot() async throws {
        let clock = ManualClock()
        let limiter = RequestRateLimiter(requestsPerMinute: 1200, burst: 1, clock: clock)
        try await limiter.acquire(.wait, provider: "p")
        let second = Task { try await limiter.acquire(.wait, provider: "p") }
        await clock.waitForSleepers(1)
        // One request every 50 ms: the second waits exactly that long, the third 50 ms more.
        #expect(clock.sleepingUntil == [clock.now.advanced(by: .milliseconds(50))])
        let third = Task { try await limiter.acquire(.wait, provider: "p") }
        await clock.waitForSleepers(2)
        #expect(clock.sleepingUntil.last == clock.now.advanced(by: .milliseconds(100)))
        clock.advance(by: .milliseconds(50))
        try await second.value
        #expect(clock.sleepingUntil.count == 1)
        clock.advance(by: .milliseconds(50))
        try await third.value
    }

    /// Under sustained overload the waiting calls stay bounded: a call that would wait longer than
    /// the maximum is refused at once with its wait, and reserves nothing.
    @Test func rateLimiterRefusesAWaitLongerThanTheMaximum() async throws {
        let clock = ManualClock()
        let limiter = RequestRateLimiter(requestsPerMinute: 60, burst: 1, clock: clock)
        try await limiter.acquire(.wait, maximumWait: .seconds(2), provider: "p")
        let waiting = (1...2).map { _ in Task { try await limiter.acquire(.wait, maximumWait: .seconds(2), provider: "p") } }
        await clock.waitForSleepers(2)
        #expect(clock.sleepingUntil.last == clock.now.advanced(by: .seconds(2)))
        let refused = await providerError { try await limiter.acquire(.wait, maximumWait: .seconds(2), provider: "p") }
        #expect(refused?.kind == .rateLimitedLocally)
        #expect(refused?.retryAfter == .seconds(3))
        clock.advance(by: .seconds(1))
        try await waiting[0].value
        // The refusal reserved nothing: the next call waits 2 s, behind the one still waiting.
        let next = Task { try await limiter.acquire(.wait, maximumWait: .seconds(2), provider: "p") }
        await clock.waitForSleepers(2)
        #expect(clock.sleepingUntil.last == clock.now.advanced(by: .seconds(2)))
        clock.advance(by: .seconds(2))
        try await waiting[1].value
        try await next.value
    }

    @Test func pendingLimiterHandsSlotsToWaitersInOrder() async throws {
        let limiter = PendingTaskLimiter(capacity: 1)
        try await limiter.acquire(.wait, provider: "p")
        let failFast = await providerError { try await limiter.acquire(.failFast, provider: "p") }
        #expect(failFast?.kind == .rateLimitedLocally)
        let waiter = Task { try await limiter.acquire(.wait, provider: "p") }
        try await eventually { await limiter.waiting == 1 }
        await limiter.release()
        try await waiter.value
        #expect(await limiter.count == 1)
    }

    @Test func cancelledWaiterGivesUp() async throws {
        let limiter = PendingTaskLimiter(capacity: 1)
        try await limiter.acquire(.wait, provider: "p")
        let waiter = Task { try await limiter.acquire(.wait, provider: "p") }
        try await eventually { await limiter.waiting == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await limiter.release()
        #expect(await limiter.count == 0)
    }

    @Test func environmentIsReadAndSecretsAreRedacted() {
        let environment = ProviderEnvironment(environment: [
            "VIDEOMETER_BLOCKRUN_URL": "https://blockrun.ai/api",
            "VIDEOMETER_BLOCKRUN_PAYMENT": "pay-secret-123",
            "VIDEOMETER_WORLDROUTER_KEY": "wr-secret-456",
        ])
        #expect(environment.isBlockRunConfigured && environment.isWorldRouterConfigured)
        #expect(environment.blockRunConfiguration().baseURL == "https://blockrun.ai/api")
        #expect(environment.blockRunConfiguration().payment?.value == "pay-secret-123")
        #expect(environment.worldRouterConfiguration()?.baseURL == WorldRouterClient.Configuration.defaultBaseURL)
        let shown = "\(environment) \(environment.worldRouterConfiguration()!) \(environment.blockRunConfiguration())"
        #expect(!shown.contains("pay-secret-123") && !shown.contains("wr-secret-456"))
        let empty = ProviderEnvironment(environment: ["VIDEOMETER_WORLDROUTER_KEY": " "])
        #expect(!empty.isWorldRouterConfigured && !empty.isBlockRunConfigured)
        #expect(empty.blockRunConfiguration().baseURL == "http://127.0.0.1:8402")
    }

    @Test func badBaseURLIsAConfigurationError() {
        #expect(throws: ProviderError.self) { try blockRun("ftp://example.com") }
    }
}

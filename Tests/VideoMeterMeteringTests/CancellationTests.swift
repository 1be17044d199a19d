import Foundation
import Testing
import VideoMeter
import VideoMeterEmulator
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterTesting

/// Cancelling the calling task, or a process stopping mid-call, leaves nothing unresolvable.
///
/// Calls and tasks stay in flight until the test releases them (``Emulator/setLatency(_:)``), so
/// "in flight" holds however slow the machine; every step waits for an observable condition (the
/// emulator admitted the call, the ledger recorded the task), never a fixed time.
@Suite("Cancellation and calls left behind")
struct CancellationTests {
    @Test func aCancelledSyncCallIsVoidedBecauseAbandonmentCostsNothing() async throws {
        let fixture = try await MeteringFixture.make(blockRun: .init(style: .blockrun, latency: .seconds(3600), maxSyncDuration: .seconds(7200)))
        try await fixture.team()
        let call = Task {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: "abandoned"))
        }
        try await eventually { await fixture.blockRun.stats().created == 1 }
        call.cancel()
        _ = await call.result
        await fixture.blockRun.setLatency(.zero)
        let hold = try #require(try await fixture.ledger.holds().first)
        #expect(hold.state == .voided)
        #expect(hold.callStatus == .cancelled)
        #expect(hold.postedMicro == 0)
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.status) == ["cancelled"])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aCancelledPollLeavesTheTaskToReconciliation() async throws {
        let fixture = try await MeteringFixture.make(worldRouter: .init(style: .worldrouter, latency: .seconds(3600)))
        try await fixture.team()
        let call = Task {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "left", durationSeconds: 2))
        }
        try await eventually { try await fixture.ledger.holds().first?.upstreamTaskID != nil }
        call.cancel()
        _ = await call.result
        let pending = try #require(try await fixture.ledger.holds().first)
        #expect(pending.state == .pending)
        #expect(try await fixture.balance() == (0, 140_000))
        await fixture.worldRouter.setLatency(.zero)
        let report = try await fixture.client.reconcile(waitFor: .seconds(20))
        #expect(report.settled.map(\.chargedMicro) == [140_000])  // 2 s x 0.07
        #expect(try await fixture.balance() == (140_000, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aCallCancelledWhileWaitingForAPendingSlotIsVoidedAndNeverSent() async throws {
        let fixture = try await MeteringFixture.make(
            worldRouter: .init(style: .worldrouter, latency: .seconds(3600)),
            worldRouterLimits: ProviderLimits(maxPendingTasks: 1, whenExceeded: .wait))
        try await fixture.team()
        let first = Task {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "first", durationSeconds: 1))
        }
        try await eventually { try await fixture.ledger.holds().first?.upstreamTaskID != nil }
        let second = Task {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "second", durationSeconds: 1))
        }
        // Recorded as submitted: the next step is the wait for the pending slot (or the send).
        try await eventually {
            let holds = try await fixture.ledger.holds()
            return holds.count == 2 && holds[1].callStatus == .submitted
        }
        second.cancel()
        _ = await second.result
        let waiting = try #require(try await fixture.ledger.holds().last)
        #expect(waiting.state == .voided)
        #expect(waiting.callStatus == .cancelled)
        #expect(waiting.upstreamTaskID == nil)
        await fixture.worldRouter.setLatency(.zero)
        // The first call still finishes and is charged 1 s x 0.07; the second never reached the upstream.
        let outcome = try await first.value
        #expect(outcome.chargedMicro == 70_000)
        #expect(await fixture.worldRouter.stats().created == 1)
        #expect(try await fixture.balance() == (70_000, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    /// A call the seller's requests-per-minute limit would hold back longer than `maximumWait` is
    /// refused (`rate_limited_locally`, with the wait), and its hold is voided: nothing is sent,
    /// nothing charged, nothing left held.
    @Test func aCallTheRateLimitWouldHoldBackTooLongIsRefusedAndItsHoldVoided() async throws {
        let fixture = try await MeteringFixture.make(
            worldRouterLimits: ProviderLimits(requestsPerMinute: 1, burst: 1, whenExceeded: .wait, maximumWait: .seconds(5)))
        try await fixture.team()
        let first = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "first", durationSeconds: 1))
        #expect(first.chargedMicro == 70_000)
        do {
            _ = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "second", durationSeconds: 1))
            Issue.record("the second call within the minute should have been refused")
        } catch let error as ProviderError {
            #expect(error.kind == .rateLimitedLocally)
            #expect(error.retryAfter.map { $0 > .seconds(50) && $0 <= .seconds(60) } == true, "\(String(describing: error.retryAfter))")
        }
        let refused = try #require(try await fixture.ledger.holds().last)
        #expect(refused.state == .voided && refused.upstreamTaskID == nil)
        #expect(await fixture.worldRouter.stats().created == 1)
        #expect(try await fixture.balance() == (70_000, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aSyncCallInFlightIsRecordedAsSentSoAnotherProcessSeesAnUnknown() async throws {
        let fixture = try await MeteringFixture.make(blockRun: .init(style: .blockrun, latency: .seconds(3600), maxSyncDuration: .seconds(7200)))
        try await fixture.team()
        let call = Task {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "in flight"))
        }
        try await eventually { await fixture.blockRun.stats().created == 1 }
        let inFlight = try #require(try await fixture.ledger.holds().first)
        #expect(inFlight.callStatus == .submitted)
        // Another process (its own client, same ledger) cannot tell a crashed call from one in
        // flight elsewhere: it lists the call as unknown and leaves the hold alone.
        let other = MeteredClient(catalog: fixture.client.catalog, ledger: fixture.ledger, providers: [:], clock: fixture.clock)
        let report = try await other.reconcile()
        #expect(report.unknown.map(\.id) == [inFlight.id])
        #expect(report.neverSent.isEmpty)
        // This process's own reconciliation knows the call is still being sent.
        #expect(try await fixture.client.reconcile().unknown.isEmpty)
        await fixture.blockRun.setLatency(.zero)
        let outcome = try await call.value
        #expect(outcome.chargedMicro == 157_500)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func reconciliationVoidsAsyncHoldsThatWereNeverSent() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        // What a process killed between its hold and its create leaves behind: an async hold,
        // still `held`, with no task id. A sync hold is recorded as sent from the start.
        func hold(_ key: String, provider: String, model: String, submitted: Bool) async throws -> Hold {
            try await fixture.ledger.hold(HoldRequest(
                team: "acme", idempotencyKey: key, fingerprint: key, amountMicro: 560_000, timeoutSeconds: 10_800,
                provider: provider, model: model, resolution: "720p", seconds: 8, catalogVersion: "test",
                quoteJSON: "{}", upstreamCostMicro: 560_000, marginMicro: 0, submitted: submitted)).hold
        }
        let abandoned = try await hold("abandoned", provider: "worldrouter", model: "grok-imagine-video", submitted: false)
        let sync = try await hold("sync", provider: "blockrun", model: "xai/grok-imagine-video", submitted: true)
        fixture.clock.advance(by: 61)
        let recent = try await hold("recent", provider: "worldrouter", model: "grok-imagine-video", submitted: false)

        let report = try await fixture.client.reconcile()
        #expect(report.neverSent.map(\.id) == [abandoned.id])
        #expect(report.unknown.map(\.id) == [sync.id])
        #expect(try await fixture.ledger.hold(id: abandoned.id).state == .voided)
        #expect(try await fixture.ledger.hold(id: recent.id).state == .pending)
        #expect(try await fixture.balance() == (0, 1_120_000))
        #expect(await fixture.worldRouter.stats().created == 0)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

@Suite("Metering: idempotency, budgets, bad input, reconciliation")
struct MeteringBehaviourTests {
    @Test func exactlyKOf200ConcurrentCallsReachTheUpstream() async throws {
        let fixture = try await MeteringFixture.make()
        // seedance-1.5-pro default = 157,500 micro; the budget fits exactly 7.
        try await fixture.team(monthly: 157_500 * 7 + 157_499)
        let results = await withTaskGroup(of: String.self, returning: [String].self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        let outcome = try await fixture.client.generate(MeteredRequest(
                            team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "call \(index)"))
                        return outcome.status.rawValue
                    } catch let error as any CodedError {
                        return error.code
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 == "succeeded" }.count == 7)
        #expect(results.filter { $0 == "budget_exceeded" }.count == 193)
        let stats = await fixture.blockRun.stats()
        #expect(stats.created == 7)
        #expect(try await fixture.balance() == (1_102_500, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aReplayedKeyReturnsTheFirstResultWithoutCallingTheUpstreamAgain() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let request = MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: "a fox", idempotencyKey: "order-42")
        let first = try await fixture.client.generate(request)
        let second = try await fixture.client.generate(request)
        #expect(first.chargedMicro == 420_000)
        #expect(second.chargedMicro == 420_000)
        #expect(second.replayed)
        #expect(second.holdID == first.holdID)
        #expect(await fixture.blockRun.stats().created == 1)
        #expect(try await fixture.balance() == (420_000, 0))

        var other = request
        other.prompt = "a wolf"
        #expect(await thrownCode { try await fixture.client.generate(other) } == "idempotency_key_reused")
        #expect(await fixture.blockRun.stats().created == 1)
        await fixture.shutdown()
    }

    @Test func badInputNeverReachesTheUpstreamNorTouchesTheLedger() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let cases: [(MeteredRequest, String)] = [
            (MeteredRequest(team: "acme", model: "nope", prompt: "x"), "unknown_model"),
            (MeteredRequest(team: "acme", model: "bytedance/seedance-2.0", prompt: "x", durationSeconds: 11), "duration_above_max"),
            (MeteredRequest(team: "acme", model: "bytedance/seedance-2.0", prompt: "x", durationSeconds: -1), "invalid_duration"),
            (MeteredRequest(team: "acme", model: "bytedance/seedance-2.0", prompt: "  "), "empty_prompt"),
            (MeteredRequest(team: "acme", model: "grok-imagine-video-1.5-preview", prompt: "x"), "image_required"),
            (MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "x", imageURL: "javascript:alert(1)"), "invalid_image_url"),
            (MeteredRequest(team: "nobody", model: "grok-imagine-video", prompt: "x"), "unknown_team"),
            (MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: String(repeating: "a", count: 5000)), "prompt_too_long"),
        ]
        for (request, code) in cases {
            #expect(await thrownCode { try await fixture.client.generate(request) } == code)
        }
        #expect(await fixture.blockRun.stats().created == 0)
        #expect(await fixture.worldRouter.stats().created == 0)
        let holds = try await fixture.ledger.holds()
        #expect(holds.isEmpty)
        await fixture.shutdown()
    }

    @Test func reconciliationSettlesATaskLeftRunningByAnEarlierClient() async throws {
        let fixture = try await MeteringFixture.make(worldRouter: .init(style: .worldrouter, latency: .milliseconds(40)))
        try await fixture.team()
        let started = try await fixture.client.start(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "left behind", durationSeconds: 4))
        guard case .running(let call) = started else {
            Issue.record("expected a running task")
            return
        }
        // Nobody polls; a reconciliation pass that waits settles it.
        let report = try await fixture.client.reconcile(waitFor: .seconds(5))
        #expect(report.settled.map(\.holdID) == [call.holdID])
        #expect(report.settled.first?.chargedMicro == 280_000)  // 4 x 0.07
        #expect(try await fixture.balance() == (280_000, 0))
        await fixture.shutdown()
    }

    @Test func aTaskThatSucceedsAfterItsHoldExpiredIsALateSuccessNotACharge() async throws {
        let fixture = try await MeteringFixture.make(
            worldRouter: .init(style: .worldrouter, latency: .milliseconds(30)),
            configuration: .init(asyncHoldTimeout: .seconds(60), pollPolicy: fastPolling))
        try await fixture.team()
        guard case .running(let call) = try await fixture.client.start(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "slow one")) else {
            Issue.record("expected a running task")
            return
        }
        fixture.clock.advance(by: 61)
        // The pass finds the hold past its deadline: expired, whether or not the task has finished.
        _ = try await fixture.client.reconcile()
        #expect(try await fixture.ledger.hold(id: call.holdID).state == .expired)
        // Settling the expired hold does not charge it.
        let outcome = try await fixture.client.finish(holdID: call.holdID)
        #expect(outcome.holdState == .expired)
        #expect(outcome.chargedMicro == 0)
        // The task finishes upstream afterwards (reading it advances the emulator's task); the
        // next pass finds the success.
        let upstream = try fixture.client.provider("worldrouter")
        _ = try await TaskPoller(provider: upstream, policy: fastPolling, clock: ContinuousClock()).poll(taskID: call.taskID)
        let stats = await fixture.worldRouter.stats()
        #expect(stats.tasks[call.taskID]?.status == "succeeded")
        let late = try await fixture.client.reconcile()
        #expect(late.lateSuccesses.map(\.holdID) == [call.holdID])
        #expect(late.lateSuccesses.first?.amountMicro == 560_000)  // 8 s x 0.07, not charged
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func fingerprintsIgnoreHowTheDefaultWasAskedFor() throws {
        let catalog = try Catalog.bundled()
        let date = CatalogDate.parse("2026-11-21")!
        let implicit = MeteredRequest(team: "a", model: "xai/grok-imagine-video", prompt: "p")
        var explicit = implicit
        explicit.durationSeconds = 8
        var other = implicit
        other.prompt = "q"
        let fingerprint = { (request: MeteredRequest) in request.fingerprint(for: try catalog.quote(request.quoteRequest, at: date)) }
        #expect(try fingerprint(implicit) == fingerprint(explicit))
        #expect(try fingerprint(implicit) != fingerprint(other))
        #expect(try fingerprint(implicit).hasPrefix("sha256:"))
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// One test per row of DESIGN.md's outcome table, over real HTTP against the emulator, with the
/// exact ledger effect and the usage event.
@Suite("Metered calls settle as the outcome table says")
struct OutcomeTableTests {
    @Test func blockRunSuccessIsPostedForTheReportedSeconds() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let outcome = try await fixture.client.generate(MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "a red apple"))
        #expect(outcome.status == .succeeded)
        #expect(outcome.holdState == .posted)
        #expect(outcome.heldMicro == 157_500)
        #expect(outcome.chargedMicro == 157_500)
        #expect(outcome.billedSeconds == 5)
        #expect(outcome.videoURL?.hasPrefix(fixture.blockRunURL) == true)
        #expect(try await fixture.balance() == (157_500, 0))
        let events = try await fixture.ledger.usageEvents(team: "acme")
        #expect(events.count == 1)
        #expect(events.first?.status == "succeeded")
        #expect(events.first?.chargedMicro == 157_500)
        #expect(events.first?.upstreamCostMicro == 150_000)
        #expect(events.first?.marginMicro == 7_500)
        #expect(events.first?.upstreamRequestID != nil)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func blockRun504IsVoidedAndCostsNothing() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let code = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "bytedance/seedance-2.0", prompt: "slow [emulate:timeout]"))
        }
        #expect(code == "upstream_timeout")
        #expect(try await fixture.balance() == (0, 0))
        let events = try await fixture.ledger.usageEvents(team: "acme")
        #expect(events.map(\.status) == ["timed_out"])
        #expect(events.first?.chargedMicro == 0)
        #expect(events.first?.heldMicro == 1_575_000)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test(arguments: [
        ("[emulate:payment_required]", 402, "rejected"),
        ("[emulate:rejected]", 403, "rejected"),
        ("[emulate:rate_limited]", 429, "rejected"),
        ("[emulate:failed]", 500, "failed"),
    ])
    func blockRunErrorsAreVoidedAndPassedOnWithTheirStatus(tag: String, status: Int, callStatus: String) async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        do {
            _ = try await fixture.client.generate(MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: "a cat \(tag)"))
            Issue.record("expected an upstream error")
        } catch let error as ProviderError {
            #expect(error.httpStatus == status)
        }
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.status) == [callStatus])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func blockRun400IsVoidedAndPassedOn() async throws {
        // Our catalog allows 9 s for this fixture model; the upstream (8 s max) refuses it with 400.
        let json = try String(decoding: Catalog.bundledFiles().first { $0.name == "blockrun.json" }!.data, as: UTF8.self)
            .replacingOccurrences(of: #""duration": { "default": 8, "min": 1, "max": 8 }"#, with: #""duration": { "default": 8, "min": 1, "max": 9 }"#)
        let catalog = try Catalog.decode(files: [("blockrun.json", Data(json.utf8))] + Catalog.bundledFiles().filter { $0.name != "blockrun.json" })
        let fixture = try await MeteringFixture.make(catalog: catalog)
        try await fixture.team()
        do {
            _ = try await fixture.client.generate(MeteredRequest(team: "acme", model: "xai/grok-imagine-video", prompt: "a cat", durationSeconds: 9))
            Issue.record("expected 400")
        } catch let error as ProviderError {
            #expect(error.httpStatus == 400)
        }
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.status) == ["rejected"])
        await fixture.shutdown()
    }

    @Test func worldRouterSuccessIsPostedOnceHoweverOftenPolled() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let started = try await fixture.client.start(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "a drone flyover", durationSeconds: 6, resolution: "480p"))
        guard case .running(let call) = started else {
            Issue.record("expected a running task")
            return
        }
        // The task id is on the hold before any polling.
        #expect(try await fixture.ledger.hold(id: call.holdID).upstreamTaskID == call.taskID)
        // Three pollers at once, then two more after the settlement.
        async let first = fixture.client.finish(holdID: call.holdID)
        async let second = fixture.client.finish(holdID: call.holdID)
        async let third = fixture.client.finish(holdID: call.holdID)
        let outcomes = try await [first, second, third]
        let again = try await fixture.client.finish(holdID: call.holdID)
        let reconciled = try await fixture.client.reconcile()
        #expect(outcomes.allSatisfy { $0.chargedMicro == 300_000 && $0.holdState == .posted })  // 6 s x 0.05
        #expect(again.chargedMicro == 300_000)
        #expect(reconciled.settled.isEmpty)
        #expect(try await fixture.balance() == (300_000, 0))
        let journal = try await fixture.ledger.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journalEntry WHERE kind = 'post'")
        }
        #expect(journal == 1)
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.chargedMicro) == [300_000])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func worldRouterUnknownResolutionFallsBackTo720pAndAddsTheImageFee() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let outcome = try await fixture.client.generate(MeteredRequest(
            team: "acme", model: "grok-imagine-video-1.5-preview", prompt: "pan slowly", durationSeconds: 5, resolution: "1080p",
            imageURL: "https://example.com/start.png"))
        #expect(outcome.resolution == "720p")
        #expect(outcome.chargedMicro == 710_000)  // 5 x 0.14 + 0.01
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test(arguments: [("[emulate:failed]", CallStatus.failed), ("[emulate:cancelled]", .cancelled), ("[emulate:expired]", .expired)])
    func worldRouterTasksThatDoNotSucceedCostNothing(tag: String, status: CallStatus) async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let outcome = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "a storm \(tag)"))
        #expect(outcome.status == status)
        #expect(outcome.holdState == .voided)
        #expect(outcome.chargedMicro == 0)
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.status) == [status.rawValue])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test(arguments: [
        ("[emulate:rejected]", "invalid_request"),
        ("[emulate:payment_required]", "grok_video_balance_too_low"),
        ("[emulate:rate_limited]", "grok_video_too_many_pending_tasks"),
        ("[emulate:upstream_failure]", "upstream_failure"),
    ])
    func worldRouterCreateErrorsAreVoidedAndPassedOn(tag: String, code: String) async throws {
        let fixture = try await MeteringFixture.make(createRetry: CreateRetryPolicy(maxAttempts: 2, initialInterval: .milliseconds(1), maxInterval: .milliseconds(2)))
        try await fixture.team()
        let thrown = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "x \(tag)"))
        }
        #expect(thrown == code)
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").count == 1)
        let stats = await fixture.worldRouter.stats()
        #expect(stats.created == 0)
        // A 424 created no task, so it was retried (two attempts in this policy); nothing else was.
        #expect(stats.upstreamFailures == (tag == "[emulate:upstream_failure]" ? 2 : 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func worldRouter403ForAKeyWithoutTeamIsPassedOn() async throws {
        let fixture = try await MeteringFixture.make(
            worldRouter: .init(style: .worldrouter, latency: .milliseconds(5), keysWithoutTeam: ["loose-key"]), worldRouterKey: "loose-key")
        try await fixture.team()
        let thrown = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "x"))
        }
        #expect(thrown == "grok_video_team_required")
        #expect(try await fixture.balance() == (0, 0))
        await fixture.shutdown()
    }

    @Test func aTransportErrorAfterSendingLeavesTheCallUnknownUntilReconciled() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let thrown = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "lost [emulate:drop]"))
        }
        #expect(thrown == "outcome_unknown")
        #expect(try await fixture.balance() == (0, 157_500))
        let report = try await fixture.client.reconcile()
        #expect(report.unknown.count == 1)
        #expect(report.unknown.first?.callStatus == .unknown)
        // Past the sync hold's deadline (900 s) the sweeper voids it: nothing is charged.
        fixture.clock.advance(by: 901)
        let later = try await fixture.client.reconcile()
        #expect(later.expired.count == 1)
        #expect(later.unknown.isEmpty)
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").map(\.status) == ["expired"])
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }
    @Test func aShorterVideoThanHeldIsChargedForTheSecondsTheUpstreamReports() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        // 8 s held at 0.030 x 1.05 = 0.252000; the upstream delivers and reports 4 s.
        let sync = try await fixture.client.generate(MeteredRequest(team: "acme", model: "bytedance/seedance-1.5-pro", prompt: "short [emulate:shorter]", durationSeconds: 8))
        #expect(sync.heldMicro == 252_000)
        #expect(sync.chargedMicro == 126_000)  // 4 x 0.030 x 1.05
        #expect(sync.billedSeconds == 4)
        // Read back from the ledger (a replay, the gateway's task view), it is still 4 s.
        let stored = try await fixture.ledger.hold(id: sync.holdID)
        #expect(stored.billedSeconds == 4)
        #expect(try await fixture.client.outcome(of: stored, replayed: true).billedSeconds == 4)
        // 6 s held at 720p, 0.07/s = 0.420000; the task reports 3 s.
        let task = try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "short [emulate:shorter]", durationSeconds: 6, resolution: "720p"))
        #expect(task.heldMicro == 420_000)
        #expect(task.chargedMicro == 210_000)
        #expect(task.billedSeconds == 3)
        let events = try await fixture.ledger.usageEvents(team: "acme")
        #expect(events.map(\.billedSeconds) == [4, 3])
        #expect(events.map(\.chargedMicro) == [126_000, 210_000])
        #expect(events.map(\.upstreamCostMicro) == [120_000, 210_000])
        #expect(try await fixture.balance() == (336_000, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func anAsyncCreateWhoseAnswerIsLostIsUnknownAndNeverCharged() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let thrown = await thrownCode {
            try await fixture.client.generate(MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "lost [emulate:drop]", durationSeconds: 2))
        }
        #expect(thrown == "outcome_unknown")
        // The task exists upstream, but its id never reached us: the hold is kept for review.
        #expect(await fixture.worldRouter.stats().created == 1)
        #expect(try await fixture.balance() == (0, 140_000))
        let report = try await fixture.client.reconcile()
        #expect(report.unknown.map(\.callStatus) == [.unknown])
        #expect(report.unknown.first?.upstreamTaskID == nil)
        // At the async hold's deadline (3 h) it expires uncharged; it stays listed as expired.
        fixture.clock.advance(by: 3 * 3600 + 1)
        let later = try await fixture.client.reconcile()
        #expect(later.expired.count == 1)
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }
}

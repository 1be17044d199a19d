import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterTesting

/// Two metering processes (two clients with their own lease owners and their own `Ledger` on one
/// file, on one stopped clock) share settlement through the ledger's leases: only the owner of a
/// call polls it; when the owner stops without a word, the other takes its calls over once the
/// lease lapses (within two reconcile intervals) and settles each exactly once; a call a live
/// owner may still be sending is never voided or listed as unknown by the other.
@Suite("Settlement leases between metering processes")
struct SettlementLeaseTests {
    /// The lease, and so the reconcile interval of the processes modelled here.
    static let interval: Duration = .seconds(10)

    struct Pair {
        let fixture: MeteringFixture
        let a: MeteredClient
        let b: MeteredClient
        let ledgerB: Ledger
    }

    /// Process A is the fixture's ledger with a client owning `gw-a`; process B opens the same
    /// file with a client owning `gw-b`. Both lease their calls for ``interval``.
    func pair() async throws -> Pair {
        var configuration = MeteredClient.Configuration(pollPolicy: fastPolling, leaseOwner: "gw-a", leaseDuration: Self.interval, leasesCalls: true)
        let fixture = try await MeteringFixture.make(configuration: configuration)
        try await fixture.team()
        configuration.leaseOwner = "gw-b"
        let ledgerB = try Ledger(path: fixture.ledgerPath, clock: fixture.clock)
        let b = MeteredClient(catalog: fixture.client.catalog, ledger: ledgerB, providers: fixture.providers, clock: fixture.clock, configuration: configuration)
        return Pair(fixture: fixture, a: fixture.client, b: b, ledgerB: ledgerB)
    }

    static let task = MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "a lighthouse in a storm", durationSeconds: 6, resolution: "720p")

    @Test func onlyTheOwnerPollsAndAfterItDiesAnotherSettlesItsTaskOnceWithinTwoIntervals() async throws {
        let pair = try await pair()
        let fixture = pair.fixture
        guard case .running(let call) = try await pair.a.start(Self.task) else {
            Issue.record("an async call starts running")
            return
        }
        #expect(try await fixture.ledger.lease(holdID: call.holdID)?.owner == "gw-a")
        // The task is over upstream; no one has read it yet.
        try await eventually { await fixture.worldRouter.stats().completed == 1 }

        // B's pass sees the call leased to a live A and leaves it alone: had B read the task, it
        // would have settled it.
        var report = try await pair.b.reconcile()
        #expect(report.leasedElsewhere.map(\.id) == [call.holdID])
        #expect(report.settled.isEmpty && report.stillRunning.isEmpty && report.unknown.isEmpty)
        #expect(try await fixture.ledger.hold(id: call.holdID).state == .pending)

        // A renews at t0, then dies (kill -9: nothing released). B passes every interval; its
        // passes at t0 + 9 s still find the lease live, the next (t0 + 19 s, within two intervals
        // of A's death) takes the call over and settles it: 6 s x 0.07 USD.
        #expect(try await pair.a.renewLeases() == [call.holdID])
        fixture.clock.advance(by: 9)
        report = try await pair.b.reconcile()
        #expect(report.leasedElsewhere.map(\.id) == [call.holdID])
        #expect(report.settled.isEmpty)
        fixture.clock.advance(by: 10)
        report = try await pair.b.reconcile()
        #expect(report.settled.map(\.holdID) == [call.holdID])
        #expect(report.settled.first?.chargedMicro == 420_000)
        #expect(report.leasedElsewhere.isEmpty)

        // Exactly once: A, back from a stall, and B's next pass find it settled.
        #expect(try await pair.a.renewLeases() == [])
        guard case .resolved = try await pair.a.advance(holdID: call.holdID) else {
            Issue.record("the call is settled already")
            return
        }
        #expect(try await pair.b.reconcile().settled.isEmpty)
        #expect(try await fixture.balance() == (420_000, 0))
        #expect(try await fixture.ledger.usageEvents(team: "acme").count == 1)
        #expect(await fixture.worldRouter.stats().completed == 1)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aGracefulStopHandsItsCallsOverAtOnce() async throws {
        let pair = try await pair()
        let fixture = pair.fixture
        guard case .running(let call) = try await pair.a.start(Self.task) else {
            Issue.record("an async call starts running")
            return
        }
        try await eventually { await fixture.worldRouter.stats().completed == 1 }
        #expect(try await pair.b.reconcile().leasedElsewhere.map(\.id) == [call.holdID])
        // A stops gracefully: its leases go back, and B's next pass settles the call, no lease later.
        try await pair.a.releaseLeases()
        let report = try await pair.b.reconcile()
        #expect(report.settled.map(\.holdID) == [call.holdID])
        #expect(try await fixture.balance() == (420_000, 0))
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }

    @Test func aCallALiveOwnerMaySendIsNeverVoidedNorListedAsUnknownElsewhere() async throws {
        let pair = try await pair()
        let fixture = pair.fixture
        let lease = SettlementLease.Claim(owner: "gw-a", duration: Self.interval)
        // What A leaves in the ledger while it is between its hold and its create (an async call
        // still `held`), and while a sync call is on the wire (`submitted`, no task id): both
        // leased to A in their hold's commit.
        func hold(_ key: String, provider: String, model: String, submitted: Bool) async throws -> Hold {
            try await fixture.ledger.hold(HoldRequest(
                team: "acme", idempotencyKey: key, fingerprint: key, amountMicro: 560_000, timeoutSeconds: 10_800,
                provider: provider, model: model, resolution: "720p", seconds: 8, catalogVersion: "test",
                quoteJSON: "{}", upstreamCostMicro: 560_000, marginMicro: 0, submitted: submitted, async: !submitted,
                settlementLease: lease)).hold
        }
        let held = try await hold("held", provider: "worldrouter", model: "grok-imagine-video", submitted: false)
        let sending = try await hold("sending", provider: "blockrun", model: "xai/grok-imagine-video", submitted: true)
        // Long past the never-sent grace period, with A alive and renewing every half interval.
        for _ in 0..<14 {
            fixture.clock.advance(by: 5)
            #expect(try await pair.a.renewLeases() == [held.id, sending.id])
        }
        var report = try await pair.b.reconcile()
        #expect(report.neverSent.isEmpty)
        #expect(report.unknown.isEmpty)
        #expect(Set(report.leasedElsewhere.map(\.id)) == [held.id, sending.id])
        #expect(try await fixture.ledger.hold(id: held.id).state == .pending)

        // A dies: once its leases lapse, B voids the call that was never sent and lists the sync
        // call, sent with no answer, as unknown.
        fixture.clock.advance(by: 10)
        report = try await pair.b.reconcile()
        #expect(report.neverSent.map(\.id) == [held.id])
        #expect(report.unknown.map(\.id) == [sending.id])
        #expect(try await fixture.ledger.hold(id: held.id).state == .voided)
        #expect(try await fixture.balance() == (0, 560_000))
        #expect(await fixture.worldRouter.stats().created == 0)
        #expect(try await fixture.verified())
        await fixture.shutdown()
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
import VideoMeterLedgerPostgres
@testable import VideoMeterMetering
import VideoMeterTesting

/// A hold whose commit went unanswered (the database stopped after writing the commit, before
/// answering it: the caller got `ledger_unavailable` and nothing was sent) is released once the
/// ledger answers again, and only a hold that attempt made: never an earlier call's under the
/// same key, another request's, one another call of this process or another live gateway is
/// sending, or an async call already submitted. Each case commits the hold as the unanswered
/// attempt would have, on a real ledger file, and then takes the look the metered client takes.
@Suite("Holds whose commit went unanswered")
struct UnansweredHoldTests {
    static let sync = MeteredRequest(team: "acme", provider: "blockrun", model: "xai/grok-imagine-video", prompt: "a harbour at dawn", durationSeconds: 6, resolution: "720p")
    static let async = MeteredRequest(team: "acme", model: "grok-imagine-video", prompt: "a lighthouse in a storm", durationSeconds: 6, resolution: "720p")

    func fixture() async throws -> MeteringFixture {
        let fixture = try await MeteringFixture.make(configuration: .init(pollPolicy: fastPolling, leaseOwner: "gw-a", leaseDuration: .seconds(10), leasesCalls: true))
        try await fixture.team()
        return fixture
    }

    /// The queue of requests waiting for the ledger stays bounded through an outage: a retry of a
    /// waiting request (same key and fingerprint) adds nothing, and past its capacity later
    /// requests are not queued (only commits in flight when the database went away can have left
    /// a hold; those are the first of the outage).
    @Test func theQueueOfUnansweredRequestsIsBoundedAndKeepsTheFirst() async throws {
        let fixture = try await fixture()
        let client = fixture.client
        let priced = try client.price(Self.sync)
        let start = fixture.clock.now()
        var queue = UnansweredQueue()
        let first = try client.holdRequest(for: priced, key: "retried")
        var added = queue.add(first, attemptedAt: start)
        #expect(added)
        added = queue.add(first, attemptedAt: start.addingTimeInterval(1))
        #expect(!added)
        #expect(queue.entries.map(\.attemptedAt) == [start])
        var other = first
        other.fingerprint += "-other"
        added = queue.add(other, attemptedAt: start)
        #expect(added)
        for index in queue.entries.count..<UnansweredQueue.capacity {
            added = queue.add(try client.holdRequest(for: priced, key: "k\(index)"), attemptedAt: start)
            #expect(added)
        }
        added = queue.add(try client.holdRequest(for: priced, key: "one-too-many"), attemptedAt: start)
        #expect(!added)
        #expect(queue.entries.count == UnansweredQueue.capacity && queue.refused == 1 && queue.refusedTotal == 1)
        #expect(queue.entries.last?.request.idempotencyKey == "k\(UnansweredQueue.capacity - 1)")
        queue.remove([queue.entries[0].id])
        added = queue.add(first, attemptedAt: start.addingTimeInterval(2))
        #expect(added, "a request whose look is over may wait again")
        #expect(queue.waiting.count == queue.entries.count)
    }

    @Test func aSyncHoldThatCommittedUnansweredIsVoidedAndNothingIsCharged() async throws {
        let fixture = try await fixture()
        let client = fixture.client
        let request = try client.holdRequest(for: try client.price(Self.sync), key: "vm-unanswered-1")
        let attemptedAt = fixture.clock.now()
        _ = try await fixture.ledger.hold(request)
        // 6 s at 720p, 0.05 USD a second plus a 5 % margin.
        #expect(try await fixture.balance() == (0, 315_000))

        guard case .released(let hold) = try await client.releaseIfUnanswered(request, attemptedAt: attemptedAt) else {
            Issue.record("the attempt's own hold is released")
            return
        }
        #expect(hold.state == .voided && hold.postedMicro == 0)
        #expect(try await fixture.balance() == (0, 0))
        // Exactly once: a second look finds nothing to release.
        #expect(try await client.releaseIfUnanswered(request, attemptedAt: attemptedAt) == .nothingToRelease)
        #expect(try await fixture.verified())
    }

    @Test func anAsyncHoldIsVoidedOnlyWhileNothingHasBeenSent() async throws {
        let fixture = try await fixture()
        let client = fixture.client
        let held = try client.holdRequest(for: try client.price(Self.async), key: "vm-unanswered-held")
        let attemptedAt = fixture.clock.now()
        _ = try await fixture.ledger.hold(held)
        guard case .released = try await client.releaseIfUnanswered(held, attemptedAt: attemptedAt) else {
            Issue.record("a held async call is released")
            return
        }
        // Marked submitted (its create may be on the wire): left alone, still held.
        let submitted = try client.holdRequest(for: try client.price(Self.async), key: "vm-unanswered-submitted")
        let receipt = try await fixture.ledger.hold(submitted)
        try await fixture.ledger.markSubmitted(holdID: receipt.hold.id, upstreamTaskID: nil)
        #expect(try await client.releaseIfUnanswered(submitted, attemptedAt: attemptedAt) == .nothingToRelease)
        #expect(try await fixture.ledger.hold(id: receipt.hold.id).state == .pending)
        #expect(try await fixture.balance() == (0, 420_000))
    }

    @Test func aHoldThatIsNotThisAttemptsIsLeftAlone() async throws {
        let fixture = try await fixture()
        let client = fixture.client
        let priced = try client.price(Self.sync)

        // Never committed: nothing under the key.
        let absent = try client.holdRequest(for: priced, key: "client-key-absent")
        #expect(try await client.releaseIfUnanswered(absent, attemptedAt: fixture.clock.now()) == .nothingToRelease)

        // An earlier call under the same client key, made before this attempt began.
        let earlier = try client.holdRequest(for: priced, key: "client-key-earlier")
        _ = try await fixture.ledger.hold(earlier)
        fixture.clock.advance(by: 1)
        #expect(try await client.releaseIfUnanswered(earlier, attemptedAt: fixture.clock.now()) == .nothingToRelease)

        // Another request (another prompt) under the key.
        var other = Self.sync
        other.prompt = "a different harbour"
        let attemptedAt = fixture.clock.now()
        _ = try await fixture.ledger.hold(try client.holdRequest(for: try client.price(other), key: "client-key-other"))
        #expect(try await client.releaseIfUnanswered(try client.holdRequest(for: priced, key: "client-key-other"), attemptedAt: attemptedAt) == .nothingToRelease)

        // Another live gateway took the key meanwhile and is sending the call: its lease, not ours.
        var elsewhere = try client.holdRequest(for: priced, key: "client-key-elsewhere")
        elsewhere.settlementLease = SettlementLease.Claim(owner: "gw-b", duration: .seconds(10))
        _ = try await fixture.ledger.hold(elsewhere)
        #expect(try await client.releaseIfUnanswered(elsewhere, attemptedAt: attemptedAt) == .nothingToRelease)
        #expect(try await fixture.ledger.lease(holdID: try #require(try await fixture.ledger.hold(idempotencyKey: "client-key-elsewhere")).id)?.owner == "gw-b")

        // Another call of this process is holding or sending under the key: look again later.
        let busy = try client.holdRequest(for: priced, key: "client-key-busy")
        _ = try await fixture.ledger.hold(busy)
        let began = client.keysInUse.withLock { $0.begin("client-key-busy") }
        #expect(began)
        #expect(try await client.releaseIfUnanswered(busy, attemptedAt: attemptedAt) == .keyInUse)
        client.keysInUse.withLock { $0.end("client-key-busy") }

        // Four calls still held, 0.315 USD each; only the last is this attempt's.
        #expect(try await fixture.balance() == (0, 1_260_000))
        guard case .released = try await client.releaseIfUnanswered(busy, attemptedAt: attemptedAt) else {
            Issue.record("once the key is free, the attempt's own hold is released")
            return
        }
        #expect(try await fixture.balance() == (0, 945_000))
    }

    /// While a release looks at a key, no attempt under it begins in this process (it waits), and
    /// while an attempt uses a key, no release looks at it: the release can never void the hold of
    /// an attempt that is about to send.
    @Test func aReleaseAndAnAttemptNeverUseAKeyAtOnce() {
        var keys = KeysInUse()
        var answers: [Bool] = []
        answers.append(keys.reserve("k"))  // a release looks at k
        answers.append(keys.begin("k"))  // an attempt under k must wait
        answers.append(keys.reserve("k"))  // and so must a second release
        answers.append(keys.begin("other"))  // other keys are free
        keys.release("k")
        answers.append(keys.begin("k"))  // two attempts under k at once
        answers.append(keys.begin("k"))
        answers.append(keys.reserve("k"))  // no release while they run
        keys.end("k")
        answers.append(keys.reserve("k"))  // nor while one still does
        keys.end("k")
        answers.append(keys.reserve("k"))
        #expect(answers == [true, false, false, true, true, true, false, false, true])
    }

    /// Without settlement leases (the CLI's `generate`) nothing tells this process's sync hold from
    /// one another process is sending under the same key: it is left to its deadline.
    @Test func withoutLeasesASyncHoldIsLeftToItsDeadline() async throws {
        let fixture = try await MeteringFixture.make()
        try await fixture.team()
        let client = fixture.client
        let request = try client.holdRequest(for: try client.price(Self.sync), key: "vm-unleased")
        let attemptedAt = fixture.clock.now()
        _ = try await fixture.ledger.hold(request)
        #expect(try await client.releaseIfUnanswered(request, attemptedAt: attemptedAt) == .nothingToRelease)
        #expect(try await fixture.balance() == (0, 315_000))
    }

    @Test func theQueueWorksThroughEveryUnansweredAttemptAndStops() async throws {
        let fixture = try await fixture()
        let client = fixture.client
        let attemptedAt = fixture.clock.now()
        let committed = try client.holdRequest(for: try client.price(Self.sync), key: "vm-queued-committed")
        let lost = try client.holdRequest(for: try client.price(Self.async), key: "vm-queued-never-committed")
        _ = try await fixture.ledger.hold(committed)
        client.releaseWhenAnswered(committed, attemptedAt: attemptedAt)
        client.releaseWhenAnswered(lost, attemptedAt: attemptedAt)
        try await eventually { client.unanswered.withLock { !$0.draining && $0.entries.isEmpty } }
        #expect(try await fixture.balance() == (0, 0))
        #expect(try await fixture.ledger.hold(idempotencyKey: "vm-queued-committed")?.state == .voided)
        #expect(try await fixture.ledger.hold(idempotencyKey: "vm-queued-never-committed") == nil)
    }

    /// A metered client (leasing its calls as `gw-a`) on a fresh PostgreSQL ledger reached through
    /// a ``CommitDroppingProxy``, with emulated upstreams and team `acme` (100 USD a month).
    struct ThroughProxy {
        let proxy: CommitDroppingProxy
        let direct: PostgresLedger.Configuration
        let clock: ManualWallClock
        let ledger: PostgresLedger
        let upstreams: EmulatedUpstreams
        let client: MeteredClient

        static func make() async throws -> ThroughProxy? {
            guard let direct = try await PostgresTestServer.shared.freshDatabase() else { return nil }
            let (proxy, through) = try CommitDroppingProxy.inFront(of: direct)
            let clock = TestClock.manualWallClock()
            let ledger = try await PostgresLedger.open(through, clock: clock)
            let upstreams = try await EmulatedUpstreams.start(
                blockRun: .init(style: .blockrun, latency: .milliseconds(2)), worldRouter: .init(style: .worldrouter, latency: .milliseconds(2)),
                worldRouterKey: "team-key-a", timeout: .seconds(30), poll: fastPolling)
            let client = MeteredClient(
                catalog: try Catalog.bundled(), ledger: ledger, providers: upstreams.providers, clock: clock,
                configuration: .init(pollPolicy: fastPolling, leaseOwner: "gw-a", leaseDuration: .seconds(10), leasesCalls: true))
            try await ledger.createTeam(name: "acme")
            try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
            return ThroughProxy(proxy: proxy, direct: direct, clock: clock, ledger: ledger, upstreams: upstreams, client: client)
        }
    }

    /// End to end on PostgreSQL: the server commits a sync call's hold and the proxy in front of it
    /// cuts the connection instead of relaying the answer. The call fails with `ledger_unavailable`
    /// and is never sent; once the ledger answers again (new connections), the hold the server did
    /// commit is voided in the background, so the team has nothing pending and nothing charged.
    @Test func onPostgresAHoldWhoseCommitAnswerIsCutIsReleasedAndTheCallNeverSent() async throws {
        guard let pg = try await ThroughProxy.make() else { return }
        defer { pg.proxy.stop() }
        let (proxy, ledger, upstreams, client) = (pg.proxy, pg.ledger, pg.upstreams, pg.client)

        proxy.arm()
        do {
            _ = try await client.start(Self.sync)
            Issue.record("the call fails: its hold's commit went unanswered")
        } catch {
            #expect(error.isLedgerUnavailable, "\(error)")
        }
        #expect(proxy.droppedCommits == 1)
        #expect(await upstreams.blockRun.stats().created == 0)

        // Seen from a connection of its own: the server did commit the hold, and it is released.
        let observer = try await PostgresLedger.open(pg.direct, clock: pg.clock)
        try await eventually { try await observer.budgetStatus(team: "acme").monthPendingMicro == 0 }
        let holds = try await observer.holds(state: .voided)
        #expect(holds.count == 1 && holds.first?.amountMicro == 315_000 && holds.first?.postedMicro == 0)
        #expect(try await observer.budgetStatus(team: "acme").monthPostedMicro == 0)
        #expect(await upstreams.blockRun.stats().created == 0)
        #expect(try await observer.verify().problems == [])
        await observer.close()
        await ledger.close()
        await upstreams.shutdown()
    }

    /// The other side of the same fault: the hold's commit is answered, the charge's is cut after
    /// the server committed it. The settlement is written again until the ledger answers, finds the
    /// hold already posted, and the caller gets the charge: posted once, exactly 0.315 USD.
    @Test func onPostgresAChargeWhoseCommitAnswerIsCutIsPostedOnce() async throws {
        guard let pg = try await ThroughProxy.make() else { return }
        defer { pg.proxy.stop() }
        let (proxy, ledger, upstreams, client) = (pg.proxy, pg.ledger, pg.upstreams, pg.client)

        proxy.arm(skipping: 1)
        let outcome = try await client.generate(Self.sync)
        #expect(proxy.droppedCommits == 1)
        #expect(outcome.status == .succeeded && outcome.chargedMicro == 315_000)
        #expect(await upstreams.blockRun.stats().created == 1)
        let status = try await ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == 315_000 && status.monthPendingMicro == 0)
        #expect(try await ledger.holds(state: .posted).count == 1)
        #expect(try await ledger.verify().problems == [])
        await ledger.close()
        await upstreams.shutdown()
    }
}

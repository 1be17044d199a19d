import Foundation
import Testing
import VideoMeter
import Logging
import VideoMeterCatalog
import VideoMeterEmulator
@testable import VideoMeterGateway
import VideoMeterLedger
import VideoMeterLedgerPostgres
import VideoMeterMetering
import VideoMeterTesting

/// The gateway's settler and the ledger's settlement leases: each call the gateway holds is leased
/// to it from the hold's commit; a task whose lease it lost is no longer polled in the background
/// there; a graceful stop gives the leases back.
@Suite("The settler's settlement leases")
struct SettlerLeaseTests {
    static let grokTask = #"{"model": "grok-imagine-video", "prompt": "A drone flyover of a snowy mountain range at sunrise.", "duration": 6, "resolution": "720p"}"#

    @Test func aTaskWhoseLeaseIsLostIsNoLongerPolledHereAndAGracefulStopReleasesTheRest() async throws {
        // Tasks that outlive the test; an interval (and so a lease) long enough that only the
        // test renews.
        let gw = try await GatewayFixture.make(
            worldRouter: .init(style: .worldrouter, latency: .seconds(600), pendingCap: 100),
            configuration: .init(
                port: 0, reconcileInterval: .seconds(3600), settleRetryDelay: .milliseconds(50),
                metering: .init(pollPolicy: fastPolling, leaseOwner: "gw-a")))
        let key = try await gw.team("acme", budgetMicro: 10_000_000)
        await gw.gateway.settler.waitUntilReconciled()
        for _ in 0..<2 { #expect(try await gw.post("/v1/videos/generations", key: key, Self.grokTask).status == 200) }
        let holds = try await gw.ledger.openHolds().map(\.id)
        #expect(holds.count == 2)
        for id in holds {
            let lease = try #require(try await gw.ledger.lease(holdID: id))
            #expect(lease.owner == "gw-a")
        }
        #expect(gw.gateway.settler.trackedCount == 2)

        // This gateway stalled past its lease on the first task and another process took it over:
        // the next renewal finds it lost and stops polling it here; the other stays.
        try await gw.ledger.releaseLeases(holdIDs: [holds[0]], owner: "gw-a")
        #expect(try await gw.ledger.claimLeases(holdIDs: [holds[0]], owner: "gw-b", duration: .seconds(3600)) == [holds[0]])
        await gw.gateway.settler.renewLeases()
        #expect(gw.gateway.settler.trackedCount == 1)
        #expect(try await gw.ledger.lease(holdID: holds[1])?.owner == "gw-a")
        // /metrics says so: one lease held, one lost.
        let metrics = try await gw.get("/metrics", key: nil).text
        #expect(metrics.contains("videometer_gateway_settlement_leases_held 1.0"), "\(metrics)")
        #expect(metrics.contains("videometer_gateway_settlement_leases_lost_total 1"), "\(metrics)")
        #expect(metrics.contains("videometer_gateway_settlement_lease_renewals_failed_total 0"), "\(metrics)")
        #expect(metrics.contains("videometer_gateway_unanswered_holds_waiting 0"), "\(metrics)")
        #expect(metrics.contains("videometer_gateway_unanswered_holds_not_queued_total 0"), "\(metrics)")

        // A graceful stop gives the rest back: another gateway takes them over at its next pass.
        await gw.running.shutdown()
        #expect(try await gw.ledger.lease(holdID: holds[1]) == nil)
        #expect(try await gw.ledger.lease(holdID: holds[0])?.owner == "gw-b")
        #expect(try await gw.ledger.openHolds().count == 2)
        await gw.shutdown()
    }

    /// A shutdown gives its leases up, but does not wait for ever on a ledger that stopped
    /// answering: the PostgreSQL server behind a proxy that holds back everything it sends, the
    /// release gives up after its timeout (the leases then lapse by themselves) and answers false,
    /// and so does closing the ledger.
    @Test func aShutdownDoesNotWaitForeverOnALedgerThatStoppedAnswering() async throws {
        guard let direct = try await PostgresTestServer.shared.freshDatabase() else { return }
        let (proxy, through) = try CommitDroppingProxy.inFront(of: direct)
        defer { proxy.stop() }
        let ledger = try await PostgresLedger.open(through, clock: TestClock.runningWallClock())
        let client = MeteredClient(
            catalog: try Catalog.bundled(), ledger: ledger, providers: [:], clock: TestClock.runningWallClock(),
            configuration: .init(pollPolicy: fastPolling, leaseOwner: "gw-a", leasesCalls: true))
        let settler = Settler(client: client, metrics: GatewayMetrics(), logger: Logger(label: "test"), reconcileInterval: .seconds(60), retryDelay: .milliseconds(50))
        #expect(await settler.releaseLeases(within: .seconds(5)))

        proxy.stall()
        let started = ContinuousClock.now
        #expect(await settler.releaseLeases(within: .milliseconds(300)) == false)
        let waited = started.duration(to: .now)
        #expect(waited >= .milliseconds(300) && waited < .seconds(5), "\(waited)")
        // Closing the ledger (what `serve` does next) is bounded the same way.
        let closed: Void? = await waitAtMost(.milliseconds(300)) { await ledger.close() }
        #expect(closed == nil)
        proxy.resume()
        try await eventually { await waitAtMost(.seconds(5)) { await ledger.close() } != nil }
    }
}

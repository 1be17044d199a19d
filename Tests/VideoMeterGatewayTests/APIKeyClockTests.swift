import Foundation
import Testing
import VideoMeter
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterTesting

/// The key cache runs on the clock it is given: a revoked key stops working once the cache
/// lifetime has passed on that clock, on every gateway, and not before.
@Suite struct APIKeyClockTests {
    @Test func aKeyRevokedElsewhereIsRefusedOnceTheCacheLifetimeHasPassed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "studio")
        let clock = ManualClock()
        // Two gateways' key stores on one ledger.
        let here = try APIKeyStore(ledger: ledger, cacheLifetime: .seconds(1), clock: AnyClock(clock))
        let elsewhere = try APIKeyStore(ledger: ledger, cacheLifetime: .seconds(1), clock: AnyClock(clock))
        let (key, info) = try await here.create(team: "studio", name: "ci")
        #expect(try await here.authenticate(key)?.team == "studio")

        _ = try await elsewhere.revoke(info.prefix)
        #expect(try await elsewhere.authenticate(key) == nil)
        clock.advance(by: .milliseconds(999))
        #expect(try await here.authenticate(key)?.team == "studio", "cached for the lifetime")
        clock.advance(by: .milliseconds(1))
        #expect(try await here.authenticate(key) == nil, "refused once the lifetime has passed")
    }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterTesting

/// The key cache runs on the clock it is given: a revoked key stops working once the cache
/// lifetime has passed on that clock, on every gateway, and not before.
@Suite struct APIKeyClockTests {
    /// Two gateways' key stores on one SQLite ledger (in `directory`, team `studio`), with a
    /// one-second cache lifetime on one manual clock.
    static func twoGateways() async throws -> (directory: URL, clock: ManualClock, here: APIKeyStore, elsewhere: APIKeyStore) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-keys-\(UUID().uuidString)")
        let ledger = try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path, clock: TestClock.manualWallClock())
        try await ledger.createTeam(name: "studio")
        let clock = ManualClock()
        let here = try APIKeyStore(ledger: ledger, cacheLifetime: .seconds(1), clock: AnyClock(clock))
        let elsewhere = try APIKeyStore(ledger: ledger, cacheLifetime: .seconds(1), clock: AnyClock(clock))
        return (directory, clock, here, elsewhere)
    }

    @Test func aKeyRevokedElsewhereIsRefusedOnceTheCacheLifetimeHasPassed() async throws {
        let (directory, clock, here, elsewhere) = try await Self.twoGateways()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (key, info) = try await here.create(team: "studio", name: "ci")
        #expect(try await here.authenticate(key)?.team == "studio")

        _ = try await elsewhere.revoke(info.prefix)
        #expect(try await elsewhere.authenticate(key) == nil)
        clock.advance(by: .milliseconds(999))
        #expect(try await here.authenticate(key)?.team == "studio", "cached for the lifetime")
        clock.advance(by: .milliseconds(1))
        #expect(try await here.authenticate(key) == nil, "refused once the lifetime has passed")
    }

    /// Many requests finding the entry expired at once share one reading of the key; each gets the
    /// answer, and a revocation still reaches all of them once the lifetime has passed.
    @Test func concurrentRequestsWithAnExpiredEntryAllGetTheCurrentAnswer() async throws {
        let (directory, clock, here, elsewhere) = try await Self.twoGateways()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (key, info) = try await here.create(team: "studio", name: "ci")

        func authenticateConcurrently() async throws -> [String?] {
            try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<64 { group.addTask { try await here.authenticate(key)?.team } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(try await authenticateConcurrently() == Array(repeating: "studio", count: 64))
        _ = try await elsewhere.revoke(info.prefix)
        clock.advance(by: .seconds(1))
        #expect(try await authenticateConcurrently() == Array(repeating: nil, count: 64))
    }
}

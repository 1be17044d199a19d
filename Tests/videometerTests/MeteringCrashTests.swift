import Foundation
import GRDB
import Testing
import VideoMeter
import VideoMeterEmulator
import VideoMeterLedger

/// A process running metered async calls is killed with SIGKILL mid-poll; after a restart and
/// `videometer reconcile`, every task the emulator completed is charged exactly once and every
/// other one not at all.
@Suite("Metering survives kill -9")
struct MeteringCrashTests {
    @Test func killedMidPollThenReconciledChargesEveryCompletedTaskExactlyOnce() async throws {
        let emulator = Emulator(EmulatorConfiguration(style: .worldrouter, latency: .milliseconds(700), failRate: 0.3, pendingCap: 100, seed: 11))
        _ = try await emulator.start()
        let base = await emulator.baseURL!
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let db = directory.appendingPathComponent("ledger.sqlite").path
        let environment = ["VIDEOMETER_WORLDROUTER_URL": base, "VIDEOMETER_WORLDROUTER_KEY": "crash-key", "VIDEOMETER_DB": db]
        #expect(try await CLI.run(["team", "create", "acme"], environment: environment).status == 0)
        #expect(try await CLI.run(["budget", "set", "--team", "acme", "--monthly", "100"], environment: environment).status == 0)

        var random = SplitMix64(seed: 3)
        var expectedTasks = 0
        for round in 0..<2 {
            let calls = 6
            let children = try (0..<calls).map { index in
                try CLI.spawn(
                    ["generate", "--team", "acme", "--model", "grok-imagine-video", "--prompt", "round \(round) call \(index)",
                     "--duration", String(1 + index % 4), "--poll-ms", "20", "--json"],
                    environment: environment)
            }
            expectedTasks += calls
            // Wait until every task id is on its hold (they are written before polling starts),
            // then a little more, at random, so the kill lands somewhere in the polling.
            try await waitUntil(seconds: 20) { try taskIDsRecorded(db) == expectedTasks }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &random)))
            for child in children { kill(child.processIdentifier, SIGKILL) }
            for child in children { child.waitUntilExit() }
        }

        let reconcile = try await CLI.run(["reconcile", "--wait", "20", "--poll-ms", "10", "--json"], environment: environment)
        #expect(reconcile.status == 0, "reconcile: \(reconcile.stdout) \(reconcile.stderr)")

        let stats = await emulator.stats()
        #expect(stats.created == expectedTasks)
        let holds = try await DatabaseQueue(path: db, configuration: Self.patientReader).read { db in
            try Row.fetchAll(db, sql: "SELECT upstreamTaskID, state, postedMicro, seconds FROM hold")
        }
        #expect(holds.count == expectedTasks)
        var charged: MicroUSD = 0
        for (taskID, task) in stats.tasks {
            let matching = holds.filter { $0["upstreamTaskID"] as String? == taskID }
            #expect(matching.count == 1, "task \(taskID) has \(matching.count) holds")
            guard let hold = matching.first else { continue }
            if task.status == "succeeded" {
                let seconds: Int = hold["seconds"]
                #expect(hold["state"] as String == "posted", "completed task \(taskID) not charged")
                #expect(hold["postedMicro"] as MicroUSD == MicroUSD(seconds) * 70_000)
                charged += MicroUSD(seconds) * 70_000
            } else {
                #expect(hold["state"] as String == "voided", "task \(taskID) \(task.status) but hold \(hold["state"] as String)")
                #expect(hold["postedMicro"] as MicroUSD == 0)
            }
        }
        #expect(stats.completed + stats.failed + stats.expired + stats.cancelled == expectedTasks)
        #expect(stats.completed > 0 && stats.failed > 0)
        let posted = try await DatabaseQueue(path: db, configuration: Self.patientReader).read { db in
            try MicroUSD.fetchOne(db, sql: "SELECT COALESCE(SUM(amountMicro), 0) FROM journalEntry WHERE kind = 'post'")
        }
        #expect(posted == charged)
        let verify = try await CLI.run(["ledger", "verify"], environment: environment)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        await emulator.shutdown()
    }

    /// A reader that waits for the children's locks (a process opening the file may hold it
    /// exclusively for a moment, recovering the WAL another process left behind when killed).
    static var patientReader: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return configuration
    }

    func taskIDsRecorded(_ path: String) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        return try DatabaseQueue(path: path, configuration: Self.patientReader).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold WHERE upstreamTaskID IS NOT NULL") ?? 0
        }
    }
}

/// Re-checks `condition` every 10 ms until it holds, or fails after `seconds`.
func waitUntil(seconds: Double, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within \(seconds) s")
    throw CancellationError()
}

import Foundation
import Testing
import VideoMeterTesting
@_spi(Simulation) import VideoMeterLedger
@_spi(Simulation) import VideoMeterSimulation

/// The seeds and steps of the seed sweep, a fixed list so that a run is deterministic. The
/// suite's default keeps it to seconds (the whole suite runs twice in CI); `.ci/run` runs the full
/// sweep once with `VIDEOMETER_SIM_SEEDS=1-200 VIDEOMETER_SIM_STEPS=2000`.
let ciSeeds: [UInt64] = {
    guard let range = ProcessInfo.processInfo.environment["VIDEOMETER_SIM_SEEDS"] else { return Array(1...10) }
    let parts = range.split(separator: "-").compactMap { UInt64($0) }
    precondition(parts.count == 2 && parts[0] <= parts[1], "VIDEOMETER_SIM_SEEDS must be a range such as 1-200")
    return Array(parts[0]...parts[1])
}()
let ciSteps: Int = ProcessInfo.processInfo.environment["VIDEOMETER_SIM_STEPS"].flatMap { Int($0) } ?? 1000

/// The seeds and steps within which every injected bug must be caught: the full sweep's.
let bugSeeds: [UInt64] = Array(1...200)
let bugSteps = 2000

/// Collects a run's event log.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite("Deterministic simulation of the metering loop")
struct SimulationTests {
    @Test("Every invariant holds for the CI seeds", arguments: ciSeeds)
    func ciSeedHolds(seed: UInt64) async throws {
        let result = try await TestSlots.simulations.withSlot { try await Simulation.run(SimulationOptions(seed: seed, steps: ciSteps)) }
        #expect(result.passed, "\(result.summary)\n\(result.lastEvents.joined(separator: "\n"))")
    }

    @Test("Each injected bug is caught within the CI seeds, by the invariant it breaks", arguments: [
        (InjectedBug.doublePost, ["resolve-once"]),
        (.ignoreLimit, ["budget", "verify"]),
        (.skipVoid, ["settle"]),
        (.loseTaskID, ["task-id"]),
    ])
    func injectedBugIsCaught(bug: InjectedBug, invariants: [String]) async throws {
        var caught: SimulationResult?
        for seed in bugSeeds {
            let result = try await TestSlots.simulations.withSlot { try await Simulation.run(SimulationOptions(seed: seed, steps: bugSteps, bug: bug)) }
            if !result.passed {
                caught = result
                break
            }
        }
        let failure = try #require(caught?.failure, "\(bug.rawValue) was not caught by any CI seed")
        #expect(invariants.contains(failure.violation.invariant), "\(bug.rawValue) caught as \(failure.violation.invariant): \(failure.violation.detail)")
    }

    @Test func aSeedReplaysItsEventsExactly() async throws {
        let first = EventLog(), second = EventLog()
        let a = try await Simulation.run(SimulationOptions(seed: 7, steps: 600), log: { first.append($0) })
        let b = try await Simulation.run(SimulationOptions(seed: 7, steps: 600), log: { second.append($0) })
        #expect(a.summary == b.summary)
        #expect(first.all == second.all)
        #expect(first.all.count > 600)
        let other = try await Simulation.run(SimulationOptions(seed: 8, steps: 600))
        #expect(other.summary != a.summary)
    }

    @Test func aFailureReplaysFromItsSeed() async throws {
        let options = SimulationOptions(seed: 3, steps: bugSteps, bug: .ignoreLimit)
        let first = try await Simulation.run(options)
        let again = try await Simulation.run(options)
        let failure = try #require(first.failure)
        #expect(again.failure?.step == failure.step)
        #expect(again.failure?.violation == failure.violation)
        #expect(again.lastEvents == first.lastEvents)
    }
}

/// Failures the simulator found, kept as regression tests named after the seed that found them
/// (docs/SIMULATION.md lists each, with its fix). A seed's schedule belongs to the simulator's
/// version: each test also checks that its seed still reaches the path that broke, so a change to
/// the simulator that moves the seed elsewhere fails here instead of silently testing nothing.
@Suite("Simulator regressions")
struct SimulationRegressionTests {
    /// A BlockRun video arrived after another process's reconciliation had expired its hold: the
    /// success was dropped instead of recorded as a late success.
    @Test func seed1() async throws {
        let log = EventLog()
        let result = try await Simulation.run(SimulationOptions(seed: 1, steps: 300), log: { log.append($0) })
        #expect(result.passed, "\(result.summary)\n\(result.lastEvents.joined(separator: "\n"))")
        #expect(log.all.contains { $0.contains("expired (expired), charged 0.000000, replayed, late success") })
    }

    /// The same with an async task: a reading in flight came back `succeeded` after the sweeper
    /// had expired the hold.
    @Test func seed7() async throws {
        let log = EventLog()
        let result = try await Simulation.run(SimulationOptions(seed: 7, steps: 300), log: { log.append($0) })
        #expect(result.passed, "\(result.summary)\n\(result.lastEvents.joined(separator: "\n"))")
        #expect(log.all.contains { $0.contains("expired (expired), charged 0.000000, replayed, late success") })
    }

    /// An async create answered after its hold had expired (the create was in flight across a
    /// month-end jump): `markSubmitted` refused the ended hold, so the task id was lost and the
    /// task's success could never be found as a late success (`task-id`, step 780 before the fix).
    @Test func seed1AsyncCreateAnsweredAfterItsHoldExpired() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-sim-seed1-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ledger.sqlite").path
        let log = EventLog()
        let result = try await Simulation.run(SimulationOptions(seed: 1, steps: 800, ledgerPath: path), log: { log.append($0) })
        #expect(result.passed, "\(result.summary)\n\(result.lastEvents.joined(separator: "\n"))")
        #expect(log.all.contains { $0.contains("hold 83 expired before its task id arrived; wr-task-68 is kept on it for the late-success check") })
        // The task then succeeded: reconciliation found it through the id, for review, uncharged.
        let late = try await Ledger(path: path).lateSuccesses().first { $0.holdID == 83 }
        #expect(late?.upstreamTaskID == "wr-task-68")
        #expect(late?.holdState == "expired")
        #expect(late?.amountMicro == 1_130_000)
    }
}

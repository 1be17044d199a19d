import Foundation
import Testing
import VideoMeter
import VideoMeterLedgerPostgres
import VideoMeterTesting
@_spi(Simulation) import VideoMeterLedger
@_spi(Simulation) import VideoMeterSimulation

/// The seeds run on the suite's PostgreSQL server: a fixed list, kept short (each seed creates and
/// drops a database of its own, and every step is a round trip or more to the server).
let postgresSeeds: [UInt64] = [1, 2, 3]
let postgresSteps = 200

/// The simulator against the real PostgreSQL store (`videometer-sim --ledger postgres://…`), on
/// the suite's throwaway server. Skipped when there is no server, unless
/// `VIDEOMETER_REQUIRE_POSTGRES=1`.
@Suite("Deterministic simulation on PostgreSQL")
struct PostgresSimulationTests {
    @Test("Every invariant holds for the PostgreSQL seeds", arguments: postgresSeeds)
    func postgresSeedHolds(seed: UInt64) async throws {
        guard let server = try await PostgresTestServer.shared.server() else { return }
        let result = try await TestSlots.simulations.withSlot {
            try await Simulation.run(SimulationOptions(seed: seed, steps: postgresSteps, postgresServer: server))
        }
        #expect(result.passed, "\(result.summary)\n\(result.lastEvents.joined(separator: "\n"))")
        #expect(result.summary.contains("posted for"), "\(result.summary)")
    }

    /// The same seed, run twice on PostgreSQL (each run in a new database), prints the same events;
    /// ids start at 1 in each database, and the store's clock is the simulation's.
    @Test func aSeedReplaysItsEventsExactlyOnPostgres() async throws {
        guard let server = try await PostgresTestServer.shared.server() else { return }
        let first = EventLog(), second = EventLog()
        let a = try await Simulation.run(SimulationOptions(seed: 5, steps: 150, postgresServer: server), log: { first.append($0) })
        let b = try await Simulation.run(SimulationOptions(seed: 5, steps: 150, postgresServer: server), log: { second.append($0) })
        #expect(a.passed, "\(a.summary)")
        #expect(a.summary == b.summary)
        #expect(first.all == second.all)
        #expect(first.all.count > 150)
    }

    /// The metered client's bugs break the same rules whatever the store; each is caught on
    /// PostgreSQL, by the invariant it breaks, at the seed and step it is caught on SQLite.
    @Test("An injected bug is caught on PostgreSQL", arguments: [
        (InjectedBug.loseTaskID, "task-id", 1 as UInt64),
        (.skipVoid, "settle", 1),
    ])
    func injectedBugIsCaughtOnPostgres(bug: InjectedBug, invariant: String, seed: UInt64) async throws {
        guard let server = try await PostgresTestServer.shared.server() else { return }
        let onPostgres = try await TestSlots.simulations.withSlot {
            try await Simulation.run(SimulationOptions(seed: seed, steps: bugSteps, postgresServer: server, bug: bug))
        }
        let failure = try #require(onPostgres.failure, "\(bug.rawValue) was not caught on PostgreSQL: \(onPostgres.summary)")
        #expect(failure.violation.invariant == invariant, "\(failure.violation.detail)")
        let onSQLite = try await TestSlots.simulations.withSlot {
            try await Simulation.run(SimulationOptions(seed: seed, steps: bugSteps, bug: bug))
        }
        #expect(onSQLite.failure?.step == failure.step)
        #expect(onSQLite.failure?.violation == failure.violation)
    }

    /// The ledger's own bugs are switches inside the SQLite store: asked for on PostgreSQL, the
    /// run does not start (and creates no database).
    @Test func aLedgerBugIsRefusedOnPostgres() async throws {
        guard let server = try await PostgresTestServer.shared.server() else { return }
        await #expect {
            try await Simulation.run(SimulationOptions(seed: 1, steps: 10, postgresServer: server, bug: .doublePost))
        } throws: { error in
            (error as? any CodedError)?.code == "injection_not_supported"
        }
    }
}

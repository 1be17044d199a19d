@_spi(Simulation) import VideoMeterLedger
import VideoMeterLedgerPostgres

/// What one simulated run is told to do.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// Steps of the main phase; the drain and the final reconciliation come after them.
    public var steps: Int
    /// The SQLite file to use; a fresh temporary file when nil. It must not exist yet.
    public var ledgerPath: String?
    /// A PostgreSQL server to run on instead of SQLite: the run creates a database of its own on
    /// it (through the database this configuration names), and drops it at the end.
    public var postgresServer: PostgresLedger.Configuration?
    /// A rule to break on purpose, to prove the checks catch it (test-only, like the switch itself).
    @_spi(Simulation) public var bug: InjectedBug?
    /// Run the full `verify` after every this many steps (and always at the end).
    public var verifyEvery: Int

    public init(
        seed: UInt64, steps: Int, ledgerPath: String? = nil, postgresServer: PostgresLedger.Configuration? = nil, verifyEvery: Int = 100
    ) {
        precondition(steps >= 0 && verifyEvery >= 1, "steps cannot be negative and verify must run")
        precondition(ledgerPath == nil || postgresServer == nil, "a run has one ledger: a SQLite file or a PostgreSQL server")
        self.seed = seed
        self.steps = steps
        self.ledgerPath = ledgerPath
        self.postgresServer = postgresServer
        self.verifyEvery = verifyEvery
    }

    /// Options that inject `bug` into the system under test.
    @_spi(Simulation) public init(
        seed: UInt64, steps: Int, ledgerPath: String? = nil, postgresServer: PostgresLedger.Configuration? = nil, bug: InjectedBug?,
        verifyEvery: Int = 100
    ) {
        self.init(seed: seed, steps: steps, ledgerPath: ledgerPath, postgresServer: postgresServer, verifyEvery: verifyEvery)
        self.bug = bug
    }
}

/// How a run ended.
public struct SimulationResult: Sendable {
    public var seed: UInt64
    /// The first invariant that failed, with the step it failed at; nil when all held.
    public var failure: SimulationFailure?
    /// The last events before the end (or the failure), oldest first.
    public var lastEvents: [String]
    /// One line about the run: steps, calls, charges, crashes.
    public var summary: String

    public var passed: Bool { failure == nil }
}

/// The first invariant that failed in a run, and when.
public struct SimulationFailure: Sendable {
    public var step: Int
    public var violation: Violation
}

/// The deterministic simulation of the metering loop (see docs/SIMULATION.md).
public enum Simulation {
    /// Runs one seed. Everything the run prints through `log` and returns is a function of the
    /// options alone.
    ///
    /// - Parameter log: receives every event as it happens (for `--verbose`); nil to keep only
    ///   the last ones.
    /// - Throws: ``SimulationSetupError``, `SimulationInjectionError` (a ledger bug on
    ///   PostgreSQL), `SimulationDatabaseError` or `PostgresLedgerError` when the run cannot start;
    ///   a store's error when the ledger fails outside the simulated crashes.
    public static func run(_ options: SimulationOptions, log: (@Sendable (String) -> Void)? = nil) async throws -> SimulationResult {
        let simulator = try await Simulator.open(options: options, log: log)
        let result: SimulationResult
        do {
            result = try await simulator.run()
        } catch {
            try? await simulator.close()
            throw error
        }
        try await simulator.close()
        return result
    }
}

import ArgumentParser
import Foundation
import Logging
import VideoMeter
@_spi(Simulation) import VideoMeterLedger
import VideoMeterLedgerPostgres
@_spi(Simulation) import VideoMeterSimulation
@_spi(Simulation) import VideoMeterStores

/// `videometer-sim`: runs the deterministic simulation of the metering loop for one seed or a
/// range of seeds, and stops at the first invariant that fails.
@main
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videometer-sim",
        abstract: "Simulate the metering loop deterministically: callers, upstream faults, crashes and clock jumps from one seed.",
        discussion: """
            Each seed drives teams, callers, the upstream's answers and faults, process crashes and \
            virtual time against the real ledger and metered client, and checks the invariants after \
            every step (docs/SIMULATION.md). Exit status: 0 when every invariant held for every \
            seed; 1 at the first violation (its seed, step, invariant and last events are printed); \
            2 when a run could not start or its ledger failed (a PostgreSQL server unreachable, \
            a database it may not create); 64 for bad arguments. The same arguments print the same \
            standard output; timings go to standard error.
            """
    )

    @Option(help: "Run this one seed.")
    var seed: UInt64?

    @Option(help: ArgumentHelp("Run every seed of an inclusive range, e.g. 1-200.", valueName: "A-B"))
    var seeds: String?

    @Option(help: "Steps per seed, before the drain and the final reconciliation.")
    var steps: Int = 2000

    @Option(help: ArgumentHelp(
        "A SQLite file, which must not exist yet (kept afterwards, for `videometer ledger verify --db`; only with --seed), or a PostgreSQL server as postgres://user[:password]@host[:port]/database[?sslmode=…], on which each seed runs in a database of its own that it creates and drops (the user needs CREATEDB). Default: a temporary SQLite file, removed after the run.",
        valueName: "PATH_OR_URL"))
    var ledger: String?

    @Option(help: ArgumentHelp(
        "Break one rule on purpose, to show the checks catch it: \(InjectedBug.allCases.map(\.rawValue).joined(separator: ", ")).",
        valueName: "BUG"))
    var inject: String?

    @Option(help: "Run the full ledger verify every N steps (and always at the end).")
    var verifyEvery: Int = 100

    @Flag(help: "Print every event of every seed as it happens.")
    var verbose = false

    func validate() throws {
        _ = try seedRange()
        guard steps >= 0 else { throw ValidationError("--steps must be 0 or more (got \(steps)).") }
        guard verifyEvery >= 1 else { throw ValidationError("--verify-every must be 1 or more (got \(verifyEvery)).") }
        _ = try bug()
        if case .postgres? = try address() {
            if let bug = try bug(), bug.breaksTheLedger {
                throw ValidationError(SimulationInjectionError(bug: bug).description)
            }
        } else if let ledger {
            guard seeds == nil else { throw ValidationError("--ledger takes one seed's SQLite file: use it with --seed, not --seeds.") }
            guard !FileManager.default.fileExists(atPath: ledger) else {
                throw ValidationError("--ledger \(ledger) exists already; the simulator starts from an empty ledger, give a new path.")
            }
        }
    }

    /// What `--ledger` names: nil for a temporary SQLite file.
    func address() throws -> LedgerAddress? {
        guard let ledger else { return nil }
        do {
            return try LedgerAddress.parse(ledger)
        } catch {
            throw ValidationError("\(error.code): --ledger \(error.message.replacingOccurrences(of: "--db (or VIDEOMETER_DB)", with: "--ledger"))")
        }
    }

    func seedRange() throws -> ClosedRange<UInt64> {
        switch (seed, seeds) {
        case (let seed?, nil):
            return seed...seed
        case (nil, let range?):
            let parts = range.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let first = UInt64(parts[0]), let last = UInt64(parts[1]) else {
                throw ValidationError("--seeds '\(range)' is not a range such as 1-200.")
            }
            guard first <= last else { throw ValidationError("--seeds '\(range)' is empty: the first seed is above the last.") }
            return first...last
        case (nil, nil):
            throw ValidationError("Give --seed S or --seeds A-B.")
        case (_?, _?):
            throw ValidationError("Give --seed or --seeds, not both.")
        }
    }

    func bug() throws -> InjectedBug? {
        guard let inject else { return nil }
        guard let bug = InjectedBug(rawValue: inject) else {
            throw ValidationError("--inject '\(inject)' is not a bug the simulator knows: \(InjectedBug.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return bug
    }

    func run() async throws {
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        let range = try seedRange()
        let bug = try bug()
        var server: PostgresLedger.Configuration?
        var path: String?
        switch try address() {
        case .postgres(let configuration)?: server = configuration
        case .file(let file)?: path = file
        case nil: break
        }
        let started = ContinuousClock.now
        var stepsRun = 0
        for seed in range {
            let options = SimulationOptions(
                seed: seed, steps: steps, ledgerPath: path, postgresServer: server, bug: bug, verifyEvery: verifyEvery)
            let printer: @Sendable (String) -> Void = { line in print(line) }
            let result: SimulationResult
            do {
                result = try await Simulation.run(options, log: verbose ? printer : nil)
            } catch {
                // Not an invariant: the run could not start, or its ledger failed under it.
                let text = (error as? any CodedError).map { "\($0.code): \($0.message)" } ?? "\(error)"
                FileHandle.standardError.write(Data("error: seed \(seed): \(text)\n".utf8))
                reportTiming(since: started, steps: stepsRun)
                throw ExitCode(2)
            }
            print(result.summary)
            stepsRun += steps
            if let failure = result.failure {
                print("seed: \(seed)")
                print("step: \(failure.step)")
                print("invariant: \(failure.violation.invariant)")
                print("detail: \(failure.violation.detail)")
                print("last events:")
                for event in result.lastEvents { print("  \(event)") }
                print("replay: videometer-sim --seed \(seed) --steps \(steps)\(bug.map { " --inject \($0.rawValue)" } ?? "")\(server == nil ? "" : " --ledger URL") --verbose")
                reportTiming(since: started, steps: stepsRun)
                throw ExitCode(1)
            }
        }
        if range.count > 1 { print("all \(range.count) seeds passed (\(range.lowerBound)-\(range.upperBound), \(steps) steps each)") }
        reportTiming(since: started, steps: stepsRun)
    }

    func reportTiming(since start: ContinuousClock.Instant, steps: Int) {
        // Whole milliseconds, integer arithmetic: a timing line, printed on standard error only.
        let elapsed = start.duration(to: .now).components
        let milliseconds = max(elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000, 0)
        let rate = milliseconds > 0 ? Int64(steps) * 1000 / milliseconds : 0
        let shown = "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - String(milliseconds % 1000).count))\(milliseconds % 1000)"
        FileHandle.standardError.write(Data("\(steps) steps in \(shown) s (\(rate) steps/s)\n".utf8))
    }
}

import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterLedgerPostgres

/// Durable hold+post pairs per second through the PostgreSQL ledger at 64 concurrent callers with
/// group commit, in one process and in three processes against the same server and the same
/// team's budget, each against the same rows written one operation per transaction through the
/// same driver and server (the store with `maximumBatch = 1`), measured in the same run.
///
/// Needs a server: `VIDEOMETER_BENCH_POSTGRES_URL` names a database the benchmark may write to
/// (it adds four teams with fresh names); without it the benchmark says so and measures nothing.
/// The three processes are this executable run again with ``PostgresPairsChild/flag``.
let postgresLedgerBenchmark = Benchmark(
    name: "ledger-postgres",
    summary: "PostgreSQL ledger: hold+post pairs/s at 64 callers in 1 and 3 processes, group commit vs one operation per transaction"
) {
    guard let url = ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_POSTGRES_URL"], !url.isEmpty else {
        print("  skipped: set VIDEOMETER_BENCH_POSTGRES_URL to a PostgreSQL database the benchmark may write to")
        return []
    }
    let run = UUID().uuidString.prefix(8)
    let callers = 64, perCaller = 50

    /// A team with a budget no run reaches, its name fresh for this run.
    func team(_ label: String) async throws -> String {
        let ledger = try await PostgresLedger.open(try PostgresPairs.configuration(url: url, maximumBatch: 1))
        let team = "bench-\(label)-\(run)"
        try await ledger.createTeam(name: team)
        try await ledger.setBudget(team: team, BudgetSettings(monthlyLimitMicro: LedgerRules.maximumMicro))
        await ledger.close()
        return team
    }

    /// Checks that the team's month holds exactly the pairs written: every pair posted, none pending.
    func check(_ team: String, pairs: Int) async throws {
        let ledger = try await PostgresLedger.open(try PostgresPairs.configuration(url: url, maximumBatch: 1))
        let status = try await ledger.budgetStatus(team: team)
        await ledger.close()
        guard status.monthPostedMicro == MicroUSD(pairs) * PostgresPairs.postedMicro, status.monthPendingMicro == 0 else {
            throw BenchmarkError("\(team) holds posted \(status.monthPostedMicro), pending \(status.monthPendingMicro) micro-USD")
        }
    }

    func oneProcess(maximumBatch: Int, label: String) async throws -> Double {
        let team = try await team(label)
        let ledger = try await PostgresLedger.open(try PostgresPairs.configuration(url: url, maximumBatch: maximumBatch))
        let pairs = try await opsPerSecond(iterations: callers * perCaller) {
            try await PostgresPairs.write(ledger, team: team, prefix: "\(team)-", callers: callers, perCaller: perCaller)
        }
        await ledger.close()
        try await check(team, pairs: callers * perCaller)
        return pairs
    }

    func threeProcesses(maximumBatch: Int, label: String) async throws -> Double {
        let team = try await team(label)
        let children = try (0..<3).map { index in
            try PostgresPairsChild.start(
                team: team, prefix: "\(team)-p\(index)-", maximumBatch: maximumBatch, callers: callers, perCaller: perCaller)
        }
        // Every child has opened its ledger before the clock starts.
        for child in children { try child.waitForLine("ready") }
        let clock = ContinuousClock(), start = clock.now
        for child in children { child.send("go") }
        for child in children { try child.waitForLine("done") }
        let elapsed = start.duration(to: clock.now)
        for child in children { try child.finish() }
        try await check(team, pairs: 3 * callers * perCaller)
        return Double(3 * callers * perCaller) / seconds(elapsed)
    }

    let single = try await oneProcess(maximumBatch: 1, label: "single")
    let grouped = try await oneProcess(maximumBatch: 512, label: "grouped")
    let singleThree = try await threeProcesses(maximumBatch: 1, label: "single3")
    let groupedThree = try await threeProcesses(maximumBatch: 512, label: "grouped3")
    return [
        Measurement(label: "1 process, 64 callers, one operation per transaction", value: single, unit: "pairs/s"),
        Measurement(
            label: "1 process, 64 callers (group commit)", value: grouped, unit: "pairs/s",
            baseline: ("one operation per transaction", single), aim: "aim: >= 5000 pairs/s"),
        Measurement(label: "3 processes x 64 callers, one team, one operation per transaction", value: singleThree, unit: "pairs/s"),
        Measurement(
            label: "3 processes x 64 callers, one team (group commit)", value: groupedThree, unit: "pairs/s",
            baseline: ("one operation per transaction", singleThree)),
        Measurement(
            label: "3 processes vs 1 process (group commit)", value: groupedThree, unit: "pairs/s",
            baseline: ("1 process", grouped), aim: "aim: ratio >= 1"),
    ]
}

/// The pairs every run writes.
enum PostgresPairs {
    static let postedMicro: MicroUSD = 1_200_000

    static func configuration(url: String, maximumBatch: Int) throws -> PostgresLedger.Configuration {
        var configuration = try PostgresLedger.Configuration(url: url)
        configuration.maximumConnections = 4
        configuration.maximumBatch = maximumBatch
        return configuration
    }

    /// `callers` concurrent tasks, each holding and posting `perCaller` times in turn.
    static func write(_ ledger: PostgresLedger, team: String, prefix: String, callers: Int, perCaller: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    for index in 0..<perCaller {
                        let request = HoldRequest(
                            team: team, idempotencyKey: "\(prefix)\(caller)-\(index)", fingerprint: "bench", amountMicro: 1_500_000,
                            timeoutSeconds: 600, provider: "blockrun", model: "bytedance/seedance-1.5-pro", resolution: "720p",
                            seconds: 5, catalogVersion: "bench", quoteJSON: #"{"total":"1.500000"}"#,
                            upstreamCostMicro: 1_428_571, marginMicro: 71_429)
                        let hold = try await ledger.hold(request).hold
                        try await ledger.post(holdID: hold.id, amount: postedMicro)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// One of the three processes: `videometer-bench --postgres-pairs-child TEAM PREFIX BATCH CALLERS
/// PER_CALLER` opens the ledger, prints `ready`, waits for `go` on its standard input, writes its
/// pairs, prints `done` and exits.
struct PostgresPairsChild {
    static let flag = "--postgres-pairs-child"

    let process: Process
    let input: Pipe
    let output: Pipe
    private let lines: LineReader

    static func start(team: String, prefix: String, maximumBatch: Int, callers: Int, perCaller: Int) throws -> PostgresPairsChild {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [flag, team, prefix, "\(maximumBatch)", "\(callers)", "\(perCaller)"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        return PostgresPairsChild(process: process, input: input, output: output, lines: LineReader(output.fileHandleForReading))
    }

    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Blocks until the child prints `expected`; throws what it printed instead.
    func waitForLine(_ expected: String) throws {
        guard let line = lines.next() else { throw BenchmarkError("a benchmark process ended before printing \(expected)") }
        guard line == expected else { throw BenchmarkError("a benchmark process printed: \(line)") }
    }

    func finish() throws {
        try? input.fileHandleForWriting.close()
        // Polled: Foundation's waitUntilExit is not safe on the cooperative pool on Linux.
        while process.isRunning { usleep(10_000) }
        guard process.terminationStatus == 0 else { throw BenchmarkError("a benchmark process exited with \(process.terminationStatus)") }
    }

    /// The child's side; returns the exit status.
    static func main(_ arguments: [String]) async -> Int32 {
        guard arguments.count == 5, let batch = Int(arguments[2]), let callers = Int(arguments[3]), let perCaller = Int(arguments[4]),
              let url = ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_POSTGRES_URL"]
        else {
            print("usage: videometer-bench \(flag) TEAM PREFIX BATCH CALLERS PER_CALLER (with VIDEOMETER_BENCH_POSTGRES_URL)")
            return 64
        }
        do {
            let ledger = try await PostgresLedger.open(try PostgresPairs.configuration(url: url, maximumBatch: batch))
            say("ready")
            guard readLine() == "go" else { return 1 }
            try await PostgresPairs.write(ledger, team: arguments[0], prefix: arguments[1], callers: callers, perCaller: perCaller)
            await ledger.close()
            say("done")
            return 0
        } catch {
            say("failed: \(error)")
            return 1
        }
    }
}

/// A line to the parent, unbuffered.
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Lines from a file handle, read as they come.
final class LineReader: @unchecked Sendable {
    private let handle: FileHandle
    private var buffer = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return nil }
            buffer.append(chunk)
        }
    }
}

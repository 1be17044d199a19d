import Foundation
import GRDB
import Testing
import VideoMeter
import VideoMeterTesting
@testable import VideoMeterLedger

/// Many callers against one budget, in tasks and in separate processes, and crashes.
@Suite struct ConcurrencyTests {
    @Test func manyTasksAgainstABudgetForKHoldsGetExactlyK() async throws {
        let fixture = try LedgerFixture()
        let k = 37
        try await fixture.team(monthly: MicroUSD(k) * 1_500_000)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        let hold = try await fixture.ledger.hold(request("task-\(index)")).hold
                        // Half post in full, half leave the hold pending: both keep the money committed.
                        if index.isMultiple(of: 2) { try await fixture.ledger.post(holdID: hold.id, amount: 1_500_000) }
                        return true
                    } catch let error as LedgerError where error.code == "budget_exceeded" {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == k)
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro + status.monthPendingMicro == MicroUSD(k) * 1_500_000)
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func fourProcessesAgainstABudgetForKHoldsGetExactlyK() async throws {
        let fixture = try LedgerFixture()
        let k = 25, attempts = 40
        try await fixture.team(monthly: MicroUSD(k) * 2_000_000)
        // All four start together once each has opened the ledger, so they contend for the write
        // lock instead of running one after another.
        let start = fixture.directory.appendingPathComponent("start").path
        var processes: [(Process, Pipe, Pipe)] = []
        for worker in 0..<4 {
            let spawned = VideometerBinary.process([
                "ledger", "exercise", "--team", "acme", "--count", "\(attempts)", "--amount", "2", "--concurrency", "4",
                "--key-prefix", "p\(worker)", "--start-file", start, "--db", fixture.path,
            ])
            try VideometerProcess.launch(spawned.0)
            processes.append(spawned)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        func ready() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path).filter { $0.hasPrefix("start.ready-") }.count
        }
        while try ready() < 4 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try ready() == 4)
        FileManager.default.createFile(atPath: start, contents: nil)
        var holds = 0, refusals = 0
        for (process, out, err) in processes {
            let text = String(decoding: readToEnd(out.fileHandleForReading), as: UTF8.self)
            let errors = String(decoding: readToEnd(err.fileHandleForReading), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(errors)")
            for line in text.split(separator: "\n") {
                if line.hasPrefix("hold ") { holds += 1 }
                if line.hasPrefix("refused ") { refusals += 1 }
            }
        }
        #expect(holds == k)
        #expect(refusals == 4 * attempts - k)
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.monthPostedMicro == MicroUSD(k) * 2_000_000)
        #expect(status.monthPendingMicro == 0)
        let verify = try VideometerBinary.run(["ledger", "verify", "--db", fixture.path])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test func killedWorkersLoseNoAcknowledgedOperation() async throws {
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("crash.sqlite").path
        do {
            let ledger = try Ledger(path: path, clock: TestClock.manualWallClock())
            try await ledger.createTeam(name: "acme")
            try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 1_000_000_000_000))
        }
        var generator = SplitMix64(seed: 20261121)
        var acknowledgedHolds: [String: Int64] = [:]
        var acknowledgedPosts: Set<Int64> = []
        for round in 0..<4 {
            let (process, out, _) = VideometerBinary.process([
                "ledger", "exercise", "--team", "acme", "--count", "100000", "--amount", "0.25", "--concurrency", "8",
                "--key-prefix", "crash\(round)", "--db", path,
            ])
            // Drained while the worker runs, so a full pipe never stalls it outside a commit.
            let output = OutputCollector(out)
            try VideometerProcess.launch(process)
            // Kill at a seeded moment after the worker's first acknowledged operation.
            try await output.waitForFirstLine()
            let delay = 50 + Int(generator.next() % 400)
            try await Task.sleep(for: .milliseconds(delay))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            let text = String(decoding: output.finish(), as: UTF8.self)
            // Only whole lines are acknowledgements; a line cut by the kill is not.
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            lines.removeLast()
            for line in lines {
                let parts = line.split(separator: " ")
                if parts.first == "hold" { acknowledgedHolds[String(parts[2])] = Int64(parts[1])! }
                if parts.first == "post" { acknowledgedPosts.insert(Int64(parts[1])!) }
            }

            let ledger = try Ledger(path: path, clock: TestClock.manualWallClock())
            let holds = try await ledger.holds()
            let byKey = Dictionary(uniqueKeysWithValues: holds.map { ($0.idempotencyKey, $0) })
            for (key, id) in acknowledgedHolds { #expect(byKey[key]?.id == id, "acknowledged hold \(key) lost") }
            let byID = Dictionary(uniqueKeysWithValues: holds.map { ($0.id, $0) })
            for id in acknowledgedPosts {
                #expect(byID[id]?.state == .posted && byID[id]?.postedMicro == 250_000, "acknowledged post of hold \(id) lost")
            }
            let report = try await ledger.verify()
            #expect(report.problems == [], "round \(round)")
            #expect(!lines.isEmpty, "round \(round): the worker acknowledged nothing before the kill")
        }
        let verify = try VideometerBinary.run(["ledger", "verify", "--db", path])
        #expect(verify.status == 0)
    }
}

/// Collects what a child process writes to a pipe while it runs, on a thread of its own that
/// reads with `read(2)` until the pipe ends. No `readabilityHandler`: its dispatch source can
/// outlive the pipe's descriptor, and libdispatch then crashed on the reused number.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var ended = false

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = readAvailable(handle)
                if chunk.isEmpty {
                    lock.withLock { ended = true }
                    return
                }
                lock.withLock { data.append(chunk) }
            }
        }
        thread.name = "test.output-collector"
        thread.start()
    }

    /// Waits (up to 60 s) until a whole line has arrived.
    func waitForFirstLine() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !lock.withLock({ data.contains(UInt8(ascii: "\n")) }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Everything written, once the process has exited and the pipe has ended (up to 60 s).
    func finish() -> Data {
        let deadline = ContinuousClock.now + .seconds(60)
        while !lock.withLock({ ended }) && ContinuousClock.now < deadline { usleep(1_000) }
        return lock.withLock { data }
    }
}

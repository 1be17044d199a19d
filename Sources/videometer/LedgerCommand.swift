import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger

/// `videometer ledger`: inspect, sweep and verify the ledger.
struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Inspect, sweep and verify the ledger of holds and postings.",
        subcommands: [Holds.self, Expire.self, Verify.self, Copy.self, Exercise.self]
    )

    struct Holds: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open (pending) holds; --all for every hold.")

        @Flag(help: "Every hold, not only the pending ones.")
        var all = false

        @Flag(help: "Print JSON; amounts are decimal strings of dollars.")
        var json = false

        @OptionGroup var database: DatabaseOptions

        struct Line: Encodable {
            var id: Int64
            var team: String
            var key: String
            var amount: String
            var posted: String
            var state: String
            var callStatus: String
            var provider: String
            var model: String
            var upstreamTaskID: String?
            var createdAt: String
            var deadline: String

            enum CodingKeys: String, CodingKey {
                case id, team, key, amount, posted, state, provider, model, deadline
                case callStatus = "call_status"
                case upstreamTaskID = "upstream_task_id"
                case createdAt = "created_at"
            }
        }

        func run() async throws {
            try await reportingErrors(json: json) {
                let ledger = try await database.openExisting()
                let names = Dictionary(uniqueKeysWithValues: try await ledger.teams().map { ($0.id, $0.name) })
                let holds = all ? try await ledger.holds() : try await ledger.openHolds()
                let lines = holds.map {
                    Line(id: $0.id, team: names[$0.teamID] ?? "\($0.teamID)", key: $0.idempotencyKey,
                         amount: Money.format(micro: $0.amountMicro), posted: Money.format(micro: $0.postedMicro),
                         state: $0.state.rawValue, callStatus: $0.callStatus.rawValue, provider: $0.provider, model: $0.model,
                         upstreamTaskID: $0.upstreamTaskID, createdAt: isoTimestamp($0.createdAt), deadline: isoTimestamp($0.deadline))
                }
                if json {
                    try printJSON(lines)
                    return
                }
                var table = TextTable(["id", "team", "key", "amount", "posted", "state", "call", "model", "deadline"], rightAligned: [0, 3, 4])
                for line in lines {
                    table.add([String(line.id), line.team, line.key, line.amount, line.posted, line.state, line.callStatus, line.model, line.deadline])
                }
                print(table.render())
                print("\(lines.count) hold(s)")
            }
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Expire every pending hold past its deadline (the sweeper).")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await reportingErrors {
                let expired = try await database.openExisting().expireDue()
                for hold in expired {
                    print("expired hold \(hold.id) (\(hold.idempotencyKey)): \(Money.format(micro: hold.amountMicro)) USD returned")
                }
                print("\(expired.count) hold(s) expired")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every balance from the journal and check every invariant.",
            discussion: "Exits with status 1 and lists each problem when the ledger is inconsistent."
        )

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let report = try await reportingErrors { try await database.openExisting().verify() }
            print("checked \(report.journalEntries) journal entries, \(report.holds) holds, \(report.usageEvents) usage events")
            if report.isConsistent {
                print("ledger consistent")
                return
            }
            for problem in report.problems {
                FileHandle.standardError.write(Data("problem: \(problem)\n".utf8))
            }
            FileHandle.standardError.write(Data("error: ledger_inconsistent: \(report.problems.count) problem(s) found\n".utf8))
            throw ExitCode(1)
        }
    }

    struct Exercise: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Testing aid: hold and post in a loop, printing one line per acknowledged operation.",
            discussion: """
                For crash and multi-process tests, not for production. Each iteration holds --amount under the \
                key PREFIX-N and posts it in full; a line is printed only after the operation committed: \
                `hold ID KEY`, `post ID MICRO`, or `refused KEY CODE [LIMIT]`.
                """
        )

        @Option(help: ArgumentHelp("Team name.", valueName: "NAME"))
        var team: String

        @Option(help: "Iterations.")
        var count: Int

        @Option(help: ArgumentHelp("Amount held and posted each time, in dollars.", valueName: "USD"))
        var amount: String

        @Option(help: "Concurrent tasks sharing the iterations.")
        var concurrency: Int = 1

        @Option(help: "Idempotency key prefix (make it unique per run).")
        var keyPrefix: String = "exercise"

        @Flag(help: "Hold only; do not post.")
        var holdOnly = false

        @Option(name: .customLong("start-file"), help: ArgumentHelp(
            "Create PATH.ready-PID once the ledger is open, then wait for PATH to exist before the first operation, so several processes start together.",
            valueName: "PATH", visibility: .hidden))
        var startFile: String?

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = try parseUSD(amount, option: "--amount", allowZero: false)
            guard count >= 0, concurrency >= 1 else { throw ValidationError("--count must be >= 0 and --concurrency >= 1.") }
        }

        func run() async throws {
            try await reportingErrors { try await exercise() }
        }

        func exercise() async throws {
            let micro = try parseUSD(amount, option: "--amount", allowZero: false)
            let ledger = try await database.openExisting()
            if let startFile {
                FileManager.default.createFile(atPath: "\(startFile).ready-\(ProcessInfo.processInfo.processIdentifier)", contents: nil)
                while !FileManager.default.fileExists(atPath: startFile) { try await Task.sleep(for: .milliseconds(2)) }
            }
            let (team, count, concurrency, prefix, holdOnly) = (team, count, concurrency, keyPrefix, holdOnly)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        for index in stride(from: worker, to: count, by: concurrency) {
                            let key = "\(prefix)-\(index)"
                            let request = HoldRequest(
                                team: team, idempotencyKey: key, fingerprint: "exercise:\(micro)", amountMicro: micro,
                                timeoutSeconds: 3600, provider: "exercise", model: "exercise", resolution: "720p", seconds: 5,
                                catalogVersion: "exercise", quoteJSON: "{}", upstreamCostMicro: micro, marginMicro: 0)
                            do {
                                let receipt = try await ledger.hold(request)
                                emit("hold \(receipt.hold.id) \(key)\n")
                                if !holdOnly {
                                    try await ledger.post(holdID: receipt.hold.id, amount: micro)
                                    emit("post \(receipt.hold.id) \(micro)\n")
                                }
                            } catch let error as LedgerError where error.code == "budget_exceeded" {
                                emit("refused \(key) \(error.code) \(error.limit?.rawValue ?? "")\n")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// Writes a line with one system call, so concurrent tasks and a sudden kill never interleave it.
private func emit(_ line: String) {
    FileHandle.standardOutput.write(Data(line.utf8))
}

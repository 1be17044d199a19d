import ArgumentParser
import Foundation
import Logging
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// `videometer reconcile`: settle what earlier runs left open.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Settle open async tasks, expire stale holds, and list what needs a decision.",
        discussion: """
            Reads every pending async task from its upstream (the ones configured in the \
            environment; the sandbox emulator of an earlier run is gone, so its tasks are listed as \
            unreadable) and settles the finished ones; expires holds past their deadline; lists \
            calls whose outcome is unknown and tasks that succeeded after their hold expired (late \
            successes, not charged). Calls whose settlement lease a live gateway holds are left to \
            it and listed as such. Exit status 0 when nothing is left unresolved, 2 when items \
            need review.
            """
    )

    @Option(help: ArgumentHelp("Poll tasks still running for up to this many seconds (default: read each once).", valueName: "SECONDS"))
    var wait: Int?

    @Option(name: .customLong("poll-ms"), help: ArgumentHelp("First wait between task reads when --wait is given.", valueName: "MS"))
    var pollMs = 1000

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    func validate() throws {
        if let wait, !(1...86_400).contains(wait) { throw ValidationError("--wait must be 1 to 86400 seconds.") }
        guard (1...60_000).contains(pollMs) else { throw ValidationError("--poll-ms must be 1 to 60000.") }
    }

    struct Item: Encodable {
        var holdID: Int64
        var team: String
        var model: String
        var status: String
        var hold: String
        var amount: String
        var upstreamTaskID: String?

        enum CodingKeys: String, CodingKey {
            case team, model, status, hold, amount
            case holdID = "hold_id"
            case upstreamTaskID = "upstream_task_id"
        }
    }

    struct Result: Encodable {
        var settled: [Item]
        var stillRunning: [Item]
        var expired: [Item]
        var neverSent: [Item]
        var unknown: [Item]
        var lateSuccesses: [Item]
        var unreadable: [String]
        var leasedElsewhere: [Item]

        enum CodingKeys: String, CodingKey {
            case settled, expired, unknown, unreadable
            case leasedElsewhere = "leased_elsewhere"
            case stillRunning = "still_running"
            case neverSent = "never_sent"
            case lateSuccesses = "late_successes"
        }
    }

    func run() async throws {
        let logger = Logger(label: "videometer.reconcile")
        try await reportingErrors(json: json) {
            let ledger = try await database.openExisting()
            let poll = PollPolicy(initialInterval: .milliseconds(pollMs), maxInterval: .milliseconds(pollMs * 8), deadline: .seconds(Int64(wait ?? 1)))
            let upstreams = try await Upstreams.start(sandbox: false, poll: poll, logger: logger)
            // The leases this run takes outlast its polling, and go back when it ends.
            let client = MeteredClient(
                catalog: try catalog.load(), ledger: ledger, providers: upstreams.providers,
                configuration: .init(pollPolicy: poll, leaseDuration: .seconds(Int64(wait ?? 0) + 60)))
            let report: ReconcileReport
            do {
                report = try await client.reconcile(waitFor: wait.map { .seconds($0) })
            } catch {
                try? await client.releaseLeases()
                await upstreams.shutdown()
                throw error
            }
            try? await client.releaseLeases()
            await upstreams.shutdown()

            var names: [Int64: String] = [:]
            for team in try await ledger.teams() { names[team.id] = team.name }
            func item(_ hold: Hold) -> Item {
                Item(holdID: hold.id, team: names[hold.teamID] ?? "#\(hold.teamID)", model: hold.model, status: hold.callStatus.rawValue,
                     hold: hold.state.rawValue, amount: Money.format(micro: hold.state == .posted ? hold.postedMicro : hold.amountMicro),
                     upstreamTaskID: hold.upstreamTaskID)
            }
            let result = Result(
                settled: report.settled.map {
                    Item(holdID: $0.holdID, team: $0.team, model: $0.model, status: $0.status.rawValue, hold: $0.holdState.rawValue,
                         amount: Money.format(micro: $0.chargedMicro), upstreamTaskID: $0.upstreamTaskID)
                },
                stillRunning: report.stillRunning.map(item), expired: report.expired.map(item),
                neverSent: report.neverSent.map(item), unknown: report.unknown.map(item),
                lateSuccesses: report.lateSuccesses.map {
                    Item(holdID: $0.holdID, team: names[$0.teamID] ?? "#\($0.teamID)", model: "", status: "succeeded",
                         hold: $0.holdState, amount: Money.format(micro: $0.amountMicro), upstreamTaskID: $0.upstreamTaskID)
                },
                unreadable: report.unreadable, leasedElsewhere: report.leasedElsewhere.map(item))
            if json {
                try printJSON(result)
            } else {
                print(render(result))
            }
            if !result.unknown.isEmpty || !result.lateSuccesses.isEmpty || !result.unreadable.isEmpty {
                throw ExitCode(2)
            }
        }
    }

    func render(_ result: Result) -> String {
        var out: [String] = []
        func section(_ title: String, _ items: [Item], amountTitle: String = "AMOUNT") {
            guard !items.isEmpty else { return }
            var table = TextTable(["HOLD", "TEAM", "MODEL", "STATUS", "HOLD STATE", amountTitle, "TASK"], rightAligned: [0, 5])
            for item in items {
                table.add([String(item.holdID), item.team, item.model, item.status, item.hold, item.amount, item.upstreamTaskID ?? "-"])
            }
            out.append("\(title) (\(items.count)):\n" + table.render())
        }
        section("Settled now", result.settled, amountTitle: "CHARGED")
        section("Still running upstream", result.stillRunning, amountTitle: "HELD")
        section("Expired (released, not charged)", result.expired, amountTitle: "RELEASED")
        section("Never sent: held by a run that stopped before sending; released, not charged", result.neverSent, amountTitle: "RELEASED")
        section("Unknown outcome: sent, no answer; voided at expiry unless settled by hand", result.unknown, amountTitle: "HELD")
        section("Late successes: succeeded after the hold expired; not charged, for review", result.lateSuccesses, amountTitle: "WOULD COST")
        section("Leased by a live gateway: polled and settled by it, left alone here", result.leasedElsewhere, amountTitle: "HELD")
        if !result.unreadable.isEmpty {
            out.append("Could not read (\(result.unreadable.count)):\n" + result.unreadable.map { "  \($0)" }.joined(separator: "\n"))
        }
        return out.isEmpty ? "Nothing to reconcile: no open calls, no stale holds, no late successes." : out.joined(separator: "\n\n")
    }
}

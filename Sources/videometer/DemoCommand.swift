import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import VideoMeter
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterReports
import VideoMeterSellers

/// `videometer demo`: the whole product in one command, with nothing configured and nothing spent.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a sandbox demo: two teams, the gateway and the emulators in-process, real HTTP calls, a budget table and an HTML report.",
        discussion: """
            Creates a fresh ledger of its own (./videometer-demo.sqlite, replaced on every run; your \
            ./videometer.sqlite and VIDEOMETER_DB are never touched), teams `studio` and `marketing` \
            with budgets and keys, starts the BlockRun, WorldRouter and xAI emulators and the gateway on \
            ephemeral loopback ports, and sends a mix of calls over HTTP: sync and async models, one \
            over budget (402), one upstream timeout (504), one failure. Upstream variables are \
            ignored: the demo never calls a real upstream. Writes the month's HTML report to \
            reports/out/.
            """
    )

    @Option(help: ArgumentHelp("Where the HTML report goes.", valueName: "DIR"))
    var out = "reports/out"

    @Option(help: ArgumentHelp(
        "The demo's ledger file (default ./videometer-demo.sqlite, replaced on every run); a path you name must not exist yet.",
        valueName: "PATH"))
    var db: String?

    @Option(name: .customLong("latency-ms"), help: ArgumentHelp("How long each emulated generation takes.", valueName: "MS"))
    var latencyMs = 400

    static let defaultLedger = "videometer-demo.sqlite"

    func validate() throws {
        guard (0...30_000).contains(latencyMs) else { throw ValidationError("--latency-ms must be 0 to 30000.") }
        if let db, FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--db \(db) exists: the demo starts from a fresh ledger and never writes into one that has data. Name a new file.")
        }
    }

    /// A fresh ledger for the demo: the named (new) file, or the demo's own file, replaced.
    func freshLedger() throws -> (Ledger, String) {
        let path = db ?? Self.defaultLedger
        if let db {
            if LedgerLocation.looksLikeURL(db) { throw DemoLedgerError(location: db) }
        }
        if db == nil {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        // Alerts are shown under the budget table rather than logged over the calls.
        var quiet = Logger(label: "videometer.ledger")
        quiet.logLevel = .error
        return (try Ledger(path: path, clock: ProcessClock.shared, logger: quiet), path)
    }

    struct Call {
        var team: String
        var label: String
        var body: String
        var headers: [(String, String)] = []
        /// Sent after the concurrent ones, in order (so the over-budget call is the one refused).
        var sequential = false
    }

    func run() async throws {
        var logger = Logger(label: "videometer.demo")
        logger.logLevel = .warning
        try await reportingErrors {
            let (ledger, path) = try freshLedger()
            let catalog = try Catalog.resolve(flag: nil)
            print("ledger    SQLite file \(path) (new)")
            let budgets: [(team: String, monthly: String)] = [("studio", "5.00"), ("marketing", "1.00")]
            for (team, monthly) in budgets {
                try await ledger.createTeam(name: team)
                try await ledger.setBudget(team: team, BudgetSettings(monthlyLimitMicro: Money.parseMicro(monthly)!))
            }

            let poll = PollPolicy(initialInterval: .milliseconds(50), maxInterval: .milliseconds(200), deadline: .seconds(60))
            // The demo never spends real money: upstream variables are ignored.
            let upstreams = try await Upstreams.start(
                environment: [:], sandbox: true, sandboxLatency: .milliseconds(latencyMs), poll: poll, logger: logger)
            let gateway = try Gateway(
                configuration: GatewayConfiguration(port: 0, reconcileInterval: .seconds(5), metering: .init(pollPolicy: poll)),
                catalog: catalog, ledger: ledger, providers: upstreams.providers, dialects: Sellers.dialects, logger: logger)
            var keys: [String: String] = [:]
            for (team, _) in budgets { keys[team] = try await gateway.keys.create(team: team, name: "demo").key }
            let running = try await gateway.start()
            print("gateway   \(running.baseURL)  (\(upstreams.summary))")
            let http = HTTPClient(eventLoopGroupProvider: .singleton)

            do {
                try await exercise(running.baseURL, keys: keys, http: http)
                print("")
                try await printBudgets(running.baseURL, keys: keys, teams: budgets.map(\.team), http: http)
                for (team, _) in budgets {
                    for alert in try await ledger.alerts(team: team) {
                        switch alert.kind {
                        case .threshold:
                            print("alert     \(team): \(alert.thresholdPercent) % of the \(alert.periodMonth) budget reached (\(Money.format(micro: alert.spentMicro)) of \(Money.format(micro: alert.limitMicro)) USD)")
                        case .projectedOverrun:
                            print("alert     \(team): projected_overrun, the \(alert.periodMonth) spend is projected at \(Money.format(micro: alert.projectedMicro ?? 0)) USD, over the \(Money.format(micro: alert.limitMicro)) USD limit (\(Money.format(micro: alert.spentMicro)) spent)")
                        }
                    }
                }
                let path = try await writeReport(ledger: ledger, catalog: catalog)
                print("\nreport    \(path)")
                let verify = try await ledger.verify()
                print("ledger verify: \(verify.isConsistent ? "consistent" : verify.problems.joined(separator: "; "))")
            } catch {
                try? await http.shutdown()
                await running.shutdown()
                await upstreams.shutdown()
                throw error
            }
            try await http.shutdown()
            await running.shutdown()
            await upstreams.shutdown()
        }
    }

    func exercise(_ base: String, keys: [String: String], http: HTTPClient) async throws {
        let calls = [
            Call(team: "studio", label: "sync   xai/grok-imagine-video, 8 s", body: #"{"model": "xai/grok-imagine-video", "prompt": "a neon-lit cyberpunk street at night, camera slowly dollying forward"}"#),
            Call(team: "studio", label: "sync   bytedance/seedance-1.5-pro, image", body: #"{"model": "bytedance/seedance-1.5-pro", "prompt": "the subject turns its head and smiles", "image_url": "https://example.com/portrait.jpg"}"#),
            Call(team: "studio", label: "async  grok-imagine-video, 6 s 720p", body: #"{"model": "grok-imagine-video", "prompt": "A drone flyover of a snowy mountain range at sunrise.", "duration": 6, "resolution": "720p"}"#),
            Call(team: "studio", label: "async  grok-imagine-video-1.5-preview, image", body: #"{"model": "grok-imagine-video-1.5-preview", "prompt": "Pan slowly across the scene.", "resolution": "720p", "image": {"url": "https://example.com/start.png"}}"#),
            Call(team: "studio", label: "sync   bytedance/seedance-2.0 (upstream 504)", body: #"{"model": "bytedance/seedance-2.0", "prompt": "a slow pan over a harbour at dawn [emulate:timeout]"}"#),
            Call(team: "studio", label: "async  grok-imagine-video (task fails)", body: #"{"model": "grok-imagine-video", "prompt": "a paper boat in the rain [emulate:failed]", "duration": 4, "resolution": "480p"}"#),
            Call(team: "studio", label: "sync   xai/grok-imagine-video + Idempotency-Key", body: #"{"model": "xai/grok-imagine-video", "prompt": "a hummingbird hovering in front of a red flower, ultra slow motion"}"#, headers: [("Idempotency-Key", "demo-hummingbird-\(UUID().uuidString)")]),
            Call(team: "marketing", label: "sync   bytedance/seedance-2.0-fast, 5 s", body: #"{"model": "bytedance/seedance-2.0-fast", "prompt": "a product shot of a watch on black velvet"}"#, sequential: true),
            Call(team: "marketing", label: "sync   xai/grok-imagine-video (over budget)", body: #"{"model": "xai/grok-imagine-video", "prompt": "a red apple slowly spinning on a wooden table, daylight"}"#, sequential: true),
        ]
        // Sent concurrently, as a team's services would; printed in order.
        var results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, call) in calls.enumerated() where !call.sequential {
                group.addTask {
                    var lines = try await send(call, to: base, key: keys[call.team]!, http: http)
                    if call.headers.contains(where: { $0.0 == "Idempotency-Key" }) {
                        lines += "\n" + (try await send(call, to: base, key: keys[call.team]!, http: http)).replacingOccurrences(of: "sync ", with: "retry")
                    }
                    return (index, lines)
                }
            }
            var results: [Int: String] = [:]
            for try await (index, line) in group { results[index] = line }
            return results
        }
        for (index, call) in calls.enumerated() where call.sequential {
            results[index] = try await send(call, to: base, key: keys[call.team]!, http: http)
        }
        for index in calls.indices { print(results[index]!) }
    }

    /// Sends one call; for a task, polls it to its end. Returns a line for the table.
    func send(_ call: Call, to base: String, key: String, http: HTTPClient) async throws -> String {
        var request = HTTPClientRequest(url: base + "/v1/videos/generations")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in call.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: call.body))
        let response = try await http.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        let prefix = "\(call.team.padding(toLength: 10, withPad: " ", startingAt: 0)) \(call.label.padding(toLength: 52, withPad: " ", startingAt: 0))"
        guard response.status == .ok else {
            let error = json["error"] as? [String: Any] ?? [:]
            let available = (error["available"] as? String).map { ", available \($0) USD" } ?? ""
            return "\(prefix) \(response.status.code) \(error["code"] as? String ?? "")\(available)"
        }
        if let taskID = json["id"] as? String {
            let final = try await waitForTask(taskID, base: base, key: key, http: http)
            let metering = final["metering"] as? [String: Any] ?? [:]
            return "\(prefix) 200 task \(final["status"] as? String ?? "?"), charged \(metering["charged"] as? String ?? "?") USD"
        }
        let charged = response.headers.first(name: "X-VideoMeter-Charged") ?? "?"
        let replayed = response.headers.first(name: "X-VideoMeter-Replayed") == "true" ? " (replayed: first result, not charged again)" : ""
        return "\(prefix) 200 video, charged \(charged) USD\(replayed)"
    }

    func waitForTask(_ id: String, base: String, key: String, http: HTTPClient) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            var request = HTTPClientRequest(url: base + "/v1/videos/generations/" + id)
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
            if let status = json["status"] as? String, ["succeeded", "failed", "cancelled", "expired"].contains(status) { return json }
            try await Task.sleep(for: .milliseconds(100))
        }
        return ["status": "still running"]
    }

    func printBudgets(_ base: String, keys: [String: String], teams: [String], http: HTTPClient) async throws {
        var table = TextTable(["team", "month", "limit", "charged", "pending", "available"], rightAligned: [2, 3, 4, 5])
        for team in teams {
            var request = HTTPClientRequest(url: base + "/v1/budget")
            request.headers.add(name: "Authorization", value: "Bearer \(keys[team]!)")
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
            let monthly = json["monthly"] as? [String: Any] ?? [:]
            table.add([team, json["period_month"] as? String ?? "", monthly["limit"] as? String ?? "", monthly["posted"] as? String ?? "",
                       monthly["pending"] as? String ?? "", json["available"] as? String ?? ""])
        }
        print(table.render())
    }

    func writeReport(ledger: Ledger, catalog: Catalog) async throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = ledger.clock.now()
        let parts = calendar.dateComponents([.year, .month], from: now)
        let month = ReportMonth(year: parts.year!, month: parts.month!)!
        let report = try await MonthlyReportBuilder(ledger: ledger, invoiceRoundings: InvoiceRoundings(catalog: catalog)).build(month: month, now: now)
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(ReportFormat.html.fileName(month: month))
        try Data(try ReportRenderer().render(report, as: .html).utf8).write(to: file, options: .atomic)
        return file.path
    }
}

/// `demo --db` names a URL: the demo keeps its own fresh SQLite file (it writes its report from
/// the file's tables).
struct DemoLedgerError: CodedError {
    let location: String
    var code: String { "unsupported_database" }
    var message: String {
        "'\(LedgerLocation.redacted(location).prefix(200))' is not a file path: the demo starts from a fresh SQLite ledger of its own and writes its report from it, so --db takes a new file path. To run on PostgreSQL, use `videometer serve --db postgres://…`; nothing was created."
    }
}

import Foundation
import GRDB
import Testing
import VideoMeter
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterTesting

/// `videometer serve` as a child process, SIGKILLed while the async calls it created are still
/// running upstream, restarted: every task the emulator completed is charged exactly once and
/// nothing else is charged.
@Suite("The gateway survives kill -9", .serialized)
struct CrashTests {
    static var binary: URL { VideometerProcess.binary }

    /// A port that was free a moment ago.
    static func freePort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct Server {
        let process: Process
        let baseURL: String
    }

    /// `videometer serve` with `seller`'s upstream at `upstream` (the others in the sandbox).
    static func serve(db: String, port: Int, upstream: String, seller: String, arguments extra: [String] = []) async throws -> Server {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--port", String(port), "--db", db, "--poll-ms", "20", "--reconcile-seconds", "1"] + extra
        var environment = VideometerProcess.environment()
        let prefix = seller == "xai" ? "VIDEOMETER_XAI" : "VIDEOMETER_WORLDROUTER"
        environment[prefix + "_URL"] = upstream
        environment[prefix + "_KEY"] = "crash-test-key"
        environment["VIDEOMETER_LOG_LEVEL"] = "error"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try VideometerProcess.launch(process)
        let baseURL = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let answer = try? await plainGet(baseURL + "/healthz"), answer == 200 { return Server(process: process, baseURL: baseURL) }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw CocoaError(.fileReadUnknown)
    }

    static func plainGet(_ url: String) async throws -> Int {
        var request = HTTPClientRequestBuilder(url: url)
        request.method = .GET
        return try await request.status()
    }

    /// The async sellers, each through its own path and answer shape.
    @Test(arguments: ["worldrouter", "xai"])
    func killedDuringABurstOfAsyncCallsThenRestartedChargesEachCompletedTaskOnce(_ seller: String) async throws {
        let style: EmulatorStyle = seller == "xai" ? .xai : .worldrouter
        let path = seller == "xai" ? "/xai/v1/videos/generations" : "/v1/videos/generations"
        let idMember = seller == "xai" ? "request_id" : "id"
        let emulator = Emulator(EmulatorConfiguration(style: style, latency: .milliseconds(600), failRate: 0.3, pendingCap: 1000, seed: 21))
        _ = try await emulator.start()
        let upstream = await emulator.baseURL!
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-gateway-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let db = directory.appendingPathComponent("ledger.sqlite").path
        let key: String
        do {
            let ledger = try Ledger(path: db, clock: TestClock.runningWallClock())
            try await ledger.createTeam(name: "acme")
            try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
            key = try await APIKeyStore(ledger: ledger).create(team: "acme").key
        }

        var random = SplitMix64(seed: 7)
        var taskIDs: [String] = []
        for round in 0..<2 {
            let server = try await Self.serve(db: db, port: try Self.freePort(), upstream: upstream, seller: seller)
            let ids = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<25 {
                    let seconds = 1 + index % 4
                    let resolution = index % 3 == 0 ? "480p" : "720p"
                    group.addTask {
                        var request = HTTPClientRequestBuilder(url: server.baseURL + path)
                        request.method = .POST
                        request.headers = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")]
                        request.body = #"{"model": "grok-imagine-video", "prompt": "round \#(round) call \#(index)", "duration": \#(seconds), "resolution": "\#(resolution)"}"#
                        let (status, json) = try await request.json()
                        #expect(status == 200, "\(json)")
                        return json[idMember] as? String
                    }
                }
                var ids: [String] = []
                for try await id in group { if let id { ids.append(id) } }
                return ids
            }
            taskIDs += ids
            // Every create was answered; the tasks run upstream while the gateway polls them.
            try await Task.sleep(for: .milliseconds(Int(random.next() % 400)))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            #expect(server.process.terminationReason == Process.TerminationReason.uncaughtSignal)
        }
        #expect(taskIDs.count == 50)

        // The restarted gateway reconciles what the killed ones left, and polls the rest.
        let server = try await Self.serve(db: db, port: try Self.freePort(), upstream: upstream, seller: seller)
        // Waits for the gateway's locks rather than failing with SQLITE_BUSY.
        var patient = Configuration()
        patient.busyMode = .timeout(10)
        let reader = try DatabaseQueue(path: db, configuration: patient)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let open = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold WHERE state = 'pending'") ?? -1 }
            if open == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Should a hold ever stay open (seen once under the whole suite's load, not reproduced),
        // say which and where it stands.
        let stillOpen = try await reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT hold.id, hold.callStatus, hold.upstreamTaskID, hold.deadline, settlementLease.owner, settlementLease.expiresAt
                FROM hold LEFT JOIN settlementLease ON settlementLease.holdID = hold.id WHERE hold.state = 'pending'
                """)
        }
        #expect(stillOpen.isEmpty, "holds still open after 30 s: \(stillOpen)")
        // SIGTERM: a graceful stop, exit status 0.
        server.process.terminate()
        server.process.waitUntilExit()
        #expect(server.process.terminationReason == Process.TerminationReason.exit)
        #expect(server.process.terminationStatus == 0)

        let stats = await emulator.stats()
        #expect(stats.created == 50)
        let holds = try await reader.read { db in
            try Row.fetchAll(db, sql: "SELECT upstreamTaskID, state, postedMicro, seconds, resolution FROM hold")
        }
        #expect(holds.count == 50)
        var completed = 0
        for (taskID, task) in stats.tasks {
            let matching = holds.filter { $0["upstreamTaskID"] as String? == taskID }
            #expect(matching.count == 1, "task \(taskID) has \(matching.count) holds")
            guard let hold = matching.first else { continue }
            if task.status == "succeeded" {
                completed += 1
                let rate: MicroUSD = (hold["resolution"] as String) == "480p" ? 50_000 : 70_000
                #expect(hold["state"] as String == "posted", "completed task \(taskID) not charged")
                #expect(hold["postedMicro"] as MicroUSD == MicroUSD(hold["seconds"] as Int) * rate)
            } else {
                #expect(hold["state"] as String == "voided", "task \(taskID) \(task.status) left hold \(hold["state"] as String)")
                #expect(hold["postedMicro"] as MicroUSD == 0)
            }
        }
        #expect(completed == stats.completed)
        #expect(completed > 0 && completed < 50)
        let charged = try await reader.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journalEntry WHERE kind = 'post'")
        }
        #expect(charged == completed)
        let verify = try await Ledger(path: db, clock: TestClock.runningWallClock()).verify()
        #expect(verify.isConsistent, "\(verify.problems)")
        await emulator.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

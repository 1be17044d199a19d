import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterLedgerPostgres
import VideoMeterProviders
import VideoMeterSellers

/// Sync calls through the gateway over loopback HTTP vs. the same calls straight to the emulator
/// (zero latency), at 1 and 200 concurrent clients: added latency (p50/p99) and throughput. Then
/// the process's resident memory with 10,000 async tasks in flight.
let gatewayBenchmark = Benchmark(
    name: "gateway",
    summary: "gateway vs straight to the emulator (sync model, zero latency) at 1 and 200 clients; RSS with 10,000 async tasks in flight"
) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-bench-gateway-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let ledger = try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path)
    return try await measureGateway(ledger: ledger, team: "bench")
}

/// The same on a PostgreSQL ledger (`VIDEOMETER_BENCH_POSTGRES_URL`, as `ledger-postgres`).
let gatewayPostgresBenchmark = Benchmark(
    name: "gateway-postgres",
    summary: "the gateway benchmark on a PostgreSQL ledger"
) {
    guard let url = ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_POSTGRES_URL"], !url.isEmpty else {
        print("  skipped: set VIDEOMETER_BENCH_POSTGRES_URL to a PostgreSQL database the benchmark may write to")
        return []
    }
    let ledger = try await PostgresLedger.open(try PostgresLedger.Configuration(url: url))
    // An earlier run leaves its 10,000 tasks in flight; this run's gateway takes them over at
    // start (reconcile) and tracks them too, which inflates the memory and CPU figures.
    let open = try await ledger.pendingHoldCount()
    if open > 0 {
        print("  warning: \(open) holds of earlier runs are open in this database; this run's gateway takes them over, so its figures are not comparable: use an empty database")
    }
    let measurements = try await measureGateway(ledger: ledger, team: "bench-gateway-\(UUID().uuidString.prefix(8))")
    await ledger.close()
    return measurements
}

func measureGateway(ledger: any LedgerStore, team: String) async throws -> [Measurement] {
    let blockRun = Emulator(EmulatorConfiguration(style: .blockrun, latency: .zero, pendingCap: 100_000))
    let worldRouter = Emulator(EmulatorConfiguration(style: .worldrouter, latency: .seconds(600), pendingCap: 100_000))
    _ = try await blockRun.start()
    _ = try await worldRouter.start()
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 512
    let upstreamHTTP = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let loadHTTP = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let slowPolling = PollPolicy(initialInterval: .seconds(30), maxInterval: .seconds(60), deadline: .seconds(3600))
    let providers: [String: any VideoProvider] = [
        "blockrun": try BlockRunClient(httpClient: upstreamHTTP, configuration: .init(baseURL: await blockRun.baseURL!, timeout: .seconds(60), limits: .unlimited)),
        "worldrouter": try WorldRouterClient(httpClient: upstreamHTTP, configuration: .init(
            baseURL: await worldRouter.baseURL!, apiKey: Secret("bench"), requestTimeout: .seconds(60), createRetry: .none, poll: slowPolling)),
    ]
    try await ledger.createTeam(name: team)
    try await ledger.setBudget(team: team, BudgetSettings(monthlyLimitMicro: LedgerRules.maximumMicro))
    var silent = Logger(label: "videometer.bench.gateway")
    silent.logLevel = .critical
    let gateway = try Gateway(
        configuration: GatewayConfiguration(port: 0, maxPendingTasksPerTeam: 20_000, reconcileInterval: .seconds(3600), metering: .init(pollPolicy: slowPolling)),
        catalog: try Catalog.bundled(), ledger: ledger, providers: providers, dialects: Sellers.dialects, logger: silent)
    let key = try await gateway.keys.create(team: team, name: "bench").key
    let running = try await gateway.start()

    let body = #"{"model": "bytedance/seedance-1.5-pro", "prompt": "bench"}"#
    let directURL = await blockRun.baseURL! + "/v1/videos/generations"
    let gatewayURL = running.baseURL + "/v1/videos/generations"
    @Sendable func call(_ url: String, authorized: Bool) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if authorized { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await loadHTTP.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw BenchmarkError("\(url) answered \(response.status.code)") }
    }

    /// Latencies (ms) of `clients` callers sending `perClient` calls each, calls per second, and
    /// the CPU time (user + system, every thread of this process) per call in microseconds.
    func load(_ url: String, authorized: Bool, clients: Int, perClient: Int) async throws -> (latencies: [Double], throughput: Double, cpuPerCall: Double) {
        let clock = ContinuousClock()
        let cpuBefore = processCPUSeconds()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var mine: [Double] = []
                    for _ in 0..<perClient {
                        let begin = clock.now
                        try await call(url, authorized: authorized)
                        mine.append(seconds(begin.duration(to: clock.now)) * 1000)
                    }
                    return mine
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = seconds(start.duration(to: clock.now))
        let calls = Double(clients * perClient)
        return (latencies, calls / elapsed, (processCPUSeconds() - cpuBefore) / calls * 1_000_000)
    }

    // Warm up connections on both paths.
    _ = try await load(directURL, authorized: false, clients: 200, perClient: 2)
    _ = try await load(gatewayURL, authorized: true, clients: 200, perClient: 2)

    // `VIDEOMETER_BENCH_GATEWAY_PROFILE=gateway|direct,CLIENTS,CALLS`: one path only, CALLS calls
    // from each of CLIENTS clients, for a profiler attached to this process (docs/GATEWAY.md).
    if let profile = try ProfileRun(ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_GATEWAY_PROFILE"]) {
        let run = profile.gateway
            ? try await load(gatewayURL, authorized: true, clients: profile.clients, perClient: profile.calls)
            : try await load(directURL, authorized: false, clients: profile.clients, perClient: profile.calls)
        await running.shutdown()
        try await loadHTTP.shutdown()
        try await upstreamHTTP.shutdown()
        await blockRun.shutdown()
        await worldRouter.shutdown()
        let path = profile.gateway ? "through the gateway" : "straight to the emulator"
        return [
            Measurement(label: "p50 latency, \(profile.clients) client(s), \(path)", value: percentile(run.latencies, 0.5), unit: "ms"),
            Measurement(label: "calls/s, \(profile.clients) client(s), \(path)", value: run.throughput, unit: "calls/s"),
            Measurement(label: "CPU per call, \(profile.clients) client(s), \(path)", value: run.cpuPerCall, unit: "µs"),
        ]
    }

    // The floor at one client: a metered sync call makes two durable commits (the hold, the
    // charge). What one single-row commit costs through the same store, in this run.
    let commitLatencies = try await singleRowCommits(ledger: ledger, team: team, count: 200)
    let commitP50 = percentile(commitLatencies, 0.5)
    var measurements: [Measurement] = [
        Measurement(label: "single-row durable commit through the store, p50", value: commitP50, unit: "ms"),
    ]
    for (clients, perClient) in [(1, 500), (200, 20)] {
        let direct = try await load(directURL, authorized: false, clients: clients, perClient: perClient)
        let through = try await load(gatewayURL, authorized: true, clients: clients, perClient: perClient)
        let p50 = (percentile(through.latencies, 0.5), percentile(direct.latencies, 0.5))
        let p99 = (percentile(through.latencies, 0.99), percentile(direct.latencies, 0.99))
        let added = p50.0 - p50.1
        let aim = clients == 1
            ? "added \(format(added)) ms; two commits \(format(2 * commitP50)) ms, the rest \(format(added - 2 * commitP50)) ms (aim: added <= 1.5 ms)"
            : "added \(format(added)) ms (aim: added <= 20 ms)"
        measurements.append(Measurement(
            label: "p50 latency, \(clients) client(s), through the gateway", value: p50.0, unit: "ms",
            baseline: ("straight to the emulator", p50.1), aim: aim))
        measurements.append(Measurement(
            label: "p99 latency, \(clients) client(s), through the gateway", value: p99.0, unit: "ms",
            baseline: ("straight to the emulator", p99.1), aim: "added \(format(p99.0 - p99.1)) ms"))
        measurements.append(Measurement(
            label: "calls/s, \(clients) client(s), through the gateway", value: through.throughput, unit: "calls/s",
            baseline: ("straight to the emulator", direct.throughput), aim: clients == 1 ? nil : "aim: ratio >= 0.6"))
        // Load client, gateway and emulator share this process: the gateway's own CPU per call is
        // the difference.
        measurements.append(Measurement(
            label: "CPU per call, \(clients) client(s), through the gateway", value: through.cpuPerCall, unit: "µs",
            baseline: ("straight to the emulator", direct.cpuPerCall), aim: "the gateway's own: \(format(through.cpuPerCall - direct.cpuPerCall)) µs"))
    }

    // 10,000 async tasks in flight: created through the gateway, running upstream, tracked by the settler.
    let before = residentMegabytes()
    let taskBody = #"{"model": "grok-imagine-video", "prompt": "bench", "duration": 2, "resolution": "480p"}"#
    let tasks = 10_000
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<200 {
            group.addTask {
                for _ in stride(from: worker, to: tasks, by: 200) {
                    var request = HTTPClientRequest(url: gatewayURL)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.headers.add(name: "Authorization", value: "Bearer \(key)")
                    request.body = .bytes(ByteBuffer(string: taskBody))
                    let response = try await loadHTTP.execute(request, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    guard response.status == .ok else { throw BenchmarkError("task create answered \(response.status.code)") }
                }
            }
        }
        try await group.waitForAll()
    }
    let tracked = gateway.settler.trackedCount
    let after = residentMegabytes()
    guard tracked == tasks else { throw BenchmarkError("\(tracked) tasks tracked, expected \(tasks)") }
    measurements.append(Measurement(
        label: "resident memory with \(tasks) async tasks in flight (gateway, emulators, load client in one process)", value: after, unit: "MB",
        baseline: ("before the tasks", before), aim: "aim < 200 MB; \(format(after - before)) MB for the tasks"))

    await running.shutdown()
    let report = try await ledger.verify()
    try await loadHTTP.shutdown()
    try await upstreamHTTP.shutdown()
    await blockRun.shutdown()
    await worldRouter.shutdown()
    guard report.isConsistent else { throw BenchmarkError("ledger inconsistent: \(report.problems.prefix(3))") }
    return measurements
}

/// `VIDEOMETER_BENCH_GATEWAY_PROFILE`: which path to load, with how many clients and calls each.
struct ProfileRun {
    var gateway: Bool
    var clients: Int
    var calls: Int

    init?(_ text: String?) throws {
        guard let text, !text.isEmpty else { return nil }
        let parts = text.split(separator: ",").map(String.init)
        guard parts.count == 3, ["gateway", "direct"].contains(parts[0]), let clients = Int(parts[1]), let calls = Int(parts[2]),
              clients > 0, calls > 0
        else {
            throw BenchmarkError("VIDEOMETER_BENCH_GATEWAY_PROFILE must be gateway|direct,CLIENTS,CALLS (e.g. gateway,200,100), not '\(text)'")
        }
        self.gateway = parts[0] == "gateway"
        self.clients = clients
        self.calls = calls
    }
}

/// Latencies (ms) of `count` single-row durable commits through `ledger`, one after the other: each
/// creates a team (one row, one transaction, the store's commit path).
func singleRowCommits(ledger: any LedgerStore, team: String, count: Int) async throws -> [Double] {
    let clock = ContinuousClock()
    var latencies: [Double] = []
    for index in 0..<count {
        let begin = clock.now
        try await ledger.createTeam(name: "\(team)-commit-\(index)")
        latencies.append(seconds(begin.duration(to: clock.now)) * 1000)
    }
    return latencies
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}

/// CPU time this process has used, user and system, all threads, in seconds.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
}

/// VmRSS from /proc/self/status, in megabytes (0 where /proc is not available).
func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

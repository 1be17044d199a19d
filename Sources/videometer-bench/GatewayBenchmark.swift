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

    /// Latencies (ms) of `clients` callers sending `perClient` calls each, and calls per second.
    func load(_ url: String, authorized: Bool, clients: Int, perClient: Int) async throws -> (latencies: [Double], throughput: Double) {
        let clock = ContinuousClock()
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
        return (latencies, Double(clients * perClient) / seconds(start.duration(to: clock.now)))
    }

    // Warm up connections on both paths.
    _ = try await load(directURL, authorized: false, clients: 200, perClient: 2)
    _ = try await load(gatewayURL, authorized: true, clients: 200, perClient: 2)

    var measurements: [Measurement] = []
    for (clients, perClient) in [(1, 500), (200, 20)] {
        let direct = try await load(directURL, authorized: false, clients: clients, perClient: perClient)
        let through = try await load(gatewayURL, authorized: true, clients: clients, perClient: perClient)
        let p50 = (percentile(through.latencies, 0.5), percentile(direct.latencies, 0.5))
        let p99 = (percentile(through.latencies, 0.99), percentile(direct.latencies, 0.99))
        measurements.append(Measurement(
            label: "p50 latency, \(clients) client(s), through the gateway", value: p50.0, unit: "ms",
            baseline: ("straight to the emulator", p50.1), aim: "added \(format(p50.0 - p50.1)) ms (aim < 1 ms at 200 clients)"))
        measurements.append(Measurement(
            label: "p99 latency, \(clients) client(s), through the gateway", value: p99.0, unit: "ms",
            baseline: ("straight to the emulator", p99.1), aim: "added \(format(p99.0 - p99.1)) ms (aim < 5 ms at 200 clients)"))
        measurements.append(Measurement(
            label: "calls/s, \(clients) client(s), through the gateway", value: through.throughput, unit: "calls/s",
            baseline: ("straight to the emulator", direct.throughput)))
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

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}

/// VmRSS from /proc/self/status, in megabytes (0 where /proc is not available).
func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

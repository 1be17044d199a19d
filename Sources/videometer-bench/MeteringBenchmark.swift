import AsyncHTTPClient
import Foundation
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// Metered calls against the in-process emulator with zero latency, vs. the same calls sent
/// straight to the emulator without metering: the difference is the metering overhead (quote,
/// durable hold, durable settlement with its usage event).
let meteringBenchmark = Benchmark(
    name: "metering",
    summary: "metered sync calls vs the same calls straight to the emulator (zero latency): per-call overhead and throughput"
) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    let emulator = Emulator(EmulatorConfiguration(style: .blockrun, latency: .zero, pendingCap: 10_000))
    _ = try await emulator.start()
    let base = await emulator.baseURL!
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let upstream = try BlockRunClient(httpClient: http, configuration: .init(baseURL: base, timeout: .seconds(30), limits: .unlimited))
    let ledger = try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path)
    try await ledger.createTeam(name: "bench")
    try await ledger.setBudget(team: "bench", BudgetSettings(monthlyLimitMicro: Ledger.maximumMicro))
    let client = MeteredClient(catalog: try Catalog.bundled(), ledger: ledger, providers: ["blockrun": upstream])

    let generation = GenerationRequest(model: "bytedance/seedance-1.5-pro", prompt: "bench", durationSeconds: 5)
    @Sendable func direct(_ index: Int) async throws {
        _ = try await upstream.submit(generation, idempotencyKey: "direct-\(index)")
    }
    @Sendable func metered(_ prefix: String, _ index: Int) async throws {
        let outcome = try await client.generate(MeteredRequest(
            team: "bench", model: "bytedance/seedance-1.5-pro", prompt: "bench", idempotencyKey: "\(prefix)-\(index)"))
        guard outcome.chargedMicro == 157_500 else { throw BenchmarkError("charged \(outcome.chargedMicro), expected 157500") }
    }

    // Warm up connections and caches.
    for index in 0..<20 { try await direct(-index - 1); try await metered("warm", index) }

    let sequential = 300
    var directLatencies: [Double] = []
    var meteredLatencies: [Double] = []
    let clock = ContinuousClock()
    for index in 0..<sequential {
        directLatencies.append(seconds(try await clock.measure { try await direct(index) }) * 1000)
        meteredLatencies.append(seconds(try await clock.measure { try await metered("seq", index) }) * 1000)
    }
    let directMedian = median(directLatencies)
    let meteredMedian = median(meteredLatencies)

    let concurrency = 64, perCaller = 20
    func throughput(_ call: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
        try await opsPerSecond(iterations: concurrency * perCaller) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<concurrency {
                    group.addTask { for index in 0..<perCaller { try await call(caller * perCaller + index) } }
                }
                try await group.waitForAll()
            }
        }
    }
    let directThroughput = try await throughput { try await direct(100_000 + $0) }
    let meteredThroughput = try await throughput { try await metered("par", $0) }

    let report = try await ledger.verify()
    try await http.shutdown()
    await emulator.shutdown()
    guard report.isConsistent else { throw BenchmarkError("ledger inconsistent: \(report.problems.prefix(3))") }
    return [
        Measurement(label: "median call, 1 caller, metered", value: meteredMedian, unit: "ms",
                    baseline: ("straight to the emulator", directMedian),
                    aim: "overhead \(format(meteredMedian - directMedian)) ms per call (aim < 1 ms; 2 durable commits per sync call: hold, post)"),
        Measurement(label: "calls/s, 64 callers, metered", value: meteredThroughput, unit: "calls/s",
                    baseline: ("straight to the emulator", directThroughput)),
    ]
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

import Foundation

/// One figure a benchmark measured, printed beside the baseline it is compared with.
struct Measurement {
    var label: String
    /// Higher is better for throughputs (`ops/s`); lower is better for latencies (`ms`, `s`).
    var value: Double
    var unit: String
    /// The baseline measured in the same run, when this figure has one.
    var baseline: (label: String, value: Double)?
    /// A target from the issue, printed for comparison (e.g. "aim: >= 20000 ops/s").
    var aim: String?
}

/// A named benchmark: `swift run -c release videometer-bench NAME`.
struct Benchmark: Sendable {
    var name: String
    var summary: String
    var run: @Sendable () async throws -> [Measurement]
}

/// Times `body` over `iterations` and returns operations per second.
func opsPerSecond(iterations: Int, _ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure { try body() }
    return Double(iterations) / seconds(elapsed)
}

/// Times an async `body` over `iterations` and returns operations per second.
func opsPerSecond(iterations: Int, _ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    return Double(iterations) / seconds(start.duration(to: clock.now))
}

func seconds(_ duration: Duration) -> Double {
    let (whole, atto) = duration.components
    return Double(whole) + Double(atto) / 1e18
}

func format(_ value: Double) -> String {
    if value >= 100 { return String(format: "%.0f", value) }
    if value >= 1 { return String(format: "%.2f", value) }
    return String(format: "%.4f", value)
}

/// Prints one measurement line: figure, unit, baseline and ratio.
func report(_ measurement: Measurement) {
    var line = "  \(measurement.label): \(format(measurement.value)) \(measurement.unit)"
    if let baseline = measurement.baseline {
        let ratio = baseline.value == 0 ? 0 : measurement.value / baseline.value
        line += " | baseline \(baseline.label): \(format(baseline.value)) \(measurement.unit) | ratio \(String(format: "%.3f", ratio))"
    }
    if let aim = measurement.aim { line += " | \(aim)" }
    print(line)
}

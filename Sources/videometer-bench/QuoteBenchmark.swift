import Foundation
import VideoMeter
import VideoMeterCatalog

/// Quotes per second on one thread, against the bare Decimal arithmetic of the same quote.
let quoteBenchmark = Benchmark(name: "quote", summary: "quotes/s on one thread vs the bare Decimal arithmetic of the same quote") {
    let catalog = try Catalog.bundled()
    let date = Date()
    let request = QuoteRequest(model: "bytedance/seedance-1.5-pro", durationSeconds: 5)
    let expected = try catalog.quote(request, at: date)
    let iterations = 200_000

    // Baseline: the same arithmetic with every figure already in hand — seconds x rate, the 5 %
    // margin, the sum, rounding at the settlement and display scales, and the same again at the
    // maximum duration for the worst case.
    let rate = Decimal(string: "0.030")!
    let marginFraction = Decimal(5) / 100
    var sink = Decimal.zero
    func bareQuote(seconds: Int) -> (total: Decimal, display: Decimal) {
        let upstream = Decimal(seconds) * rate
        let exact = upstream + upstream * marginFraction
        return (Money.round(exact, scale: 6, .halfUp), Money.round(exact, scale: 3, .halfUp))
    }
    var worstSink = Decimal.zero
    let bare = opsPerSecond(iterations: iterations) {
        for _ in 0..<iterations {
            let quote = bareQuote(seconds: 5)
            let worst = bareQuote(seconds: 10)
            sink += quote.total
            if quote.display > worst.display { worstSink = worst.total }
        }
    }

    var total = Decimal.zero
    let engine = try opsPerSecond(iterations: iterations) {
        for _ in 0..<iterations {
            total += try catalog.quote(request, at: date).total
        }
    }
    guard total == expected.total * Decimal(iterations), sink == total, worstSink == 0 else {
        throw BenchmarkError("the engine's totals drifted from \(expected.total)")
    }

    // The exact fast path: the same validation and totals (worst case included) in scaled integers.
    let fastIterations = 1_000_000
    var fastTotal: Int64 = 0
    let fast = try opsPerSecond(iterations: fastIterations) {
        for _ in 0..<fastIterations {
            fastTotal &+= try catalog.totals(request, at: date).totalUnits
        }
    }
    let expectedTotals = try catalog.totals(request, at: date)
    guard expectedTotals.total == expected.total, fastTotal == expectedTotals.totalUnits * Int64(fastIterations) else {
        throw BenchmarkError("the fast path's totals drifted from \(expected.total)")
    }
    return [
        Measurement(
            label: "quote (seedance-1.5-pro, 5 s, with worst case)", value: engine, unit: "quotes/s",
            baseline: ("bare Decimal arithmetic", bare), aim: "aim: ratio >= 0.33 (within 3x)"
        ),
        Measurement(
            label: "quote totals, exact fast path (same request)", value: fast, unit: "quotes/s",
            baseline: ("bare Decimal arithmetic", bare),
            aim: "aim: faster than LiteLLM's float calculator (../shared/bench/peer-litellm.sh, ~600,000 calls/s quiet)"
        ),
    ]
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

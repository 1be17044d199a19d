import Foundation
import Logging

// Benchmarks report figures, not the components' info logs.
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

/// Every benchmark, in the order they run. Add new ones here.
let benchmarks: [Benchmark] = [
    quoteBenchmark,
    ledgerBenchmark,
    postgresLedgerBenchmark,
    meteringBenchmark,
    reportBenchmark,
    gatewayBenchmark,
    gatewayPostgresBenchmark,
]

let arguments = Array(CommandLine.arguments.dropFirst())
// One of the processes a multi-process benchmark starts.
if arguments.first == PostgresPairsChild.flag {
    exit(await PostgresPairsChild.main(Array(arguments.dropFirst())))
}
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: videometer-bench [NAME...]\n\nBenchmarks (all when none is named):")
    for benchmark in benchmarks { print("  \(benchmark.name)\t\(benchmark.summary)") }
    exit(0)
}
let unknown = arguments.filter { name in !benchmarks.contains { $0.name == name } }
if !unknown.isEmpty {
    FileHandle.standardError.write(Data("error: unknown benchmark(s): \(unknown.joined(separator: ", ")); run with --help for the list\n".utf8))
    exit(64)
}
#if DEBUG
print("warning: this is a debug build; run `swift run -c release videometer-bench` for figures worth quoting")
#endif
for benchmark in benchmarks where arguments.isEmpty || arguments.contains(benchmark.name) {
    print("\(benchmark.name): \(benchmark.summary)")
    do {
        for measurement in try await benchmark.run() { report(measurement) }
    } catch {
        print("  failed: \(error)")
        exit(1)
    }
}

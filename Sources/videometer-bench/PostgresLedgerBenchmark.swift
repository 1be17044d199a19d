import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterLedgerPostgres

/// Durable hold+post pairs per second through the PostgreSQL ledger at 64 concurrent callers with
/// group commit, against the same operations through the same driver and server written one
/// operation per transaction (the store with `maximumBatch = 1`), measured in the same run.
///
/// Needs a server: `VIDEOMETER_BENCH_POSTGRES_URL` names a database the benchmark may write to
/// (it adds two teams with fresh names); without it the benchmark says so and measures nothing.
let postgresLedgerBenchmark = Benchmark(
    name: "ledger-postgres",
    summary: "PostgreSQL ledger: hold+post pairs/s at 64 callers, group commit vs one operation per transaction"
) {
    guard let url = ProcessInfo.processInfo.environment["VIDEOMETER_BENCH_POSTGRES_URL"], !url.isEmpty else {
        print("  skipped: set VIDEOMETER_BENCH_POSTGRES_URL to a PostgreSQL database the benchmark may write to")
        return []
    }
    var configuration = try PostgresLedger.Configuration(url: url)
    configuration.maximumConnections = 4
    let run = UUID().uuidString.prefix(8)

    func measure(maximumBatch: Int, label: String) async throws -> Double {
        configuration.maximumBatch = maximumBatch
        let ledger = try await PostgresLedger.open(configuration)
        let team = "bench-\(label)-\(run)"
        try await ledger.createTeam(name: team)
        try await ledger.setBudget(team: team, BudgetSettings(monthlyLimitMicro: LedgerRules.maximumMicro))
        let callers = 64, perCaller = 40
        let pairs = try await opsPerSecond(iterations: callers * perCaller) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<callers {
                    group.addTask {
                        for index in 0..<perCaller {
                            let request = HoldRequest(
                                team: team, idempotencyKey: "\(team)-\(caller)-\(index)", fingerprint: "bench", amountMicro: 1_500_000,
                                timeoutSeconds: 600, provider: "blockrun", model: "bytedance/seedance-1.5-pro", resolution: "720p",
                                seconds: 5, catalogVersion: "bench", quoteJSON: #"{"total":"1.500000"}"#,
                                upstreamCostMicro: 1_428_571, marginMicro: 71_429)
                            let hold = try await ledger.hold(request).hold
                            try await ledger.post(holdID: hold.id, amount: 1_200_000)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let status = try await ledger.budgetStatus(team: team)
        await ledger.close()
        guard status.monthPostedMicro == MicroUSD(callers * perCaller) * 1_200_000, status.monthPendingMicro == 0 else {
            throw BenchmarkError("the \(label) run left posted \(status.monthPostedMicro), pending \(status.monthPendingMicro) micro-USD")
        }
        return pairs
    }

    let single = try await measure(maximumBatch: 1, label: "single")
    let grouped = try await measure(maximumBatch: 512, label: "grouped")
    return [
        Measurement(label: "hold+post pairs, 64 callers, one operation per transaction", value: single, unit: "pairs/s"),
        Measurement(
            label: "hold+post pairs, 64 callers (group commit)", value: grouped, unit: "pairs/s",
            baseline: ("one operation per transaction", single)),
    ]
}

import Foundation
import Testing
import VideoMeter
import VideoMeterGateway
import VideoMeterLedger

@Suite("Budgets hold under concurrent HTTP load")
struct ConcurrencyTests {
    @Test func fiveHundredConcurrentRequestsChargeExactlyKPerTeam() async throws {
        // Budgets that fit exactly K calls of 0.42 USD (xai/grok-imagine-video, 8 s).
        let teams: [(name: String, k: Int)] = [("alpha", 37), ("beta", 50), ("gamma", 13), ("delta", 1), ("epsilon", 0)]
        let price: MicroUSD = 420_000
        try await withGateway { gw in
            var keys: [String: String] = [:]
            for team in teams {
                // A zero budget is a budget too: every call is refused.
                keys[team.name] = try await gw.team(team.name, budgetMicro: MicroUSD(team.k) * price)
            }
            let body = #"{"model": "xai/grok-imagine-video", "prompt": "a red apple slowly spinning on a wooden table, daylight"}"#
            let results = try await withThrowingTaskGroup(of: (String, Int, String?).self) { group in
                for index in 0..<500 {
                    let team = teams[index % teams.count].name
                    let key = keys[team]!
                    group.addTask {
                        let answer = try await gw.post("/v1/videos/generations", key: key, body)
                        return (team, answer.status, answer.errorCode)
                    }
                }
                var results: [(String, Int, String?)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 500)
            for team in teams {
                let mine = results.filter { $0.0 == team.name }
                #expect(mine.count == 100)
                #expect(mine.filter { $0.1 == 200 }.count == team.k, "\(team.name): \(Dictionary(grouping: mine, by: { "\($0.1) \($0.2 ?? "")" }).mapValues(\.count))")
                #expect(mine.filter { $0.1 == 402 && $0.2 == "budget_exceeded" }.count == 100 - team.k, "\(team.name)")
                let status = try await gw.ledger.budgetStatus(team: team.name)
                #expect(status.monthPostedMicro == MicroUSD(team.k) * price)
                #expect(status.monthPendingMicro == 0)
                #expect(status.availableMicro == 0)
            }
            #expect(await gw.blockRun.stats().completed == teams.map(\.k).reduce(0, +))
            let verify = try await gw.ledger.verify()
            #expect(verify.isConsistent, "\(verify.problems)")
        }
    }
}

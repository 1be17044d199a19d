import Foundation
import GRDB
import Testing
import VideoMeter
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger

@Suite("Gateway routes over loopback HTTP")
struct RouteTests {
    static let grokSync = #"{"model": "xai/grok-imagine-video", "prompt": "a neon-lit cyberpunk street at night, camera slowly dollying forward"}"#
    static let grokTask = #"{"model": "grok-imagine-video", "prompt": "A drone flyover of a snowy mountain range at sunrise.", "duration": 6, "resolution": "720p"}"#

    @Test func syncModelAnswersInBlockRunShapeAndChargesTheQuote() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let answer = try await gw.post("/v1/videos/generations", key: key, Self.grokSync)
            #expect(answer.status == 200, "\(answer.text)")
            let data = try #require(answer.json["data"] as? [[String: Any]])
            #expect(answer.json["model"] as? String == "xai/grok-imagine-video")
            #expect(answer.json["created"] is Int)
            #expect(data.count == 1)
            #expect((data[0]["url"] as? String)?.hasSuffix(".mp4") == true)
            #expect(data[0]["duration_seconds"] as? Int == 8)
            #expect(data[0]["backed_up"] as? Bool == true)
            #expect(answer.headers.first(name: "X-VideoMeter-Charged") == "0.420000")

            let holds = try await gw.ledger.holds()
            #expect(holds.count == 1)
            #expect(holds[0].state == .posted)
            #expect(holds[0].postedMicro == 420_000)
            let status = try await gw.ledger.budgetStatus(team: "studio")
            #expect(status.monthPostedMicro == 420_000)
            #expect(status.availableMicro == 4_580_000)
        }
    }

    @Test func asyncModelAnswersWithATaskAndIsSettledWithoutAnyPoll() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let answer = try await gw.post("/v1/videos/generations", key: key, Self.grokTask)
            #expect(answer.status == 200, "\(answer.text)")
            let id = try #require(answer.json["id"] as? String)
            #expect(id.hasPrefix("task_"))
            #expect(answer.json["request_id"] as? String == id)
            #expect(answer.json["model"] as? String == "grok-imagine-video")
            #expect(["queued", "running"].contains(answer.json["status"] as? String))
            // The upstream's own task id never reaches the client.
            let upstreamIDs = Set(await gw.worldRouter.stats().tasks.keys)
            #expect(upstreamIDs.count == 1)
            #expect(!upstreamIDs.contains(id))
            #expect(!answer.text.contains(upstreamIDs.first!))

            // Nobody polls: the gateway settles the task by itself.
            try await gw.waitUntil { try await gw.hold(taskID: id).state == .posted }
            let hold = try await gw.hold(taskID: id)
            #expect(hold.postedMicro == 420_000)
            #expect(try await gw.ledger.budgetStatus(team: "studio").monthPostedMicro == 420_000)

            let read = try await gw.get("/v1/videos/generations/\(id)", key: key)
            #expect(read.status == 200)
            #expect(read.json["status"] as? String == "succeeded")
            #expect(((read.json["content"] as? [String: Any])?["video_url"] as? String)?.hasSuffix(".mp4") == true)
            #expect((read.json["metering"] as? [String: Any])?["charged"] as? String == "0.420000")
            // Reading it again charges nothing more.
            _ = try await gw.get("/v1/videos/generations/\(id)", key: key)
            #expect(try await gw.ledger.budgetStatus(team: "studio").monthPostedMicro == 420_000)
        }
    }

    @Test func aClientPollingSettlesItsTaskExactlyOnceAlongsideTheSettler() async throws {
        try await withGateway(worldRouter: .init(style: .worldrouter, latency: .milliseconds(200), pendingCap: 100)) { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let body = #"{"model": "grok-imagine-video", "prompt": "a kite over a beach", "duration": 4, "resolution": "480p"}"#
            let id = try #require(try await gw.post("/v1/videos/generations", key: key, body).json["id"] as? String)
            var last = ""
            while last != "succeeded" {
                let read = try await gw.get("/v1/videos/generations/\(id)", key: key)
                #expect(read.status == 200)
                last = read.json["status"] as? String ?? ""
                #expect(["queued", "running", "succeeded"].contains(last))
                try await Task.sleep(for: .milliseconds(5))
            }
            let hold = try await gw.hold(taskID: id)
            #expect(hold.state == .posted)
            #expect(hold.postedMicro == 200_000)
            let entries = try await gw.ledger.writer.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journalEntry WHERE holdID = ? AND kind = 'post'", arguments: [hold.id])
            }
            #expect(entries == 1)
        }
    }

    @Test func anotherTeamCanNeitherReadNorSettleATask() async throws {
        // The task runs until the test lets it finish, however slow the machine.
        try await withGateway(worldRouter: .init(style: .worldrouter, latency: .seconds(3600), pendingCap: 100)) { gw in
            let owner = try await gw.team("studio", budgetMicro: 5_000_000)
            let other = try await gw.team("marketing", budgetMicro: 5_000_000)
            let id = try #require(try await gw.post("/v1/videos/generations", key: owner, Self.grokTask).json["id"] as? String)

            let denied = try await gw.get("/v1/videos/generations/\(id)", key: other)
            #expect(denied.status == 403)
            #expect(denied.errorCode == "media_resource_access_denied")
            #expect(!denied.text.contains("0.420000"))
            // The denied read settled nothing: the hold is pending until the task ends.
            #expect(try await gw.hold(taskID: id).state == .pending)
            let unknown = try await gw.get("/v1/videos/generations/task_0000", key: other)
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "task_not_found")
            // Upstream ids are not gateway ids either.
            let upstreamID = try #require(await gw.worldRouter.stats().tasks.keys.first)
            #expect(try await gw.get("/v1/videos/generations/\(upstreamID)", key: owner).status == 404)

            await gw.worldRouter.setLatency(.zero)
            try await gw.waitUntil { try await gw.hold(taskID: id).state == .posted }
            #expect(try await gw.ledger.budgetStatus(team: "marketing").monthPostedMicro == 0)
            #expect(try await gw.ledger.budgetStatus(team: "studio").monthPostedMicro == 420_000)
        }
    }

    @Test func theListRouteIsDisabled() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 1_000_000)
            let answer = try await gw.get("/v1/videos/generations", key: key)
            #expect(answer.status == 405)
            #expect(answer.errorCode == "list_not_supported")
            let missing = try await gw.get("/v1/nothing-here", key: key)
            #expect(missing.status == 404)
            #expect(missing.errorCode == "not_found")
        }
    }

    @Test func quotesHoldNothing() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 1_000_000)
            let before = try await gw.ledgerSnapshot()
            let answer = try await gw.post("/v1/quotes", key: key, #"{"model": "bytedance/seedance-1.5-pro", "prompt": "a cat", "duration_seconds": 5}"#)
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.json["exactTotal"] as? String == "0.1575" || answer.json["exact_total"] as? String == "0.1575", "\(answer.text)")
            #expect(answer.text.contains("0.158"))
            let preview = try await gw.post("/v1/quotes", key: key, #"{"model": "grok-imagine-video-1.5-preview", "prompt": "pan", "image": {"url": "https://example.com/a.png"}}"#)
            #expect(preview.status == 200)
            #expect(preview.text.contains("1.13"))
            #expect(try await gw.ledgerSnapshot() == before)
            #expect(await gw.blockRun.stats().created == 0)
        }
    }

    @Test func budgetAndUsageDescribeTheCallersTeamOnly() async throws {
        try await withGateway { gw in
            let studio = try await gw.team("studio", budgetMicro: 5_000_000)
            let marketing = try await gw.team("marketing", budgetMicro: 1_000_000)
            #expect(try await gw.post("/v1/videos/generations", key: studio, Self.grokSync).status == 200)

            let budget = try await gw.get("/v1/budget", key: studio)
            #expect(budget.status == 200)
            #expect(budget.json["team"] as? String == "studio")
            #expect(budget.json["available"] as? String == "4.580000")
            let monthly = try #require(budget.json["monthly"] as? [String: Any])
            #expect(monthly["limit"] as? String == "5.000000")
            #expect(monthly["posted"] as? String == "0.420000")
            #expect(monthly["pending"] as? String == "0.000000")
            // The forecast (exact figures: ForecastTests, RepriceCommandTests on a fixed clock):
            // 0.42 posted today projects at least 0.42, and 5.00 lasts at that pace or runs out later.
            let forecast = try #require(budget.json["forecast"] as? [String: Any])
            let projected = try #require((forecast["projected_month_end"] as? String).flatMap { Decimal(string: $0) })
            #expect(projected >= Decimal(string: "0.42")!)
            #expect(forecast.keys.contains("exhausted_on"))
            #expect(forecast["projects_overrun"] as? Bool == (projected > 5))
            let other = try await gw.get("/v1/budget", key: marketing)
            #expect(other.json["team"] as? String == "marketing")
            #expect(other.json["available"] as? String == "1.000000")

            let month = try #require(budget.json["period_month"] as? String)
            let usage = try await gw.get("/v1/usage?month=\(month)", key: studio)
            #expect(usage.status == 200, "\(usage.text)")
            #expect(usage.text.contains("studio"))
            #expect(!usage.text.contains("marketing"))
            #expect(usage.text.contains("0.42"))
            // The call is attributed to the key that made it (its label), not left unattributed.
            #expect(usage.text.contains("studio-test"))
            #expect(!usage.text.contains("(unattributed)"))
            #expect(try await gw.ledger.usageEvents(team: "studio").map(\.caller) == ["studio-test"])
            let current = try await gw.get("/v1/usage", key: marketing)
            #expect(current.status == 200)
            #expect(!current.text.contains("studio"))
            let bad = try await gw.get("/v1/usage?month=2026-13", key: studio)
            #expect(bad.status == 400)
            #expect(bad.errorCode == "invalid_month")
        }
    }

    @Test func keysAreRequiredAndRevocable() async throws {
        try await withGateway(configuration: .init(port: 0, metering: .init(pollPolicy: fastPolling))) { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let before = try await gw.ledgerSnapshot()
            let missing = try await gw.post("/v1/videos/generations", key: nil, Self.grokSync)
            #expect(missing.status == 401)
            #expect(missing.errorCode == "missing_api_key")
            let wrong = try await gw.post("/v1/videos/generations", key: "vmk_" + String(repeating: "A", count: 43), Self.grokSync)
            #expect(wrong.status == 401)
            #expect(wrong.errorCode == "invalid_api_key")
            #expect(try await gw.get("/v1/budget", key: "not-a-key").status == 401)
            #expect(try await gw.ledgerSnapshot() == before)

            let listed = try await gw.gateway.keys.list(team: "studio")
            #expect(listed.count == 1)
            #expect(key.hasPrefix(listed[0].prefix))
            let stored = try await gw.ledger.writer.read { db in try String.fetchAll(db, sql: "SELECT keyHash FROM apiKey") }
            #expect(stored.count == 1)
            #expect(stored[0] != key && !stored[0].contains(key))
            _ = try await gw.gateway.keys.revoke(listed[0].prefix)
            #expect(try await gw.get("/v1/budget", key: key).errorCode == "invalid_api_key")
        }
    }

    @Test func overBudgetIs402WithTheAvailableAmountAndHoldsNothing() async throws {
        try await withGateway { gw in
            let key = try await gw.team("marketing", budgetMicro: 1_000_000)
            #expect(try await gw.post("/v1/videos/generations", key: key, #"{"model": "bytedance/seedance-2.0-fast", "prompt": "a watch"}"#).status == 200)
            let before = try await gw.ledgerSnapshot()
            let refused = try await gw.post("/v1/videos/generations", key: key, Self.grokSync)
            #expect(refused.status == 402)
            #expect(refused.errorCode == "budget_exceeded")
            let error = try #require(refused.json["error"] as? [String: Any])
            #expect(error["available"] as? String == "0.212500")
            #expect(error["limit"] as? String == "monthly")
            #expect(try await gw.ledgerSnapshot() == before)
            #expect(await gw.blockRun.stats().created == 1)
        }
    }

    @Test func upstreamTimeoutIs504AndUncharged() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let answer = try await gw.post("/v1/videos/generations", key: key, #"{"model": "bytedance/seedance-2.0", "prompt": "a harbour [emulate:timeout]"}"#)
            #expect(answer.status == 504)
            #expect(answer.errorCode == "upstream_timeout")
            let holds = try await gw.ledger.holds()
            #expect(holds.count == 1)
            #expect(holds[0].state == .voided)
            #expect(holds[0].callStatus == .timedOut)
            #expect(holds[0].postedMicro == 0)
            let status = try await gw.ledger.budgetStatus(team: "studio")
            #expect(status.monthPostedMicro == 0)
            #expect(status.monthPendingMicro == 0)
        }
    }

    @Test func upstreamFailuresAreUncharged() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let sync = try await gw.post("/v1/videos/generations", key: key, #"{"model": "xai/grok-imagine-video", "prompt": "a boat [emulate:failed]"}"#)
            #expect(sync.status == 500)
            #expect(sync.errorCode == "upstream_server_error")
            let policy = try await gw.post("/v1/videos/generations", key: key, #"{"model": "xai/grok-imagine-video", "prompt": "a boat [emulate:rejected]"}"#)
            #expect(policy.status == 403)
            let task = try await gw.post("/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "rain [emulate:failed]", "duration": 3}"#)
            let id = try #require(task.json["id"] as? String)
            try await gw.waitUntil { try await gw.hold(taskID: id).state == .voided }
            #expect(try await gw.get("/v1/videos/generations/\(id)", key: key).json["status"] as? String == "failed")
            let status = try await gw.ledger.budgetStatus(team: "studio")
            #expect(status.monthPostedMicro == 0)
            #expect(status.monthPendingMicro == 0)
            #expect(try await gw.ledger.holds().allSatisfy { $0.state == .voided })
        }
    }

    @Test func pendingCapAndUpstreamRateLimitsAre429() async throws {
        let configuration = GatewayConfiguration(port: 0, maxPendingTasksPerTeam: 2, metering: .init(pollPolicy: fastPolling))
        // Tasks run until the test lets them finish, however slow the machine.
        try await withGateway(worldRouter: .init(style: .worldrouter, latency: .seconds(3600), pendingCap: 100), configuration: configuration) { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let other = try await gw.team("marketing", budgetMicro: 5_000_000)
            for _ in 0..<2 { #expect(try await gw.post("/v1/videos/generations", key: key, Self.grokTask).status == 200) }
            #expect(gw.gateway.settler.inFlight(teamID: 1) == 2)
            #expect(gw.gateway.settler.trackedCount == 2)
            #expect(try await gw.ledger.openHolds().count == 2)
            let before = try await gw.ledgerSnapshot()
            let capped = try await gw.post("/v1/videos/generations", key: key, Self.grokTask)
            #expect(capped.status == 429)
            #expect(capped.errorCode == "too_many_pending_tasks")
            #expect(capped.headers.first(name: "Retry-After") != nil)
            #expect(try await gw.ledgerSnapshot() == before)
            // The cap is per team.
            #expect(try await gw.post("/v1/videos/generations", key: other, Self.grokTask).status == 200)

            let limited = try await gw.post("/v1/videos/generations", key: other, #"{"model": "xai/grok-imagine-video", "prompt": "x [emulate:rate_limited]"}"#)
            #expect(limited.status == 429)
            #expect(limited.errorCode == "upstream_rate_limited")
            // Once the tasks finish, the team may create more.
            await gw.worldRouter.setLatency(.zero)
            try await gw.waitUntil { gw.gateway.settler.inFlight(teamID: 1) == 0 }
            #expect(try await gw.post("/v1/videos/generations", key: key, Self.grokTask).status == 200)
        }
    }

    @Test func anIdempotencyKeyReturnsTheFirstResult() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let headers = [("Idempotency-Key", "retry-1")]
            let first = try await gw.post("/v1/videos/generations", key: key, Self.grokSync, headers: headers)
            let second = try await gw.post("/v1/videos/generations", key: key, Self.grokSync, headers: headers)
            #expect(first.status == 200)
            #expect(second.status == 200)
            #expect(second.body == first.body)
            #expect(second.headers.first(name: "X-VideoMeter-Replayed") == "true")
            #expect(try await gw.ledger.budgetStatus(team: "studio").monthPostedMicro == 420_000)
            #expect(await gw.blockRun.stats().created == 1)

            let reused = try await gw.post("/v1/videos/generations", key: key, #"{"model": "xai/grok-imagine-video", "prompt": "another"}"#, headers: headers)
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            // The team-scoped key the ledger stores is the gateway's business, not the client's.
            #expect(!String(decoding: reused.body, as: UTF8.self).contains("gw:"), "\(String(decoding: reused.body, as: UTF8.self))")

            let task1 = try await gw.post("/v1/videos/generations", key: key, Self.grokTask, headers: [("Idempotency-Key", "task-1")])
            let task2 = try await gw.post("/v1/videos/generations", key: key, Self.grokTask, headers: [("Idempotency-Key", "task-1")])
            #expect(task1.json["id"] as? String != nil)
            #expect(task1.json["id"] as? String == task2.json["id"] as? String)
            #expect(await gw.worldRouter.stats().created == 1)

            // Another team's identical key is its own call.
            let other = try await gw.team("marketing", budgetMicro: 5_000_000)
            #expect(try await gw.post("/v1/videos/generations", key: other, Self.grokSync, headers: headers).status == 200)
            #expect(try await gw.ledger.budgetStatus(team: "marketing").monthPostedMicro == 420_000)
        }
    }

    @Test func metricsAndHealthNeedNoKey() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            #expect(try await gw.post("/v1/videos/generations", key: key, Self.grokSync).status == 200)
            _ = try await gw.post("/v1/videos/generations", key: key, #"{"model": "bytedance/seedance-2.0", "prompt": "a [emulate:timeout]"}"#)
            let health = try await gw.get("/healthz", key: nil)
            #expect(health.status == 200)
            #expect(health.json["status"] as? String == "ok")
            let metrics = try await gw.get("/metrics", key: nil)
            #expect(metrics.status == 200)
            let text = metrics.text
            #expect(text.contains(#"videometer_gateway_charged_micro_usd_total{provider="blockrun",model="xai/grok-imagine-video"} 420000"#), "\(text)")
            #expect(text.contains(#"videometer_gateway_outcomes_total{provider="blockrun",model="bytedance/seedance-2.0",status="timed_out"} 1"#))
            #expect(text.contains(#"videometer_gateway_requests_total{route="/v1/videos/generations",method="POST",status="200"} 1"#))
            #expect(text.contains(#"videometer_gateway_requests_total{route="/v1/videos/generations",method="POST",status="504"} 1"#))
            #expect(text.contains("videometer_gateway_holds_open 0.0"))
            #expect(text.contains("videometer_gateway_upstream_latency_seconds_bucket"))
        }
    }
}

import Foundation
import NIOHTTP1
import Testing
import VideoMeter
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterTesting

/// The per-seller paths (`/blockrun`, `/worldrouter`, `/xai`), each in its seller's shapes, and
/// the members a seller documents that pass through.
@Suite("Per-seller paths over loopback HTTP")
struct SellerPathTests {
    /// Waits until the gateway's settler has settled the task behind `id`.
    func settled(_ gw: GatewayFixture, _ id: String) async throws -> Hold {
        try await eventually { try await gw.hold(taskID: id).state != .pending }
        return try await gw.hold(taskID: id)
    }

    @Test func anXAIClientWorksUnchangedAgainstTheXAIPrefix() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            await gw.xai.setLatency(.seconds(600))
            // 6 s at 720p: $0.42, with a pass-through aspect ratio.
            let created = try await gw.post(
                "/xai/v1/videos/generations", key: key,
                #"{"model": "grok-imagine-video", "prompt": "a kite", "duration": 6, "resolution": "720p", "aspect_ratio": "9:16"}"#)
            #expect(created.status == 200, "\(created.text)")
            #expect(Set(created.json.keys) == ["request_id"])
            let id = try #require(created.json["request_id"] as? String)
            let pending = try await gw.get("/xai/v1/videos/\(id)", key: key)
            #expect(pending.json["status"] as? String == "pending")
            #expect(try await gw.hold(taskID: id).amountMicro == 420_000)

            await gw.xai.setLatency(.zero)
            let hold = try await settled(gw, id)
            #expect(hold.state == .posted && hold.postedMicro == 420_000)
            // xAI's own report of its cost, kept beside the computed one: 4,200,000,000 ticks = $0.42.
            #expect(hold.sellerCostTicks == 4_200_000_000)
            let done = try await gw.get("/xai/v1/videos/\(id)", key: key)
            #expect(done.json["status"] as? String == "done")
            let video = try #require(done.json["video"] as? [String: Any])
            #expect((video["url"] as? String)?.hasSuffix(".mp4") == true)
            #expect((video["duration"] as? NSNumber)?.intValue == 6)
            let stats = await gw.xai.stats()
            #expect(stats.tasks.values.map(\.aspectRatio) == ["9:16"])
            #expect(try await gw.ledger.verify().isConsistent)
        }
    }

    @Test func withoutAResolutionXAIChargesTheDefault480p() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let created = try await gw.post("/xai/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "a kite", "duration": 10}"#)
            let id = try #require(created.json["request_id"] as? String)
            let hold = try await settled(gw, id)
            #expect(hold.resolution == "480p")
            #expect(hold.postedMicro == 500_000)
        }
    }

    @Test func sixteenSecondsIsAboveXAIsMaximumAndChangesNothing() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let before = try await gw.ledgerSnapshot()
            let answer = try await gw.post("/xai/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "a kite", "duration": 16}"#)
            #expect(answer.status == 400)
            #expect(answer.errorCode == "duration_above_max")
            #expect(try await gw.ledgerSnapshot() == before)
            #expect(await gw.xai.stats().created == 0)
        }
    }

    @Test func aModerationBlockIsNotChargedAndItsReportedCostIsKept() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let created = try await gw.post("/xai/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "x [emulate:moderated]"}"#)
            let id = try #require(created.json["request_id"] as? String)
            let hold = try await settled(gw, id)
            #expect(hold.state == .voided && hold.postedMicro == 0)
            #expect(hold.callStatus == .failed)
            // 8 s at 480p: what xAI bills for the blocked video, absorbed, not charged to the team.
            #expect(hold.sellerCostTicks == 4_000_000_000)
            let events = try await gw.ledger.usageEvents(team: "studio")
            #expect(events.map(\.sellerCostTicks) == [4_000_000_000])
            #expect((try await gw.get("/xai/v1/videos/\(id)", key: key)).json["status"] as? String == "failed")
        }
    }

    @Test func eachPrefixNamesItsSellerAndSpeaksItsShapes() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            // BlockRun's synchronous answer through its prefix.
            let blockRun = try await gw.post("/blockrun/v1/videos/generations", key: key, #"{"model": "bytedance/seedance-1.5-pro", "prompt": "a cat"}"#)
            #expect(blockRun.status == 200)
            #expect((blockRun.json["data"] as? [[String: Any]])?.count == 1)
            #expect(blockRun.headers.first(name: "X-VideoMeter-Charged") == "0.157500")
            // WorldRouter's task through its prefix, read through its own read path.
            let task = try await gw.post("/worldrouter/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "a cat", "duration": 2}"#)
            let id = try #require(task.json["id"] as? String)
            #expect(task.json["status"] as? String == "queued")
            _ = try await settled(gw, id)
            #expect((try await gw.get("/worldrouter/v1/videos/generations/\(id)", key: key)).json["status"] as? String == "succeeded")
            // Another seller's task is not found under a seller's prefix.
            let elsewhere = try await gw.get("/xai/v1/videos/\(id)", key: key)
            #expect(elsewhere.status == 404)
            #expect(elsewhere.errorCode == "task_not_found")
            // A model the named seller does not sell.
            let wrong = try await gw.post("/xai/v1/videos/generations", key: key, #"{"model": "bytedance/seedance-1.5-pro", "prompt": "a cat"}"#)
            #expect(wrong.status == 400)
            #expect(wrong.errorCode == "unknown_model")
            // The plain path keeps routing grok-imagine-video to WorldRouter, aspect ratio included.
            let plain = try await gw.post("/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "a cat", "duration": 2, "aspect_ratio": "16:9"}"#)
            #expect(plain.status == 200, "\(plain.text)")
            let plainID = try #require(plain.json["id"] as? String)
            #expect(try await gw.hold(taskID: plainID).provider == "worldrouter")
            #expect(await gw.worldRouter.stats().tasks.values.contains { $0.aspectRatio == "16:9" })
            #expect(await gw.xai.stats().created == 0)
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            for (method, path, allow) in [
                (HTTPMethod.DELETE, "/v1/videos/generations", "POST, GET"), (.PUT, "/v1/quotes", "POST"), (.POST, "/v1/budget", "GET"),
                (.GET, "/xai/v1/videos/generations", "POST"), (.DELETE, "/xai/v1/videos/abc", "GET"), (.POST, "/healthz", "GET"),
            ] {
                let answer = try await gw.request(method, path, key: key)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.headers.first(name: "Allow") == allow, "\(method) \(path)")
            }
            let list = try await gw.get("/v1/videos/generations", key: key)
            #expect(list.status == 405 && list.errorCode == "list_not_supported")
            #expect(list.headers.first(name: "Allow") == "POST")
            #expect((try await gw.get("/v2/nothing", key: key)).status == 404)
        }
    }

    @Test func aQuoteNeedsNoPrompt() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let quote = try await gw.post("/v1/quotes", key: key, #"{"model": "bytedance/seedance-2.0"}"#)
            #expect(quote.status == 200, "\(quote.text)")
            #expect(quote.json["total"] as? String == "1.575000")
        }
    }

    @Test func aQuoteComparesSellersWhenAsked() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let before = try await gw.ledgerSnapshot()
            let compared = try await gw.post("/v1/quotes?compare=true", key: key, #"{"model": "xai/grok-imagine-video", "duration_seconds": 8}"#)
            #expect(compared.status == 200, "\(compared.text)")
            let options = try #require(compared.json["options"] as? [[String: Any]])
            // No resolution asked: each seller's default (xAI 480p, BlockRun and WorldRouter 720p).
            #expect(options.map { "\($0["provider"] as? String ?? "") \($0["resolution"] as? String ?? "") \($0["total"] as? String ?? "")" } == [
                "xai 480p 0.400000", "blockrun 720p 0.420000", "worldrouter 720p 0.560000",
            ])
            let bad = try await gw.post("/v1/quotes?compare=yes", key: key, #"{"model": "xai/grok-imagine-video"}"#)
            #expect(bad.status == 400 && bad.errorCode == "invalid_request")
            #expect(try await gw.ledgerSnapshot() == before)
        }
    }

    @Test func aSettledTaskIsAnsweredFromTheLedgerWhenTheUpstreamIsGone() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let created = try await gw.post("/v1/videos/generations", key: key, #"{"model": "grok-imagine-video", "prompt": "a cat", "duration": 3}"#)
            let id = try #require(created.json["id"] as? String)
            let hold = try await settled(gw, id)
            #expect(hold.state == .posted)
            let url = try #require(hold.videoURL)
            await gw.worldRouter.shutdown()
            let read = try await gw.get("/v1/videos/generations/\(id)", key: key)
            #expect(read.status == 200)
            #expect(read.json["status"] as? String == "succeeded")
            #expect((read.json["content"] as? [String: Any])?["video_url"] as? String == url)
        }
    }

    @Test func aReplayedSyncKeyWhoseStoredAnswerWasLostAnswersTheVideoFromTheLedger() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            let body = #"{"model": "bytedance/seedance-1.5-pro", "prompt": "a cat"}"#
            let first = try await gw.post("/v1/videos/generations", key: key, body, headers: [("Idempotency-Key", "once")])
            let url = try #require((first.json["data"] as? [[String: Any]])?.first?["url"] as? String)
            // What a crash between the charge and storing the answer leaves.
            try await gw.ledger.writer.write { db in try db.execute(sql: "DELETE FROM gatewayReplay") }
            let replay = try await gw.post("/v1/videos/generations", key: key, body, headers: [("Idempotency-Key", "once")])
            #expect(replay.status == 200)
            #expect(replay.headers.first(name: "X-VideoMeter-Replayed") == "true")
            #expect((replay.json["data"] as? [[String: Any]])?.first?["url"] as? String == url)
            #expect(try await gw.ledger.usageEvents(team: "studio").map(\.chargedMicro) == [157_500])
        }
    }

    @Test func theMonthlyReportShowsWhatXAIReportedAndWhatWasAbsorbed() async throws {
        try await withGateway { gw in
            let key = try await gw.team("studio", budgetMicro: 5_000_000)
            var ids: [String] = []
            for body in [
                #"{"model": "grok-imagine-video", "prompt": "a kite", "duration": 6, "resolution": "720p"}"#,
                #"{"model": "grok-imagine-video", "prompt": "x [emulate:moderated]"}"#,
            ] {
                let created = try await gw.post("/xai/v1/videos/generations", key: key, body)
                ids.append(try #require(created.json["request_id"] as? String))
            }
            for id in ids { _ = try await settled(gw, id) }
            let usage = try await gw.get("/v1/usage?month=\(TestClock.month)", key: key)
            #expect(usage.status == 200)
            let team = try #require((usage.json["teams"] as? [[String: Any]])?.first)
            #expect(team["charged"] as? String == "0.420000")
            let costs = try #require(team["seller_costs"] as? [[String: Any]])
            #expect(costs.count == 1)
            #expect(costs.first?["provider"] as? String == "xai")
            #expect((costs.first?["calls"] as? NSNumber)?.intValue == 2)
            // The blocked 8 s at 480p xAI bills ($0.40), absorbed; the charged call as priced.
            #expect(costs.first?["absorbed"] as? String == "0.4000000000")
            #expect(costs.first?["reported_charged"] as? String == "0.4200000000")
            #expect(costs.first?["computed_charged"] as? String == "0.4200000000")
            #expect(costs.first?["difference"] as? String == "0.0000000000")
        }
    }
}

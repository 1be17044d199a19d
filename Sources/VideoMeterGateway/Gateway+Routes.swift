import Foundation
import HTTPTypes
import Hummingbird
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterReports

extension Gateway {
    // MARK: POST /v1/videos/generations, POST /{seller}/v1/videos/generations

    /// - Parameter seller: the provider id a per-seller path names; `nil` on the plain path, where
    ///   the model's name chooses the seller.
    func generate(_ request: Request, context: GatewayRequestContext, seller: String? = nil) async throws -> Response {
        let caller = try context.caller()
        let bytes = try await readBody(request)
        // One reading of the clock: the body is read against, and priced by, the same price list.
        let now = clock.now()
        let body = try GenerationBody.parse(bytes, catalog: catalog, at: now, dialects: dialects, provider: seller)
        let ledgerKey = try idempotencyKey(request, caller: caller)
        let priced = try client.price(MeteredRequest(
            team: caller.team, provider: body.provider, model: body.model, prompt: body.prompt ?? "", durationSeconds: body.durationSeconds,
            resolution: body.resolution, imageURL: body.imageURL, idempotencyKey: ledgerKey, caller: caller.caller, options: body.options),
            at: now)

        // The ledger counts the team's async calls in flight in the hold's own transaction (429 at
        // the cap, across every gateway); a retry with a key already held is answered from that
        // hold, whatever the count: it creates nothing new.
        let started: StartedCall
        do {
            started = try await client.start(priced)
        } catch {
            if let error = error as? ProviderError {
                // The call was held and sent, and the upstream refused it: the hold is voided.
                metrics.outcome(provider: body.provider, model: body.model, status: CallStatus(refusal: error).rawValue, chargedMicro: 0)
            }
            throw error
        }

        switch started {
        case .running(let call):
            // Tracked first: the task exists upstream, so the settler must own it even if answering
            // this request fails from here on.
            settler.track(holdID: call.holdID, teamID: caller.teamID)
            let taskID = try await gatewayTaskID(holdID: call.holdID, caller: caller)
            let hold = try await ledger.hold(id: call.holdID)
            return JSONResponse.raw(try dialect(hold.provider).createdAnswer(id: taskID, hold: hold))

        case .settled(let outcome):
            if body.style == .async {
                // A replayed key whose task is over: the task as it ended.
                let hold = try await ledger.hold(id: outcome.holdID)
                let taskID = try await gatewayTaskID(holdID: outcome.holdID, caller: caller)
                return JSONResponse.raw(try dialect(hold.provider).taskAnswer(id: taskID, hold: hold, live: nil, videoURL: nil))
            }
            settler.record(outcome)
            return try await syncResponse(outcome, idempotent: ledgerKey != nil)
        }
    }

    /// BlockRun's answer for a settled sync call: the video, or the upstream's error for a call
    /// that ended uncharged (a replayed key gets the first call's answer again).
    func syncResponse(_ settled: MeteredOutcome, idempotent: Bool) async throws -> Response {
        var outcome = settled
        var headers: HTTPFields = [:]
        headers[HTTPField.Name("X-VideoMeter-Charged")!] = Money.format(micro: outcome.chargedMicro)
        if outcome.replayed { headers[HTTPField.Name("X-VideoMeter-Replayed")!] = "true" }
        guard outcome.isCharged else {
            switch outcome.status {
            case .timedOut:
                throw GatewayError(.gatewayTimeout, code: "upstream_timeout", message: "The first call with this idempotency key timed out upstream; no charge was made.")
            default:
                throw GatewayError(.badGateway, code: "generation_\(outcome.status.rawValue)", message: "The first call with this idempotency key ended \(outcome.status.rawValue); no charge was made.")
            }
        }
        if outcome.replayed && outcome.videos.isEmpty {
            if let stored = try await ledger.replay(holdID: settled.holdID) { return JSONResponse.raw(Data(stored.utf8), headers: headers) }
            // The stored answer was lost (a crash between the charge and its storage): the video
            // the ledger recorded at settlement.
            if let url = outcome.videoURL {
                outcome.videos = [GeneratedVideo(url: url, durationSeconds: outcome.billedSeconds, requestID: outcome.upstreamRequestID)]
            }
        }
        let data = try dialect(outcome.provider).videoAnswer(outcome, created: clock.now())
        if idempotent && !outcome.replayed {
            try await ledger.storeReplay(holdID: settled.holdID, responseJSON: String(decoding: data, as: UTF8.self))
        }
        return JSONResponse.raw(data, headers: headers)
    }

    /// The dialect of the seller `provider` (a catalog provider id).
    func dialect(_ provider: String) throws -> any SellerDialect {
        guard let dialect = dialects[provider] else { throw MeteringError.providerNotConfigured(provider) }
        return dialect
    }

    /// The client's `Idempotency-Key`, namespaced by team so that two teams never share a key.
    func idempotencyKey(_ request: Request, caller: CallerIdentity) throws -> String? {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw GatewayError.invalidRequest("The Idempotency-Key header must be 1 to 255 visible ASCII characters.")
        }
        return "gw:\(caller.teamID):\(key)"
    }

    /// The gateway's id for the task held under `holdID` (created on first use): random, so it
    /// says nothing about other teams' calls, and never the upstream's own task id.
    func gatewayTaskID(holdID: Int64, caller: CallerIdentity) async throws -> String {
        let candidate = "task_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return try await ledger.gatewayTaskID(holdID: holdID, teamID: caller.teamID, apiKeyID: caller.keyID, candidate: candidate)
    }

    func readBody(_ request: Request) async throws -> [UInt8] {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw GatewayError.bodyTooLarge(limit: limit)
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw GatewayError.bodyTooLarge(limit: limit)
        }
    }

    // MARK: GET /v1/videos/generations/{id}, GET /{seller}/... (the seller's read path)

    /// - Parameter seller: the provider id a per-seller path names: a task of another seller is
    ///   not found there.
    func task(id: String, context: GatewayRequestContext, seller: String? = nil) async throws -> Response {
        let caller = try context.caller()
        guard id.utf8.count <= 100 else { throw GatewayError.taskNotFound(id) }
        guard let task = try await ledger.gatewayTask(id: id) else { throw GatewayError.taskNotFound(id) }
        guard task.teamID == caller.teamID else { throw GatewayError.accessDenied }
        var hold = try await ledger.hold(id: task.holdID)
        if let seller, hold.provider != seller { throw GatewayError.taskNotFound(id) }
        let dialect = try dialect(hold.provider)
        // A settled task is answered from the ledger, which stored its video at settlement.
        guard hold.state == .pending else {
            return JSONResponse.raw(try dialect.taskAnswer(id: id, hold: hold, live: nil, videoURL: hold.videoURL))
        }
        guard let upstreamTaskID = hold.upstreamTaskID, let upstream = try? client.provider(hold.provider) else {
            return JSONResponse.raw(try dialect.taskAnswer(id: id, hold: hold, live: nil, videoURL: nil))
        }
        // A live reading: the video's URL is the upstream's, and a terminal task is settled here
        // and now (the background settler may get there first; the first settlement wins).
        guard let reading = try? await upstream.status(taskID: upstreamTaskID) else {
            return JSONResponse.raw(try dialect.taskAnswer(id: id, hold: hold, live: nil, videoURL: nil))
        }
        if hold.state == .pending {
            guard reading.state.isTerminal else {
                return JSONResponse.raw(try dialect.taskAnswer(id: id, hold: hold, live: reading.state, videoURL: nil))
            }
            let outcome = try await client.finish(holdID: hold.id)
            settler.record(outcome)
            hold = try await ledger.hold(id: hold.id)
        }
        let videoURL = hold.state == .posted ? reading.result?.videoURL ?? hold.videoURL : nil
        return JSONResponse.raw(try dialect.taskAnswer(id: id, hold: hold, live: nil, videoURL: videoURL))
    }

    // MARK: POST /v1/quotes

    /// The quote for a generation body; a price does not depend on the prompt, so none is needed.
    func quote(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        _ = try context.caller()
        let bytes = try await readBody(request)
        let now = clock.now()
        let compare: Bool
        switch request.uri.queryParameters.get("compare") {
        case nil, "false"?: compare = false
        case "true"?: compare = true
        case let other?: throw GatewayError.invalidRequest("compare must be true or false, not '\(other.prefix(20))'.")
        }
        let body = try GenerationBody.parse(bytes, catalog: catalog, at: now, dialects: dialects, promptRequired: false)
        let asked = QuoteRequest(
            provider: body.provider, model: body.model, durationSeconds: body.durationSeconds, resolution: body.resolution,
            imageURLs: body.imageURL.map { [$0] } ?? [], prompt: body.prompt)
        // `?compare=true`: the same video at every seller of the model, cheapest first.
        if compare { return JSONResponse.raw(try catalog.compare(asked, at: now).jsonData(pretty: false)) }
        return JSONResponse.raw(try catalog.quote(asked, at: now).jsonData(pretty: false))
    }

    // MARK: GET /v1/budget, GET /v1/usage

    func budget(context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        return try JSONResponse.make(BudgetResponse(try await ledger.budgetStatus(team: caller.team)))
    }

    func usage(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        let month: ReportMonth
        if let text = request.uri.queryParameters.get("month") {
            do {
                month = try ReportMonth(parsing: text)
            } catch {
                throw GatewayError(.badRequest, code: "invalid_month", message: "month '\(text.prefix(20))' is not a month such as 2026-11.")
            }
        } else {
            let team = try await ledger.team(named: caller.team)
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: team.timeZone) ?? .gmt
            let parts = calendar.dateComponents([.year, .month], from: clock.now())
            month = ReportMonth(year: parts.year!, month: parts.month!)!
        }
        let report = try await reports.build(month: month, team: caller.team, now: clock.now())
        return JSONResponse.raw(Data(try ReportRenderer.json(report).utf8))
    }

    // MARK: GET /metrics, GET /healthz

    func metricsText() async throws -> Response {
        // While the ledger cannot be reached the gauge keeps its last reading: metrics still answer.
        do {
            metrics.holdsOpen.set(Int64(try await ledger.pendingHoldCount()))
        } catch let error where error.isLedgerUnavailable {}
        metrics.tasksTracked.set(Int64(settler.trackedCount))
        let unanswered = client.unansweredHolds
        metrics.unansweredHolds(waiting: unanswered.waiting, notQueued: unanswered.notQueued)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }

    /// 200 `{"status":"ok","ledger":"ok"}` when the ledger answers; 503
    /// `{"status":"unavailable","ledger":"unavailable","message":…}` while its database cannot be
    /// reached (money routes answer 503 `ledger_unavailable` meanwhile; quotes still answer).
    func health() async throws -> Response {
        do {
            try await ledger.ping()
        } catch let error where error.isLedgerUnavailable {
            let body = HealthAnswer(status: "unavailable", ledger: "unavailable", message: GatewayError.ledgerUnavailable.message)
            return try JSONResponse.make(body, status: .serviceUnavailable, headers: [.retryAfter: "5"])
        }
        return try JSONResponse.make(HealthAnswer(status: "ok", ledger: "ok", message: nil))
    }
}

/// The body of `GET /healthz`.
struct HealthAnswer: Encodable {
    var status: String
    var ledger: String
    var message: String?
}

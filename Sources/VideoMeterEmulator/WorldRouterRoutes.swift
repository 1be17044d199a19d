import Foundation
import Hummingbird
import VideoMeter

extension EmulatorStyle {
    /// WorldRouter's asynchronous task API: create a task, then poll it.
    public static let worldrouter = EmulatorStyle(name: "worldrouter", delivery: .async, idPrefix: "task_") { state, router in
        WorldRouterRoutes(state: state).register(on: router)
    }
}

/// WorldRouter's asynchronous Grok video API: create a task, poll it, download `content.video_url`.
struct WorldRouterRoutes {
    static let models = ["grok-imagine-video", "grok-imagine-video-1.5-preview"]
    static let imageRequired = "grok-imagine-video-1.5-preview"
    static let resolutions = ["480p", "720p"]
    static let defaultSeconds = 8
    static let secondsRange = 1...15

    struct Body: Decodable {
        struct Image: Decodable { var url: String? }
        var model: String?
        var prompt: String?
        var duration: Int?
        var resolution: String?
        var image: Image?
        var aspect_ratio: String?
    }

    let state: EmulatorState

    func register(on router: Router<EmulatorRequestContext>) {
        router.post("/v1/videos/generations") { request, context in
            await create(request, context: context)
        }
        router.get("/v1/videos/generations") { _, _ in
            JSONResponse.worldRouterError(
                .notFound, code: "not_found",
                message: "List routes are disabled: GET /v1/videos/generations/{id} with a task id.")
        }
        router.get("/v1/videos/generations/:id") { request, context in
            await status(request, id: context.parameters.get("id") ?? "")
        }
    }

    /// The Bearer key, or the response refusing the request.
    private enum Authorization {
        case key(String)
        case refused(Response)
    }

    private func authorize(_ request: Request) -> Authorization {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), case let key = String(header.dropFirst(7)), !key.isEmpty else {
            return .refused(JSONResponse.worldRouterError(
                .unauthorized, code: "unauthorized", message: "Missing API key: send Authorization: Bearer <key>."))
        }
        if let accepted = state.configuration.acceptedKeys, !accepted.contains(key) {
            return .refused(JSONResponse.worldRouterError(.unauthorized, code: "invalid_api_key", message: "Unknown API key."))
        }
        return .key(key)
    }

    private func create(_ request: Request, context: EmulatorRequestContext) async -> Response {
        let configuration = state.configuration
        let key: String
        switch authorize(request) {
        case .key(let found): key = found
        case .refused(let response):
            await state.recordRejection()
            return response
        }
        if configuration.keysWithoutTeam.contains(key) {
            await state.recordRejection()
            return JSONResponse.worldRouterError(
                .forbidden, code: "grok_video_team_required", message: "Grok video requires a team-scoped API key.")
        }
        let body: Body
        switch await request.decodeJSON(Body.self, context: context) {
        case .value(let decoded): body = decoded
        case .invalid(let message):
            await state.recordRejection()
            return invalid(message)
        }
        guard let model = body.model, Self.models.contains(model) else {
            await state.recordRejection()
            return invalid("Unknown model '\(body.model ?? "")'; use one of \(Self.models.joined(separator: ", ")).")
        }
        guard let prompt = body.prompt, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            await state.recordRejection()
            return invalid("prompt is required.")
        }
        let seconds = body.duration ?? Self.defaultSeconds
        guard Self.secondsRange.contains(seconds) else {
            await state.recordRejection()
            return invalid("duration \(seconds) is outside \(Self.secondsRange.lowerBound)...\(Self.secondsRange.upperBound).")
        }
        let imageURL = body.image?.url ?? ""
        if model == Self.imageRequired && imageURL.isEmpty {
            await state.recordRejection()
            return invalid("\(model) requires an image.url.")
        }
        // Any other value, or none, falls back to 720p rather than failing.
        let resolution = body.resolution.flatMap { Self.resolutions.contains($0) ? $0 : nil } ?? "720p"
        let tag = EmulatedOutcome.tag(in: prompt)
        let owner = ownerHash(key)

        if configuration.keysWithLowBalance.contains(key) || tag == .paymentRequired {
            await state.recordRejection()
            return JSONResponse.worldRouterError(
                .paymentRequired, code: "grok_video_balance_too_low",
                message: "The team's available credits are too low for this task.")
        }
        if tag == .rejected {
            await state.recordRejection()
            return invalid("The prompt was rejected by the content policy.")
        }
        var random = await state.generator(forContent: "\(owner)|\(model)|\(prompt)|\(imageURL)|\(seconds)|\(resolution)")
        let failureDraw = random.nextUnit()
        let outcomeDraw = random.nextUnit()
        let final: EmulatedTask.Status = switch tag {
        case .succeeded, .drop, .shorter: .succeeded
        case .failed, .moderated: .failed
        case .cancelled: .cancelled
        case .timeout, .expired: .expired
        case .upstreamFailure, .rejected, .paymentRequired, .rateLimited, nil:
            outcomeDraw < configuration.timeoutRate ? .expired
                : outcomeDraw < configuration.timeoutRate + configuration.failRate ? .failed : .succeeded
        }
        let admission = await state.admitTask(
            model: model, durationSeconds: EmulatedOutcome.generatedSeconds(seconds, tag: tag), resolution: resolution,
            owner: owner, finalStatus: final,
            pendingCap: tag == .rateLimited ? 0 : configuration.pendingCap,
            upstreamFails: tag == .upstreamFailure || (tag == nil && failureDraw < configuration.upstreamFailureRate),
            aspectRatio: body.aspect_ratio)
        let task: EmulatedTask
        switch admission {
        case .created(let created):
            task = created
        case .tooManyPending:
            return JSONResponse.worldRouterError(
                .tooManyRequests, code: "grok_video_too_many_pending_tasks",
                message: "Too many Grok video tasks are still pending (cap \(configuration.pendingCap)).",
                headers: [.retryAfter: "1"])
        case .upstreamFailure:
            return JSONResponse.worldRouterError(
                .failedDependency, code: "upstream_error",
                message: "The upstream video provider failed: service unavailable.",
                extra: ["upstream_status": 503,
                        "upstream_error": ["code": "service_unavailable",
                                           "message": "xAI video generation is temporarily unavailable."]])
        }
        if tag == .drop {
            await context.dropConnection()
            return Response(status: .internalServerError)
        }
        return JSONResponse.make(.ok, ["id": task.id, "request_id": task.requestID, "model": model, "status": "queued"])
    }

    private func status(_ request: Request, id: String) async -> Response {
        let key: String
        switch authorize(request) {
        case .key(let found): key = found
        case .refused(let response): return response
        }
        guard let task = await state.task(id: id) else {
            return JSONResponse.worldRouterError(.notFound, code: "not_found", message: "No video task '\(id)'.")
        }
        guard task.owner == ownerHash(key) else {
            return JSONResponse.worldRouterError(
                .forbidden, code: "media_resource_access_denied", message: "The task belongs to another owner.")
        }
        let status = await state.status(of: task)
        var object: [String: Any] = [
            "id": task.id, "request_id": task.requestID, "model": task.model, "status": status.rawValue,
            "duration": task.durationSeconds, "resolution": task.resolution,
        ]
        switch status {
        case .succeeded:
            let base = await state.baseURL
            object["content"] = ["video_url": "\(base)/media/\(task.id).mp4", "duration": task.durationSeconds,
                                 "resolution": task.resolution]
        case .failed:
            object["error"] = ["code": "generation_failed", "message": "The video provider could not generate this video."]
        case .expired:
            object["error"] = ["code": "task_expired", "message": "The task did not finish in time."]
        case .cancelled:
            object["error"] = ["code": "task_cancelled", "message": "The task was cancelled upstream."]
        case .moderated:
            object["error"] = ["code": "content_moderated", "message": "The video did not pass moderation."]
        case .queued, .running, .timedOut, .dropped:
            break
        }
        return JSONResponse.make(.ok, object)
    }

    private func invalid(_ message: String) -> Response {
        JSONResponse.worldRouterError(.badRequest, code: "invalid_request", message: message)
    }
}

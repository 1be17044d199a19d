import Foundation
import Hummingbird
import VideoMeter

extension EmulatorStyle {
    /// xAI's own REST video API: create a generation (`request_id`), then read it until `done`.
    public static let xai = EmulatorStyle(name: "xai", delivery: .async, idPrefix: "xvid_") { state, router in
        XAIRoutes(state: state).register(on: router)
    }
}

/// xAI's asynchronous video API, `POST /v1/videos/generations` and `GET /v1/videos/{request_id}`,
/// with its list prices reported as `usage.cost_in_usd_ticks` (10^-10 USD) on every finished
/// reading, moderation-blocked ones included.
struct XAIRoutes {
    static let models = ["grok-imagine-video", "grok-imagine-video-1.5-preview"]
    static let imageRequired = "grok-imagine-video-1.5-preview"
    static let resolutions = ["480p", "720p"]
    static let aspectRatios = ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3"]
    static let defaultSeconds = 8
    static let secondsRange = 1...15
    /// xAI's list prices in ticks (10^-10 USD): per second by model and resolution, per input image.
    static let ticksPerSecond: [String: [String: Int64]] = [
        "grok-imagine-video": ["480p": 500_000_000, "720p": 700_000_000],
        "grok-imagine-video-1.5-preview": ["480p": 800_000_000, "720p": 1_400_000_000],
    ]
    static let ticksPerImage: [String: Int64] = ["grok-imagine-video": 20_000_000, "grok-imagine-video-1.5-preview": 100_000_000]

    struct Body: Decodable {
        struct Image: Decodable { var url: String? }
        var model: String?
        var prompt: String?
        var duration: Int?
        var resolution: String?
        var aspect_ratio: String?
        var image: Image?
    }

    let state: EmulatorState

    func register(on router: Router<EmulatorRequestContext>) {
        router.post("/v1/videos/generations") { request, context in
            await create(request, context: context)
        }
        router.get("/v1/videos/:id") { request, context in
            await read(request, id: context.parameters.get("id") ?? "")
        }
    }

    private func error(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) -> Response {
        JSONResponse.make(status, ["code": code, "error": message], headers: headers)
    }

    /// The Bearer key, or the refusal.
    private func key(_ request: Request) -> Result<String, ResponseBox> {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), case let key = String(header.dropFirst(7)), !key.isEmpty else {
            return .failure(ResponseBox(error(.unauthorized, "unauthenticated", "Missing API key: send Authorization: Bearer <key>.")))
        }
        if let accepted = state.configuration.acceptedKeys, !accepted.contains(key) {
            return .failure(ResponseBox(error(.unauthorized, "invalid_api_key", "Incorrect API key provided.")))
        }
        return .success(key)
    }

    private func create(_ request: Request, context: EmulatorRequestContext) async -> Response {
        let configuration = state.configuration
        let key: String
        switch self.key(request) {
        case .success(let found): key = found
        case .failure(let refusal):
            await state.recordRejection()
            return refusal.response
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
            return invalid("Model '\(body.model ?? "")' does not exist; use one of \(Self.models.joined(separator: ", ")).")
        }
        guard let prompt = body.prompt, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            await state.recordRejection()
            return invalid("prompt is required.")
        }
        let seconds = body.duration ?? Self.defaultSeconds
        guard Self.secondsRange.contains(seconds) else {
            await state.recordRejection()
            return invalid("duration must be between \(Self.secondsRange.lowerBound) and \(Self.secondsRange.upperBound) seconds.")
        }
        let resolution = body.resolution ?? "480p"
        guard Self.resolutions.contains(resolution) else {
            await state.recordRejection()
            return invalid("resolution must be one of \(Self.resolutions.joined(separator: ", ")).")
        }
        if let ratio = body.aspect_ratio, !Self.aspectRatios.contains(ratio) {
            await state.recordRejection()
            return invalid("aspect_ratio must be one of \(Self.aspectRatios.joined(separator: ", ")).")
        }
        let imageURL = body.image?.url ?? ""
        if model == Self.imageRequired && imageURL.isEmpty {
            await state.recordRejection()
            return invalid("\(model) requires image.url.")
        }
        let tag = EmulatedOutcome.tag(in: prompt)
        let owner = ownerHash(key)
        switch tag {
        case .rejected:
            await state.recordRejection()
            return invalid("The prompt was rejected by the usage guidelines.")
        case .paymentRequired:
            await state.recordRejection()
            return error(.forbidden, "insufficient_credits", "Your team has run out of credits.")
        case .upstreamFailure:
            await state.recordUpstreamFailure()
            return error(.serviceUnavailable, "service_unavailable", "The video service is temporarily unavailable.")
        default:
            break
        }
        var random = await state.generator(forContent: "\(owner)|\(model)|\(prompt)|\(imageURL)|\(seconds)|\(resolution)")
        let draw = random.nextUnit()
        let final: EmulatedTask.Status = switch tag {
        case .succeeded, .drop, .shorter: .succeeded
        case .failed, .cancelled: .failed
        case .timeout, .expired: .expired
        case .moderated: .moderated
        case .upstreamFailure, .rejected, .paymentRequired, .rateLimited, nil:
            draw < configuration.timeoutRate ? .expired : draw < configuration.timeoutRate + configuration.failRate ? .failed : .succeeded
        }
        let admission = await state.admitTask(
            model: model, durationSeconds: EmulatedOutcome.generatedSeconds(seconds, tag: tag), resolution: resolution, owner: owner,
            finalStatus: final, pendingCap: tag == .rateLimited ? 0 : configuration.pendingCap, upstreamFails: false,
            imageCount: imageURL.isEmpty ? 0 : 1, aspectRatio: body.aspect_ratio)
        guard case .created(let task) = admission else {
            return error(.tooManyRequests, "rate_limit_exceeded", "Too many requests; retry later.", headers: [.retryAfter: "1"])
        }
        if tag == .drop {
            await context.dropConnection()
            return Response(status: .internalServerError)
        }
        return JSONResponse.make(.ok, ["request_id": task.id])
    }

    private func read(_ request: Request, id: String) async -> Response {
        let key: String
        switch self.key(request) {
        case .success(let found): key = found
        case .failure(let refusal): return refusal.response
        }
        // Another key's generation is as unknown as a missing one.
        guard let task = await state.task(id: id), task.owner == ownerHash(key) else {
            return error(.notFound, "not_found", "No video generation '\(id.prefix(100))'.")
        }
        let status = await state.status(of: task)
        let cost = (Self.ticksPerSecond[task.model]?[task.resolution] ?? 0) * Int64(task.durationSeconds)
            + Int64(task.imageCount) * (Self.ticksPerImage[task.model] ?? 0)
        switch status {
        case .queued, .running:
            // As xAI does: 202 with no body while the generation is pending.
            return Response(status: .accepted)
        case .succeeded:
            let base = await state.baseURL
            return JSONResponse.make(.ok, [
                "status": "done", "model": task.model,
                "video": ["url": "\(base)/media/\(task.id).mp4", "duration": task.durationSeconds, "respect_moderation": true],
                "usage": ["cost_in_usd_ticks": cost],
            ])
        case .moderated:
            return JSONResponse.make(.ok, [
                "status": "done", "model": task.model,
                "video": ["url": "", "duration": task.durationSeconds, "respect_moderation": false],
                "usage": ["cost_in_usd_ticks": cost],
            ])
        case .failed, .cancelled, .timedOut, .dropped:
            return JSONResponse.make(.ok, [
                "status": "failed", "model": task.model,
                "error": ["code": "generation_failed", "message": "The video could not be generated."],
            ])
        case .expired:
            return JSONResponse.make(.ok, ["status": "expired", "model": task.model])
        }
    }

    private func invalid(_ message: String) -> Response {
        error(.badRequest, "invalid_argument", message)
    }
}

/// A response carried through a `Result` failure.
struct ResponseBox: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

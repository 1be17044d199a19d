import Foundation
import HTTPTypes
import Hummingbird
import VideoMeter

extension EmulatorStyle {
    /// BlockRun's synchronous API: the response carries the finished video.
    public static let blockrun = EmulatorStyle(name: "blockrun", delivery: .sync, idPrefix: "vid_") { state, router in
        BlockRunRoutes(state: state).register(on: router)
    }
}

/// BlockRun's synchronous video API: `POST /v1/videos/generations` answers once the video exists.
struct BlockRunRoutes {
    /// Default and maximum duration in seconds of each model BlockRun sells.
    static let models: [String: (defaultSeconds: Int, maxSeconds: Int)] = [
        "xai/grok-imagine-video": (8, 8),
        "bytedance/seedance-1.5-pro": (5, 10),
        "bytedance/seedance-2.0-fast": (5, 10),
        "bytedance/seedance-2.0": (5, 10),
    ]

    struct Body: Decodable {
        var model: String?
        var prompt: String?
        var image_url: String?
        var duration_seconds: Int?
    }

    let state: EmulatorState

    func register(on router: Router<EmulatorRequestContext>) {
        router.post("/v1/videos/generations") { request, context in
            await generate(request, context: context)
        }
    }

    private func generate(_ request: Request, context: EmulatorRequestContext) async -> Response {
        let configuration = state.configuration
        let payment = request.headers[HTTPField.Name("X-Payment")!]
        if configuration.requirePayment && (payment ?? "").isEmpty {
            await state.recordRejection()
            return JSONResponse.blockRunError(.paymentRequired, "Payment required: send an X-Payment header (x402).")
        }
        let body: Body
        switch await request.decodeJSON(Body.self, context: context) {
        case .value(let decoded): body = decoded
        case .invalid(let message):
            await state.recordRejection()
            return JSONResponse.blockRunError(.badRequest, message)
        }
        guard let model = body.model, let limits = Self.models[model] else {
            await state.recordRejection()
            return JSONResponse.blockRunError(.badRequest, "Unknown model '\(body.model ?? "")'.")
        }
        guard let prompt = body.prompt, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            await state.recordRejection()
            return JSONResponse.blockRunError(.badRequest, "The prompt must not be empty.")
        }
        let seconds = body.duration_seconds ?? limits.defaultSeconds
        guard (1...limits.maxSeconds).contains(seconds) else {
            await state.recordRejection()
            return JSONResponse.blockRunError(
                .badRequest, "duration_seconds \(seconds) is outside 1...\(limits.maxSeconds) for \(model).")
        }
        let tag = EmulatedOutcome.tag(in: prompt)
        switch tag {
        case .rejected:
            await state.recordRejection()
            return JSONResponse.blockRunError(.forbidden, "Content policy violation.")
        case .paymentRequired:
            await state.recordRejection()
            return JSONResponse.blockRunError(.paymentRequired, "Payment verification failed.")
        case .rateLimited:
            await state.recordRejection()
            return JSONResponse.blockRunError(.tooManyRequests, "Rate limit exceeded (60 requests per minute).")
        default:
            break
        }
        guard await state.admitInFlight() else {
            await state.recordRejection()
            return JSONResponse.blockRunError(.tooManyRequests, "Too many requests in flight.")
        }

        var random = await state.generator(forContent: "\(model)|\(prompt)|\(body.image_url ?? "")|\(seconds)")
        let draw = random.nextUnit()
        let final: EmulatedTask.Status = switch tag {
        case .succeeded, .shorter: .succeeded
        case .failed, .cancelled, .upstreamFailure, .moderated: .failed
        case .timeout, .expired: .timedOut
        case .drop: .dropped
        case .rejected, .paymentRequired, .rateLimited, nil:
            draw < configuration.timeoutRate ? .timedOut
                : draw < configuration.timeoutRate + configuration.failRate ? .failed : .succeeded
        }
        let task = await state.createTask(
            model: model, durationSeconds: EmulatedOutcome.generatedSeconds(seconds, tag: tag), resolution: "720p",
            owner: ownerHash(payment), finalStatus: final)

        // The generation takes the latency in force, read again while waiting (a test may change it
        // with the call in flight); at BlockRun's cap the upstream gives up and answers 504.
        let started = ContinuousClock.now
        var capped = false
        while true {
            let elapsed = started.duration(to: .now)
            let latency = await state.latency
            if elapsed >= latency { break }
            if elapsed >= configuration.maxSyncDuration {
                capped = true
                break
            }
            let remaining = min(latency, configuration.maxSyncDuration) - elapsed
            try? await Task.sleep(for: min(remaining, .milliseconds(20)))
        }
        let outcome = capped && final != .dropped ? .timedOut : final
        await state.settle(taskID: task.id, as: outcome)
        await state.leaveInFlight()

        switch outcome {
        case .succeeded:
            let base = await state.baseURL
            return JSONResponse.make(.ok, [
                "created": Int(Date().timeIntervalSince1970),
                "model": model,
                "data": [[
                    "url": "\(base)/media/\(task.id).mp4",
                    "source_url": "\(base)/media/\(task.id).mp4?source=upstream",
                    "duration_seconds": task.durationSeconds,
                    "request_id": task.requestID,
                    "backed_up": true,
                ]],
            ])
        case .timedOut:
            return JSONResponse.blockRunError(
                .gatewayTimeout, "Video generation timed out (the upstream job did not finish within the 85s cap). No payment was taken.")
        case .dropped:
            await context.dropConnection()
            return Response(status: .internalServerError)
        default:
            let reason = tag == .cancelled ? "The generation was cancelled upstream." : "Video generation failed upstream."
            return JSONResponse.blockRunError(.internalServerError, reason)
        }
    }
}

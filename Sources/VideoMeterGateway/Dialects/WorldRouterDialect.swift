import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// WorldRouter's API as its clients speak it: a task is created, then read until it ends.
///
/// Body: `model`, `prompt`, `duration`, `resolution`, `image: {url}`; answers: ``TaskResponse``.
public struct WorldRouterDialect: SellerDialect {
    public let providerID: String
    public var createPath: String { "/v1/videos/generations" }
    public var readPath: String? { "/v1/videos/generations/:id" }
    static let members: Set<String> = ["model", "prompt", "duration", "resolution", "image"]

    public init(providerID: String = "worldrouter") {
        self.providerID = providerID
    }

    public func readBody(
        _ members: [(key: String, value: JSONValue)], model: String, entry: ModelEntry, promptRequired: Bool
    ) throws -> GenerationBody {
        try BodyMembers.refuseUnknown(members, allowed: Self.members, entry: entry, model: model, shape: "WorldRouter-style (model, prompt, duration, resolution, image.url)")
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        var body = GenerationBody(
            provider: providerID, model: model, style: entry.apiStyle, prompt: try BodyMembers.checkedPrompt(fields["prompt"], required: promptRequired),
            durationSeconds: try BodyMembers.duration(fields["duration"]),
            resolution: try BodyMembers.optionalString("resolution", fields["resolution"]), options: try BodyMembers.passThrough(fields, entry: entry))
        body.imageURL = try BodyMembers.imageObject(fields["image"])
        return body
    }

    /// WorldRouter models are tasks: a call never completes in its request.
    public func videoAnswer(_ outcome: MeteredOutcome, created: Date) throws -> Data {
        throw GatewayError(.internalServerError, code: "dialect_has_no_videos", message: "WorldRouter's API answers with tasks; check the model's api_style in the catalog.")
    }

    public func taskAnswer(id: String, hold: Hold, live: TaskState?, videoURL: String?) throws -> Data {
        let status = hold.state == .pending ? live.map(\.rawValue) ?? TaskResponse.status(of: hold) : TaskResponse.status(of: hold)
        let video = hold.state == .posted ? videoURL ?? hold.videoURL : nil
        return try JSONResponse.encoder.encode(TaskResponse(id: id, hold: hold, status: status, videoURL: video))
    }
}

/// WorldRouter's task shape, `{id, request_id, model, status, content?}`, with the gateway's task id
/// and what the meter knows about the call.
struct TaskResponse: Encodable {
    struct Content: Encodable {
        var videoURL: String
        enum CodingKeys: String, CodingKey { case videoURL = "video_url" }
    }

    /// Amounts as decimal strings (USD, 6 places).
    struct Metering: Encodable {
        var holdState: String
        var held: String
        var charged: String
        var billedSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case held, charged
            case holdState = "hold_state"
            case billedSeconds = "billed_seconds"
        }

        init(_ hold: Hold) {
            holdState = hold.state.rawValue
            held = Money.format(micro: hold.amountMicro)
            charged = Money.format(micro: hold.postedMicro)
            billedSeconds = hold.state == .posted ? hold.billedSeconds ?? hold.seconds : nil
        }
    }

    var id: String
    var requestID: String
    var model: String
    var status: String
    var content: Content?
    var metering: Metering

    enum CodingKeys: String, CodingKey {
        case id, model, status, content, metering
        case requestID = "request_id"
    }

    init(id: String, hold: Hold, status: String, videoURL: String?) {
        self.id = id
        self.requestID = id
        self.model = hold.model
        self.status = status
        self.content = videoURL.map(Content.init(videoURL:))
        self.metering = Metering(hold)
    }

    /// The task status a settled hold stands for, in WorldRouter's words.
    static func status(of hold: Hold) -> String {
        switch hold.state {
        case .posted:
            // A price list may bill an end state other than success (`billable_outcomes`).
            switch hold.callStatus {
            case .failed: return "failed"
            case .cancelled: return "cancelled"
            case .expired: return "expired"
            default: return "succeeded"
            }
        case .expired: return "expired"
        case .pending: return hold.callStatus == .running ? "running" : "queued"
        default:
            switch hold.callStatus {
            case .cancelled: return "cancelled"
            case .expired, .timedOut: return "expired"
            default: return "failed"
            }
        }
    }
}

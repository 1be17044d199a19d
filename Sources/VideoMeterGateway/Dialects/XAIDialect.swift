import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// xAI's own video API as its clients speak it: `POST /v1/videos/generations` answers
/// `{"request_id"}`, `GET /v1/videos/{request_id}` answers `{"status": "pending"}`, or `"done"`
/// with the video, or `"failed"` / `"expired"`.
///
/// Body: `model`, `prompt`, `duration`, `resolution`, `image: {url}`, and the model's
/// pass-through members (`aspect_ratio`).
public struct XAIDialect: SellerDialect {
    public let providerID: String
    public var createPath: String { "/v1/videos/generations" }
    public var readPath: String? { "/v1/videos/:id" }
    static let members: Set<String> = ["model", "prompt", "duration", "resolution", "image"]

    public init(providerID: String = "xai") {
        self.providerID = providerID
    }

    public func readBody(
        _ members: [(key: String, value: JSONValue)], model: String, entry: ModelEntry, promptRequired: Bool
    ) throws -> GenerationBody {
        try BodyMembers.refuseUnknown(
            members, allowed: Self.members, entry: entry, model: model, shape: "xAI-style (model, prompt, duration, resolution, image.url)")
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        var body = GenerationBody(
            provider: providerID, model: model, style: entry.apiStyle,
            prompt: try BodyMembers.checkedPrompt(fields["prompt"], required: promptRequired),
            durationSeconds: try BodyMembers.duration(fields["duration"]),
            resolution: try BodyMembers.optionalString("resolution", fields["resolution"]),
            options: try BodyMembers.passThrough(fields, entry: entry))
        body.imageURL = try BodyMembers.imageObject(fields["image"])
        return body
    }

    /// xAI's video API answers with generations to read, never a video in the create request.
    public func videoAnswer(_ outcome: MeteredOutcome, created: Date) throws -> Data {
        throw GatewayError(.internalServerError, code: "dialect_has_no_videos", message: "xAI's API answers with request ids; check the model's api_style in the catalog.")
    }

    public func createdAnswer(id: String, hold: Hold) throws -> Data {
        try JSONResponse.encoder.encode(["request_id": id])
    }

    public func taskAnswer(id: String, hold: Hold, live: TaskState?, videoURL: String?) throws -> Data {
        try JSONResponse.encoder.encode(XAIGenerationResponse(id: id, hold: hold, videoURL: videoURL))
    }
}

/// xAI's reading of a generation: `{status, model, video?: {url, duration}, metering}`.
struct XAIGenerationResponse: Encodable {
    struct Video: Encodable {
        var url: String
        var duration: Int?
    }

    var requestID: String
    var status: String
    var model: String
    var video: Video?
    var metering: TaskResponse.Metering

    enum CodingKeys: String, CodingKey {
        case status, model, video, metering
        case requestID = "request_id"
    }

    init(id: String, hold: Hold, videoURL: String?) {
        requestID = id
        model = hold.model
        status = Self.status(of: hold)
        if hold.state == .posted, let url = videoURL ?? hold.videoURL {
            video = Video(url: url, duration: hold.billedSeconds ?? hold.seconds)
        }
        metering = TaskResponse.Metering(hold)
    }

    /// xAI's words for where a call is: `pending` until it settles, `done` once charged for a video,
    /// `expired` for an expired task or hold, `failed` otherwise.
    static func status(of hold: Hold) -> String {
        switch hold.state {
        case .pending: "pending"
        case .posted: hold.callStatus == .succeeded ? "done" : "failed"
        case .expired: "expired"
        case .voided: hold.callStatus == .expired || hold.callStatus == .timedOut ? "expired" : "failed"
        }
    }
}

import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// BlockRun's API as its clients speak it: a synchronous call whose answer is the video.
///
/// Body: `model`, `prompt`, `image_url`, `duration_seconds`; answer: ``BlockRunResponse``.
public struct BlockRunDialect: SellerDialect {
    public let providerID: String
    public var createPath: String { "/v1/videos/generations" }
    public var readPath: String? { nil }
    static let members: Set<String> = ["model", "prompt", "image_url", "duration_seconds"]

    public init(providerID: String = "blockrun") {
        self.providerID = providerID
    }

    public func readBody(
        _ members: [(key: String, value: JSONValue)], model: String, entry: ModelEntry, promptRequired: Bool
    ) throws -> GenerationBody {
        try BodyMembers.refuseUnknown(members, allowed: Self.members, entry: entry, model: model, shape: "BlockRun-style (model, prompt, image_url, duration_seconds)")
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        return GenerationBody(
            provider: providerID, model: model, style: entry.apiStyle, prompt: try BodyMembers.checkedPrompt(fields["prompt"], required: promptRequired),
            durationSeconds: try BodyMembers.duration(fields["duration_seconds"]),
            imageURL: try BodyMembers.optionalString("image_url", fields["image_url"]), options: try BodyMembers.passThrough(fields, entry: entry))
    }

    public func videoAnswer(_ outcome: MeteredOutcome, created: Date) throws -> Data {
        try JSONResponse.encoder.encode(BlockRunResponse(outcome, created: created))
    }

    /// BlockRun has no tasks: a model it sells as an async task would be a catalog error.
    public func taskAnswer(id: String, hold: Hold, live: TaskState?, videoURL: String?) throws -> Data {
        throw GatewayError(.internalServerError, code: "dialect_has_no_tasks", message: "BlockRun's API has no tasks; check the model's api_style in the catalog.")
    }
}

/// BlockRun's synchronous response: `{created, model, data: [{url, source_url, duration_seconds, request_id, backed_up}]}`.
struct BlockRunResponse: Codable {
    struct Video: Codable {
        var url: String
        var sourceURL: String?
        var durationSeconds: Int?
        var requestID: String?
        var backedUp: Bool?

        enum CodingKeys: String, CodingKey {
            case url
            case sourceURL = "source_url"
            case durationSeconds = "duration_seconds"
            case requestID = "request_id"
            case backedUp = "backed_up"
        }
    }

    var created: Int
    var model: String
    var data: [Video]

    init(_ outcome: MeteredOutcome, created: Date) {
        self.created = Int(created.timeIntervalSince1970)
        self.model = outcome.model
        self.data = outcome.videos.map {
            Video(url: $0.url, sourceURL: $0.sourceURL, durationSeconds: $0.durationSeconds, requestID: $0.requestID, backedUp: $0.backedUp)
        }
    }
}

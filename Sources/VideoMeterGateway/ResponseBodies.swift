import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering

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
        self.metering = Metering(
            holdState: hold.state.rawValue, held: Money.format(micro: hold.amountMicro), charged: Money.format(micro: hold.postedMicro),
            billedSeconds: hold.state == .posted ? hold.billedSeconds ?? hold.seconds : nil)
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

/// `GET /v1/budget`: the caller's team in its current period; amounts as decimal strings.
struct BudgetResponse: Encodable {
    struct Limit: Encodable {
        var limit: String
        var posted: String
        var pending: String
        var available: String
    }

    struct AlertItem: Encodable {
        var thresholdPercent: Int
        var spent: String
        var limit: String
        var createdAt: Int64
        enum CodingKeys: String, CodingKey {
            case spent, limit
            case thresholdPercent = "threshold_percent"
            case createdAt = "created_at"
        }
    }

    var team: String
    var timeZone: String
    var currency = "USD"
    var periodMonth: String
    var periodDay: String
    var available: String
    var monthly: Limit
    var daily: Limit?
    var credit: Limit?
    var alerts: [AlertItem]

    enum CodingKeys: String, CodingKey {
        case team, currency, available, monthly, daily, credit, alerts
        case timeZone = "time_zone"
        case periodMonth = "period_month"
        case periodDay = "period_day"
    }

    init(_ status: BudgetStatus) {
        func limit(_ limit: MicroUSD, _ posted: MicroUSD, _ pending: MicroUSD) -> Limit {
            Limit(limit: Money.format(micro: limit), posted: Money.format(micro: posted), pending: Money.format(micro: pending),
                  available: Money.format(micro: max(0, limit - posted - pending)))
        }
        team = status.team.name
        timeZone = status.team.timeZone
        periodMonth = status.periodMonth
        periodDay = status.periodDay
        available = Money.format(micro: max(0, status.availableMicro))
        monthly = limit(status.budget.monthlyLimitMicro, status.monthPostedMicro, status.monthPendingMicro)
        daily = status.budget.dailyLimitMicro.map { limit($0, status.dayPostedMicro, status.dayPendingMicro) }
        credit = status.budget.creditMicro.map { limit($0, status.creditPostedMicro, status.creditPendingMicro) }
        alerts = status.alerts.map {
            AlertItem(thresholdPercent: $0.thresholdPercent, spent: Money.format(micro: $0.spentMicro), limit: Money.format(micro: $0.limitMicro), createdAt: $0.createdAt)
        }
    }
}

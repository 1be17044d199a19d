import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering

/// `GET /v1/budget`: the caller's team in its current period; amounts as decimal strings.
struct BudgetResponse: Encodable {
    struct Limit: Encodable {
        var limit: String
        var posted: String
        var pending: String
        var available: String
    }

    struct AlertItem: Encodable {
        var kind: String
        var thresholdPercent: Int
        var spent: String
        var limit: String
        var createdAt: Int64
        enum CodingKeys: String, CodingKey {
            case kind, spent, limit
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
    var forecast: BudgetForecast.Document

    enum CodingKeys: String, CodingKey {
        case team, currency, available, monthly, daily, credit, alerts, forecast
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
            AlertItem(kind: $0.kind.rawValue, thresholdPercent: $0.thresholdPercent, spent: Money.format(micro: $0.spentMicro), limit: Money.format(micro: $0.limitMicro), createdAt: $0.createdAt)
        }
        forecast = status.forecast.document(zoneIdentifier: status.team.timeZone)
    }
}

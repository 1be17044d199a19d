import Prometheus
import VideoMeter

/// The gateway's Prometheus metrics, in a registry of its own (nothing global is bootstrapped, so
/// several gateways, or tests, can run in one process).
///
/// | name | type | labels |
/// |---|---|---|
/// | `videometer_gateway_requests_total` | counter | `route`, `method`, `status` |
/// | `videometer_gateway_outcomes_total` | counter | `provider`, `model`, `status` (succeeded, failed, timed_out, ...) |
/// | `videometer_gateway_charged_micro_usd_total` | counter (integer micro-dollars) | `provider`, `model` |
/// | `videometer_gateway_holds_open` | gauge | — (pending holds in the ledger, read at scrape time) |
/// | `videometer_gateway_tasks_tracked` | gauge | — (async tasks this process is polling) |
/// | `videometer_gateway_upstream_latency_seconds` | histogram | `provider`, `operation` (submit, status) |
/// | `videometer_gateway_settlement_leases_held` | gauge | — (leases this process held at its last renewal) |
/// | `videometer_gateway_holds_leased_elsewhere` | gauge | — (open calls another live process held at the last reconcile pass) |
/// | `videometer_gateway_settlement_leases_lost_total` | counter | — (tracked tasks whose lease another process took) |
/// | `videometer_gateway_settlement_lease_renewals_failed_total` | counter | — |
/// | `videometer_gateway_unanswered_holds_waiting` | gauge | — (holds whose commit went unanswered, waiting for the ledger; read at scrape time) |
/// | `videometer_gateway_unanswered_holds_not_queued_total` | counter | — (such holds not queued: the queue was full) |
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let holdsOpen: Gauge
    let tasksTracked: Gauge
    let leasesHeld: Gauge
    let leasedElsewhere: Gauge
    let leasesLost: Counter
    let leaseRenewalsFailed: Counter
    let unansweredWaiting: Gauge
    let unansweredNotQueued: Counter
    /// The not-queued total at the last scrape (the counter moves by the difference).
    private let unansweredNotQueuedSeen = Locked(0)

    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500),
        .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(90), .seconds(180),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        holdsOpen = registry.makeGauge(descriptor: Self.name("holds", "open", "Pending holds in the ledger (all teams)."))
        tasksTracked = registry.makeGauge(descriptor: Self.name("tasks", "tracked", "Async tasks this gateway is polling to settle."))
        leasesHeld = registry.makeGauge(descriptor: Self.name(
            "settlement_leases", "held", "Settlement leases this gateway held at its last renewal."))
        leasedElsewhere = registry.makeGauge(descriptor: Self.name(
            "holds_leased", "elsewhere", "Open calls another live process held the settlement lease of, at the last reconcile pass."))
        leasesLost = registry.makeCounter(descriptor: Self.name(
            "settlement_leases_lost", "total", "Tracked tasks whose settlement lease another process took over."))
        leaseRenewalsFailed = registry.makeCounter(descriptor: Self.name(
            "settlement_lease_renewals_failed", "total", "Renewals of this gateway's settlement leases that failed."))
        unansweredWaiting = registry.makeGauge(descriptor: Self.name(
            "unanswered_holds", "waiting", "Holds whose commit went unanswered (the ledger went away), waiting to be looked at."))
        unansweredNotQueued = registry.makeCounter(descriptor: Self.name(
            "unanswered_holds_not_queued", "total", "Holds whose commit went unanswered and that were not queued: the queue was full."))
    }

    /// Sets the unanswered-hold figures from the metered client's counts.
    func unansweredHolds(waiting: Int, notQueued: Int) {
        unansweredWaiting.set(Int64(waiting))
        let delta = unansweredNotQueuedSeen.withLock { seen -> Int in
            defer { seen = max(seen, notQueued) }
            return max(0, notQueued - seen)
        }
        if delta > 0 { unansweredNotQueued.increment(by: Int64(delta)) }
    }

    func request(route: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.name("requests", "total", "HTTP requests answered, by route template and status."),
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
    }

    func outcome(provider: String, model: String, status: String, chargedMicro: Int64) {
        registry.makeCounter(
            descriptor: Self.name("outcomes", "total", "Metered calls settled, by call status."),
            labels: [("provider", provider), ("model", model), ("status", status)]
        ).increment()
        if chargedMicro > 0 {
            registry.makeCounter(
                descriptor: Self.name("charged_micro_usd", "total", "Amount charged (posted), in integer micro-dollars."),
                labels: [("provider", provider), ("model", model)]
            ).increment(by: chargedMicro)
        }
    }

    func upstreamLatency(provider: String, operation: String, _ duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.name("upstream_latency", "seconds", "Upstream call latency (submit: until the video or task id; status: one task read)."),
            labels: [("provider", provider), ("operation", operation)], buckets: Self.latencyBuckets
        ).record(duration)
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "videometer", subsystem: "gateway", metricName: metric, unitName: unit, helpText: help)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        registry.emitToString()
    }
}

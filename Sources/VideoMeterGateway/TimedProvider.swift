import VideoMeter
import VideoMeterProviders

/// A provider that records how long each upstream call takes in the gateway's latency histogram.
struct TimedProvider: VideoProvider {
    let base: any VideoProvider
    let metrics: GatewayMetrics
    let clock: AnyClock

    var name: String { base.name }
    var style: APIStyle { base.style }

    func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        let start = clock.now
        defer { metrics.upstreamLatency(provider: base.name, operation: "submit", start.duration(to: clock.now)) }
        return try await base.submit(request, idempotencyKey: idempotencyKey)
    }

    func status(taskID: String) async throws -> TaskStatus {
        let start = clock.now
        defer { metrics.upstreamLatency(provider: base.name, operation: "status", start.duration(to: clock.now)) }
        return try await base.status(taskID: taskID)
    }
}

import VideoMeter
import VideoMeterProviders

/// A provider that records how long each upstream call takes in the gateway's latency histogram.
struct TimedProvider: VideoProvider {
    let base: any VideoProvider
    let metrics: GatewayMetrics

    var name: String { base.name }
    var style: APIStyle { base.style }

    func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        let start = ContinuousClock.now
        defer { metrics.upstreamLatency(provider: base.name, operation: "submit", ContinuousClock.now - start) }
        return try await base.submit(request, idempotencyKey: idempotencyKey)
    }

    func status(taskID: String) async throws -> TaskStatus {
        let start = ContinuousClock.now
        defer { metrics.upstreamLatency(provider: base.name, operation: "status", ContinuousClock.now - start) }
        return try await base.status(taskID: taskID)
    }
}

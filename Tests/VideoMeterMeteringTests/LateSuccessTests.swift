import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterTesting

/// An upstream whose answers wait until the test releases them: a create (sync: the video) or a
/// task reading (async: `succeeded`).
final class GatedUpstream: VideoProvider, @unchecked Sendable {
    let name: String
    let style: APIStyle
    /// Whether an async create waits too (its task id arrives on release).
    let gatesAsyncCreate: Bool
    private let lock = NSLock()
    private var gate: CheckedContinuation<Void, Never>?

    init(name: String, style: APIStyle, gatesAsyncCreate: Bool = false) {
        self.name = name
        self.style = style
        self.gatesAsyncCreate = gatesAsyncCreate
    }

    /// Whether a call is waiting for ``release()``.
    var isWaiting: Bool { lock.withLock { gate != nil } }

    func release() {
        let gate = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            defer { self.gate = nil }
            return self.gate
        }
        gate?.resume()
    }

    private func wait() async {
        await withCheckedContinuation { continuation in lock.withLock { gate = continuation } }
    }

    func submit(_ request: GenerationRequest, idempotencyKey: String) async throws -> Submission {
        if style == .async {
            if gatesAsyncCreate { await wait() }
            return .task(id: "task-1")
        }
        await wait()
        let video = GeneratedVideo(url: "https://example.invalid/v.mp4", durationSeconds: request.durationSeconds, requestID: "req-1")
        return .completed(GenerationResult(model: request.model, videos: [video], upstreamRequestID: "req-1"))
    }

    func status(taskID: String) async throws -> TaskStatus {
        await wait()
        let video = GeneratedVideo(url: "https://example.invalid/t.mp4", durationSeconds: 4, requestID: "req-1")
        return TaskStatus(
            id: taskID, requestID: "req-1", state: .succeeded, durationSeconds: 4, resolution: "720p",
            result: GenerationResult(model: "grok-imagine-video", videos: [video], resolution: "720p", upstreamRequestID: "req-1"))
    }
}

/// A success that arrives after the hold's deadline is never charged and never dropped: it is
/// recorded as a late success for review, also when another process's sweeper expired the hold
/// while the answer was on its way. Found by the simulator (seeds 1 and 7, see docs/SIMULATION.md).
@Suite("Late successes")
struct LateSuccessTests {
    func ledger() throws -> (Ledger, ManualWallClock) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("videometer-late-\(UUID().uuidString)")
        let clock = TestClock.manualWallClock()
        return (try Ledger(path: directory.appendingPathComponent("ledger.sqlite").path, clock: clock), clock)
    }

    @Test func seed1SyncVideoArrivingAfterAnotherProcessExpiredItsHoldIsALateSuccess() async throws {
        let (ledger, clock) = try ledger()
        try await ledger.createTeam(name: "acme")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        let upstream = GatedUpstream(name: "blockrun", style: .sync)
        let client = MeteredClient(catalog: try Catalog.bundled(), ledger: ledger, providers: ["blockrun": upstream], clock: clock)
        let call = Task {
            try await client.generate(MeteredRequest(
                team: "acme", provider: "blockrun", model: "bytedance/seedance-1.5-pro", prompt: "late", durationSeconds: 5))
        }
        try await eventually { upstream.isWaiting }
        clock.advance(by: 901)
        // Another process's reconciliation sweeps while the video is on its way.
        #expect(try await ledger.expireDue().count == 1)
        upstream.release()
        let outcome = try await call.value
        #expect(outcome.holdState == .expired)
        #expect(outcome.chargedMicro == 0)
        #expect(outcome.lateSuccess)
        let late = try await ledger.lateSuccesses()
        #expect(late.map(\.holdID) == [outcome.holdID])
        #expect(late.first?.amountMicro == 157_500)
        #expect(try await ledger.budgetStatus(team: "acme").monthPostedMicro == 0)
        #expect(try await ledger.verify().isConsistent)
    }

    @Test func seed7TaskSuccessReadAfterAnotherProcessExpiredItsHoldIsALateSuccess() async throws {
        let (ledger, clock) = try ledger()
        try await ledger.createTeam(name: "acme")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        let upstream = GatedUpstream(name: "worldrouter", style: .async)
        let client = MeteredClient(catalog: try Catalog.bundled(), ledger: ledger, providers: ["worldrouter": upstream], clock: clock)
        let started = try await client.start(MeteredRequest(
            team: "acme", provider: "worldrouter", model: "grok-imagine-video", prompt: "late", durationSeconds: 4))
        guard case .running(let running) = started else { Issue.record("expected a running task"); return }
        let reading = Task { try await client.advance(holdID: running.holdID) }
        try await eventually { upstream.isWaiting }
        clock.advance(by: 3 * 3600 + 1)
        #expect(try await ledger.expireDue().count == 1)
        upstream.release()
        guard case .settled(let outcome) = try await reading.value else { Issue.record("expected a settled call"); return }
        #expect(outcome.holdState == .expired)
        #expect(outcome.chargedMicro == 0)
        #expect(outcome.lateSuccess)
        #expect(try await ledger.lateSuccesses().map(\.holdID) == [running.holdID])
        #expect(try await ledger.lateSuccesses().first?.amountMicro == 280_000)
        #expect(try await ledger.verify().isConsistent)
    }

    @Test func seed1AsyncCreateAnsweredAfterItsHoldExpiredKeepsItsTaskIDForTheLateSuccessCheck() async throws {
        let (ledger, clock) = try ledger()
        try await ledger.createTeam(name: "acme")
        try await ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000))
        let upstream = GatedUpstream(name: "worldrouter", style: .async, gatesAsyncCreate: true)
        let client = MeteredClient(catalog: try Catalog.bundled(), ledger: ledger, providers: ["worldrouter": upstream], clock: clock)
        let starting = Task {
            try await client.start(MeteredRequest(
                team: "acme", provider: "worldrouter", model: "grok-imagine-video", prompt: "late create", durationSeconds: 4))
        }
        try await eventually { upstream.isWaiting }
        clock.advance(by: 3 * 3600 + 1)
        let expired = try await ledger.expireDue()
        #expect(expired.count == 1)
        upstream.release()
        _ = try await starting.value
        let hold = try await ledger.hold(id: try #require(expired.first).id)
        #expect(hold.state == .expired && hold.postedMicro == 0)
        #expect(hold.upstreamTaskID == "task-1")

        // The task succeeds upstream: reconciliation reads it through the id and keeps the
        // success for review, uncharged.
        let reconciling = Task { try await client.reconcile() }
        try await eventually { upstream.isWaiting }
        upstream.release()
        let report = try await reconciling.value
        #expect(report.lateSuccesses.map(\.holdID) == [hold.id])
        #expect(report.lateSuccesses.first?.amountMicro == 280_000)
        #expect(report.lateSuccesses.first?.upstreamTaskID == "task-1")
        #expect(try await ledger.budgetStatus(team: "acme").monthPostedMicro == 0)
        #expect(try await ledger.verify().isConsistent)
    }
}

import Foundation
import Logging
import ServiceLifecycle
import VideoMeterLedger
import VideoMeterMetering

/// Settles async calls in the background, so that a client that never polls is still charged
/// exactly once (or not at all).
///
/// - Every task the gateway creates is tracked: one child task polls it with
///   ``MeteredClient/finish(holdID:onEvent:)`` until it is terminal and settles it (a client's
///   `GET` may settle it first; the first settlement wins).
/// - On start, ``MeteredClient/reconcile(waitFor:)`` settles what a previous run left open and the
///   tasks still running upstream are tracked again; the same pass runs every `reconcileInterval`,
///   which also expires holds past their deadline.
/// - On graceful shutdown, polling stops: pending holds keep their task ids, and the next start
///   resumes them.
/// - It counts each team's async calls in flight, for the per-team pending cap (429).
public final class Settler: Service, Sendable {
    struct State {
        var tracked: [Int64: Int64] = [:]
        var inFlight: [Int64: Int] = [:]
    }

    let client: MeteredClient
    let metrics: GatewayMetrics
    let logger: Logger
    let reconcileInterval: Duration
    let retryDelay: Duration
    let maxPendingPerTeam: Int
    private let state = Locked(State())
    private let holds: AsyncStream<Int64>
    private let continuation: AsyncStream<Int64>.Continuation
    private let reconciled = Locked<[CheckedContinuation<Void, Never>]?>([])

    init(client: MeteredClient, metrics: GatewayMetrics, logger: Logger, reconcileInterval: Duration, retryDelay: Duration, maxPendingPerTeam: Int) {
        self.client = client
        self.metrics = metrics
        self.logger = logger
        self.reconcileInterval = reconcileInterval
        self.retryDelay = retryDelay
        self.maxPendingPerTeam = maxPendingPerTeam
        (holds, continuation) = AsyncStream.makeStream()
    }

    /// Async calls of a team in flight (created, or being created, and not yet settled).
    public func inFlight(teamID: Int64) -> Int {
        state.withLock { $0.inFlight[teamID] ?? 0 }
    }

    /// Tasks being polled right now.
    public var trackedCount: Int {
        state.withLock { $0.tracked.count }
    }

    /// Takes one of the team's in-flight slots; false when the team is at its cap.
    func reserve(teamID: Int64) -> Bool {
        state.withLock { state in
            let count = state.inFlight[teamID] ?? 0
            guard count < maxPendingPerTeam else { return false }
            state.inFlight[teamID] = count + 1
            return true
        }
    }

    /// Gives back a slot taken with ``reserve(teamID:)`` for a call that did not become a task.
    func release(teamID: Int64) {
        state.withLock { state in
            let count = (state.inFlight[teamID] ?? 0) - 1
            state.inFlight[teamID] = count > 0 ? count : nil
        }
    }

    /// Polls the hold's task until it is settled. `reserved`: the caller took a slot for it, which
    /// the tracking now owns (or gives back, when the hold is tracked already).
    func track(holdID: Int64, teamID: Int64, reserved: Bool) {
        let isNew = state.withLock { state -> Bool in
            guard state.tracked[holdID] == nil else {
                if reserved {
                    let count = (state.inFlight[teamID] ?? 0) - 1
                    state.inFlight[teamID] = count > 0 ? count : nil
                }
                return false
            }
            state.tracked[holdID] = teamID
            if !reserved { state.inFlight[teamID, default: 0] += 1 }
            return true
        }
        if isNew { continuation.yield(holdID) }
    }

    /// Waits until the first reconciliation pass of this run is over.
    public func waitUntilReconciled() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = reconciled.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.reconcileLoop() }
            for await holdID in holds.cancelOnGracefulShutdown() {
                group.addTask { await self.settle(holdID: holdID) }
            }
            // Graceful shutdown: stop polling; pending holds keep their task ids for the next run.
            group.cancelAll()
        }
        logger.notice("settler stopped", metadata: ["settler.tracked": "\(trackedCount)"])
    }

    func reconcileLoop() async {
        while !Task.isCancelled {
            do {
                let report = try await client.reconcile()
                for outcome in report.settled { record(outcome) }
                for hold in report.stillRunning { track(holdID: hold.id, teamID: hold.teamID, reserved: false) }
                if !report.unreadable.isEmpty {
                    logger.warning("reconcile could not read some tasks", metadata: ["reconcile.unreadable": "\(report.unreadable.count)"])
                }
            } catch {
                logger.error("reconcile failed", metadata: ["error": "\(error)"])
            }
            let waiters = reconciled.withLock { waiters -> [CheckedContinuation<Void, Never>] in
                defer { waiters = nil }
                return waiters ?? []
            }
            for waiter in waiters { waiter.resume() }
            try? await Task.sleep(for: reconcileInterval)
        }
        let waiters = reconciled.withLock { waiters -> [CheckedContinuation<Void, Never>] in
            defer { waiters = nil }
            return waiters ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    func settle(holdID: Int64) async {
        defer {
            state.withLock { state in
                if let teamID = state.tracked.removeValue(forKey: holdID) {
                    let count = (state.inFlight[teamID] ?? 0) - 1
                    state.inFlight[teamID] = count > 0 ? count : nil
                }
            }
        }
        while !Task.isCancelled {
            do {
                record(try await client.finish(holdID: holdID))
                return
            } catch let error as MeteringError where error.code == "still_running" {
                continue
            } catch let error as MeteringError where error.code == "outcome_unknown" {
                // The upstream no longer answers for the task: the hold waits for review or expiry.
                logger.warning("task outcome unknown", metadata: ["hold.id": "\(holdID)", "error": "\(error.message)"])
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("settling failed; retrying", metadata: ["hold.id": "\(holdID)", "error": "\(error)"])
                try? await Task.sleep(for: retryDelay)
                if let hold = try? await client.ledger.hold(id: holdID), hold.state != .pending { return }
            }
        }
    }

    func record(_ outcome: MeteredOutcome) {
        guard !outcome.replayed else { return }
        metrics.outcome(provider: outcome.provider, model: outcome.model, status: outcome.status.rawValue, chargedMicro: outcome.chargedMicro)
    }
}

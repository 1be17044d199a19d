import Foundation
import Logging
import ServiceLifecycle
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// Settles async calls in the background, so that a client that never polls is still charged
/// exactly once (or not at all).
///
/// - Every task the gateway creates is tracked and read on a schedule: each has its next reading
///   time (the metered client's poll backoff, with jitter, and any `Retry-After`), and one loop
///   reads the due ones, at most `maxConcurrentReads` at a time, with
///   ``MeteredClient/advance(holdID:)``, which settles a terminal task. A tracked task costs a
///   small table entry, not a suspended poll loop: ten thousand in flight are cheap. A client's
///   `GET` may settle a task first; the first settlement wins.
/// - On start, ``MeteredClient/reconcile(waitFor:)`` settles what a previous run left open and the
///   tasks still running upstream are tracked again; the same pass runs every `reconcileInterval`,
///   which also expires holds past their deadline.
/// - Shared with the other gateways on the ledger through settlement leases: every call this
///   process holds carries its lease from the hold's own commit; every third of a reconcile
///   interval one statement renews them all (``MeteredClient/renewLeases()``), and a tracked task
///   whose lease was lost (this process stalled past it and another took it over) is no longer
///   read here. The reconcile pass polls only what it holds or can claim, so a dead gateway's
///   tasks lapse within one interval and are taken over by a survivor's next pass.
/// - On graceful shutdown, polling stops and this process's leases are given up, so the other
///   gateways take its open tasks over at their next pass; pending holds keep their task ids, and
///   the next start resumes what no one else has settled.
/// - It counts, per team, the tasks this process polls (``inFlight(teamID:)``); the per-team cap
///   (429) is the ledger's, counted over every process.
public final class Settler: Service, Sendable {
    struct Tracked {
        var teamID: Int64
        /// Readings so far, for the backoff.
        var attempts = 0
        var due: AnyClock.Instant
        var reading = false
    }

    struct State {
        var tracked: [Int64: Tracked] = [:]
        var inFlight: [Int64: Int] = [:]
        var reading = 0

        /// Marks up to `limit` due tasks as being read and returns them, earliest first.
        mutating func takeDue(now: AnyClock.Instant, limit: Int) -> [Int64] {
            guard limit > 0 else { return [] }
            var due = tracked.filter { !$0.value.reading && $0.value.due <= now }.map { ($0.key, $0.value.due) }
            if due.count > limit {
                due.sort { $0.1 < $1.1 }
                due.removeLast(due.count - limit)
            }
            for (holdID, _) in due { tracked[holdID]?.reading = true }
            reading += due.count
            return due.map(\.0)
        }

        mutating func untrack(_ holdID: Int64) {
            guard let entry = tracked.removeValue(forKey: holdID) else { return }
            let count = (inFlight[entry.teamID] ?? 0) - 1
            inFlight[entry.teamID] = count > 0 ? count : nil
        }
    }

    let client: MeteredClient
    /// What the schedule and the loops wait on (the metered client's).
    let clock: AnyClock
    let metrics: GatewayMetrics
    let logger: Logger
    let reconcileInterval: Duration
    let retryDelay: Duration
    /// Task readings in flight at most.
    let maxConcurrentReads = 64
    private let state = Locked(State())
    private let reconciled = Locked<[CheckedContinuation<Void, Never>]?>([])

    init(client: MeteredClient, metrics: GatewayMetrics, logger: Logger, reconcileInterval: Duration, retryDelay: Duration) {
        self.client = client
        self.clock = client.waitClock
        self.metrics = metrics
        self.logger = logger
        self.reconcileInterval = reconcileInterval
        self.retryDelay = retryDelay
    }

    /// Async calls of a team this process polls (created here or resumed by its reconciler, not yet
    /// settled). The cap counts the ledger's pending async holds instead, in every process.
    public func inFlight(teamID: Int64) -> Int {
        state.withLock { $0.inFlight[teamID] ?? 0 }
    }

    /// Tasks being polled right now.
    public var trackedCount: Int {
        state.withLock { $0.tracked.count }
    }

    /// Reads the hold's task on the schedule until it is settled.
    func track(holdID: Int64, teamID: Int64) {
        let firstReading = clock.now.advanced(by: client.configuration.pollPolicy.initialInterval)
        state.withLock { state in
            guard state.tracked[holdID] == nil else { return }
            state.tracked[holdID] = Tracked(teamID: teamID, due: firstReading)
            state.inFlight[teamID, default: 0] += 1
        }
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
            group.addTask { await self.readLoop() }
            group.addTask { await self.renewLoop() }
            // Graceful shutdown (or cancellation): stop polling; pending holds keep their task ids
            // for the next run.
            try? await gracefulShutdown()
            group.cancelAll()
        }
        // The other gateways take the open tasks over at their next pass, not a lease later. A
        // task of its own, so that a cancelled run still gives them up; bounded, so that a ledger
        // that stopped answering does not hold up the shutdown (the leases then lapse by themselves).
        let released = await releaseLeases(within: releaseTimeout)
        metrics.leasesHeld.set(Int64(0))
        logger.notice("settler stopped", metadata: ["settler.tracked": "\(trackedCount)", "settler.leases_released": "\(released)"])
    }

    /// How long a shutdown waits for this process's leases to be given up.
    let releaseTimeout: Duration = .seconds(5)

    /// Gives up this process's leases; false when that failed or took longer than `timeout`
    /// (measured on the machine's clock: a shutdown is real time, whatever the schedule's clock).
    func releaseLeases(within timeout: Duration) async -> Bool {
        await waitAtMost(timeout) { [client] in (try? await client.releaseLeases()) != nil } ?? false
    }

    /// How often this process renews its settlement leases: three times per lease, so that one
    /// late or failed renewal does not lose them.
    var renewInterval: Duration { client.configuration.leaseDuration / 3 }

    func renewLoop() async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: renewInterval) } catch { break }
            await renewLeases()
        }
    }

    /// Renews every lease this process holds, and stops reading the tracked tasks whose lease it
    /// lost (another process polls them now).
    func renewLeases() async {
        // Tasks tracked before the renewal started: their holds, and so their leases, committed
        // before it, so one missing from the answer has really been lost.
        let tracked = state.withLock { Set($0.tracked.keys) }
        do {
            let held = try await client.renewLeases()
            metrics.leasesHeld.set(Int64(held.count))
            // A task settled meanwhile is no longer tracked (and its lease was deleted): not lost.
            let lost = state.withLock { state in
                let lost = tracked.subtracting(held).filter { state.tracked[$0] != nil }
                for holdID in lost { state.untrack(holdID) }
                return lost
            }
            guard !lost.isEmpty else { return }
            metrics.leasesLost.increment(by: Int64(lost.count))
            logger.info("settlement leases lost; another process polls these tasks", metadata: ["settler.lost": "\(lost.count)"])
        } catch {
            // Keep polling: at worst another process takes the leases over and both read a task,
            // which settles once all the same.
            metrics.leaseRenewalsFailed.increment()
            logger.warning("could not renew settlement leases", metadata: ["error": "\(error)"])
        }
    }

    func reconcileLoop() async {
        while !Task.isCancelled {
            do {
                let report = try await client.reconcile()
                for outcome in report.settled { record(outcome) }
                for hold in report.stillRunning { track(holdID: hold.id, teamID: hold.teamID) }
                metrics.leasedElsewhere.set(Int64(report.leasedElsewhere.count))
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
            // A sleep only throws when cancelled (shutdown): stop, rather than spin.
            do { try await clock.sleep(for: reconcileInterval) } catch { break }
        }
        let waiters = reconciled.withLock { waiters -> [CheckedContinuation<Void, Never>] in
            defer { waiters = nil }
            return waiters ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Every `tick`, starts the readings that are due, keeping at most `maxConcurrentReads` going.
    func readLoop() async {
        let policy = client.configuration.pollPolicy
        let tick = min(policy.initialInterval, .milliseconds(250))
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let now = clock.now
                let due = state.withLock { $0.takeDue(now: now, limit: maxConcurrentReads - $0.reading) }
                for holdID in due {
                    group.addTask { await self.read(holdID: holdID) }
                }
                do { try await clock.sleep(for: tick) } catch { break }
            }
        }
    }

    /// One reading of a tracked task: settled (untracked), or scheduled again.
    func read(holdID: Int64) async {
        var retryAfter: Duration?
        do {
            switch try await client.advance(holdID: holdID) {
            case .settled(let outcome):
                record(outcome)
                state.withLock { $0.untrack(holdID); $0.reading -= 1 }
                return
            case .resolved:
                state.withLock { $0.untrack(holdID); $0.reading -= 1 }
                return
            case .running:
                break
            }
        } catch let error as MeteringError where error.code == "outcome_unknown" {
            // The upstream no longer answers for the task: the hold waits for review or expiry.
            logger.warning("task outcome unknown", metadata: ["hold.id": "\(holdID)", "error": "\(error.message)"])
            state.withLock { $0.untrack(holdID); $0.reading -= 1 }
            return
        } catch let error as ProviderError {
            retryAfter = error.retryAfter ?? (error.isTransient ? nil : retryDelay)
            logger.debug("task reading failed; reading again later", metadata: ["hold.id": "\(holdID)", "error.code": "\(error.code)"])
        } catch {
            retryAfter = retryDelay
            logger.warning("settling failed; retrying", metadata: ["hold.id": "\(holdID)", "error": "\(error)"])
        }
        let policy = client.configuration.pollPolicy
        let now = clock.now
        state.withLock { state in
            state.reading -= 1
            guard var entry = state.tracked[holdID] else { return }
            var random = SplitMix64(seed: policy.seed ^ UInt64(bitPattern: holdID) ^ UInt64(entry.attempts))
            let unit = Double(random.next() >> 11) / Double(UInt64(1) << 53)
            var wait = policy.interval(afterAttempt: entry.attempts) * (1 - policy.jitter * unit)
            if let retryAfter { wait = max(wait, retryAfter) }
            entry.attempts += 1
            entry.reading = false
            entry.due = now.advanced(by: wait)
            state.tracked[holdID] = entry
        }
    }

    func record(_ outcome: MeteredOutcome) {
        guard !outcome.replayed else { return }
        metrics.outcome(provider: outcome.provider, model: outcome.model, status: outcome.status.rawValue, chargedMicro: outcome.chargedMicro)
    }
}

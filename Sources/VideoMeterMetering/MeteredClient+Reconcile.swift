import Foundation
import Logging
import VideoMeter
import VideoMeterLedger
import VideoMeterProviders

/// What a reconciliation pass did and what it leaves for a person to decide.
public struct ReconcileReport: Sendable, Equatable {
    /// Calls settled by this pass (tasks found terminal upstream).
    public var settled: [MeteredOutcome] = []
    /// Async tasks still queued or running upstream; their holds stay pending.
    public var stillRunning: [Hold] = []
    /// Holds this pass expired because their deadline had passed.
    public var expired: [Hold] = []
    /// Pending calls whose outcome is unknown (sent, no answer) and cannot be looked up upstream:
    /// they are voided when their hold expires, unless settled by hand.
    public var unknown: [Hold] = []
    /// Tasks that succeeded after their hold expired: not charged, listed for review.
    public var lateSuccesses: [LateSuccess] = []
    /// Async calls a stopped process held but never sent: voided by this pass, nothing charged.
    public var neverSent: [Hold] = []
    /// Tasks that could not be read this time (the upstream unreachable, say), with the reason.
    public var unreadable: [String] = []
    /// Open calls whose settlement lease another live process holds: left to it, untouched by this
    /// pass (not polled, not voided, not listed as unknown). Its lease lapses if it dies, and a
    /// later pass takes them over.
    public var leasedElsewhere: [Hold] = []
}

extension MeteredClient {
    /// Resumes what a previous run left open: reads every pending async task and settles the
    /// terminal ones, expires holds past their deadline (checking their tasks for late successes),
    /// and lists the unknowns and late successes that need a decision.
    ///
    /// Shared with other processes on the ledger through settlement leases: the pass first claims
    /// the lease on every open call (``SettlementLeaseStore/claimLeases(holdIDs:owner:duration:)``,
    /// as ``Configuration/leaseOwner`` for ``Configuration/leaseDuration``) and then polls, voids as
    /// never sent or lists as unknown only the calls it holds; a call another live process holds
    /// (one it is polling or still sending) is listed in ``ReconcileReport/leasedElsewhere`` and
    /// left alone. A dead process's leases lapse, and the next pass takes its calls over.
    ///
    /// - Parameter waitFor: poll tasks that are still running until they are terminal, for at most
    ///   this long (`nil`: read each task once and return).
    public func reconcile(waitFor: Duration? = nil) async throws -> ReconcileReport {
        var report = ReconcileReport()
        let listed = try await ledger.openHolds()
        let leased = configuration.reconcileTakesLeases
            ? try await ledger.claimLeases(holdIDs: listed.map(\.id), owner: configuration.leaseOwner, duration: configuration.leaseDuration)
            : Set(listed.map(\.id))
        let elsewhere = Set(listed.map(\.id)).subtracting(leased)
        let open = try await ledger.holdsAwaitingReconciliation().filter { leased.contains($0.id) }
        try await withThrowingTaskGroup(of: ReconcileItem.self) { group in
            // At most `reconcileConcurrency` task readings at a time, however many holds are open.
            var pending = open.makeIterator()
            for _ in 0..<configuration.reconcileConcurrency {
                guard let hold = pending.next() else { break }
                group.addTask { await self.reconcile(hold, waitFor: waitFor) }
            }
            for try await item in group {
                if let hold = pending.next() { group.addTask { await self.reconcile(hold, waitFor: waitFor) } }
                switch item {
                case .settled(let outcome): report.settled.append(outcome)
                case .running(let hold): report.stillRunning.append(hold)
                case .unknown(let hold): report.unknown.append(hold)
                case .unreadable(let reason): report.unreadable.append(reason)
                case .resolvedElsewhere: break
                }
            }
        }

        // Calls that were sent with no task id to look up (a sync call cut off, an async create
        // whose answer was lost) are unknowns too, once they are no longer in flight here.
        // Only the calls this pass holds the lease on: another live process may be sending the others.
        let pending = try await ledger.openHolds()
        report.leasedElsewhere = pending.filter { elsewhere.contains($0.id) }
        let ours = pending.filter { leased.contains($0.id) }
        let seen = Set(report.stillRunning.map(\.id) + report.unknown.map(\.id))
        report.unknown += ours.filter { hold in
            hold.upstreamTaskID == nil && !seen.contains(hold.id)
                && (hold.callStatus == .unknown || (hold.callStatus == .submitted && !sending.contains(hold.id)))
        }

        // An async call whose process stopped between its hold and its create was never sent. The
        // ledger voids it only if, in the voiding commit itself, it is still `held`: the create is
        // sent only after `markSubmitted` has committed, so a call that a live process is sending
        // right now is never voided. The grace period keeps this away from calls being started.
        let startedBefore = Int64((clock.now().timeIntervalSince1970 - Self.neverSentGraceSeconds) * 1000)
        for hold in ours
        where hold.callStatus == .held && hold.upstreamTaskID == nil && hold.createdAt < startedBefore
            && !sending.contains(hold.id) && (try? provider(hold.provider))?.style == .async {
            if let voided = try await ledger.voidIfNeverSent(holdID: hold.id) {
                report.neverSent.append(voided)
            }
        }

        for hold in try await ledger.expireDue() {
            report.expired.append(hold)
            report.unknown.removeAll { $0.id == hold.id }
            report.stillRunning.removeAll { $0.id == hold.id }
            report.leasedElsewhere.removeAll { $0.id == hold.id }
        }
        // Tasks whose holds expired while they were still running may have succeeded since: look
        // again at those expired within the last two hold lifetimes that are not yet recorded.
        let horizon = Int64((clock.now().timeIntervalSince1970 - 2 * Double(configuration.asyncHoldTimeout.components.seconds)) * 1000)
        for hold in try await ledger.expiredHoldsToRecheck(resolvedSince: horizon) {
            guard let taskID = hold.upstreamTaskID else { continue }
            await checkLateSuccess(hold, taskID: taskID, into: &report)
        }
        report.lateSuccesses = try await ledger.lateSuccesses()
        report.settled.sort { $0.holdID < $1.holdID }
        report.stillRunning.sort { $0.id < $1.id }
        report.unknown.sort { $0.id < $1.id }
        logger.info("reconciled", metadata: [
            "reconcile.settled": "\(report.settled.count)", "reconcile.running": "\(report.stillRunning.count)",
            "reconcile.expired": "\(report.expired.count)", "reconcile.unknown": "\(report.unknown.count)",
            "reconcile.late": "\(report.lateSuccesses.count)", "reconcile.leased_elsewhere": "\(report.leasedElsewhere.count)",
        ])
        return report
    }

    /// Extends every settlement lease this process holds on an open call (one statement) and
    /// returns their hold ids: a call missing from the answer has lost its lease (this process
    /// stalled past it and another took it over, or it is settled) and is no longer this process's
    /// to poll. The gateway's settler calls it several times per lease duration.
    public func renewLeases() async throws -> Set<Int64> {
        try await ledger.renewLeases(owner: configuration.leaseOwner, duration: configuration.leaseDuration)
    }

    /// Gives up every settlement lease this process holds, so that other processes take its open
    /// calls over at their next pass instead of after the leases lapse (a graceful shutdown, the
    /// end of `videometer reconcile`).
    public func releaseLeases() async throws {
        let held = try await ledger.renewLeases(owner: configuration.leaseOwner, duration: configuration.leaseDuration)
        try await ledger.releaseLeases(holdIDs: held.sorted(), owner: configuration.leaseOwner)
    }

    /// How old a held, never-sent async call must be before reconciliation voids it.
    static let neverSentGraceSeconds: Double = 60

    enum ReconcileItem: Sendable {
        case settled(MeteredOutcome)
        /// Settled by someone else since the pass listed it.
        case resolvedElsewhere
        case running(Hold)
        case unknown(Hold)
        case unreadable(String)
    }

    func reconcile(_ hold: Hold, waitFor: Duration?) async -> ReconcileItem {
        guard let taskID = hold.upstreamTaskID else { return .unknown(hold) }
        guard let upstream = try? provider(hold.provider) else {
            return .unreadable("hold \(hold.id): no upstream configured for \(hold.provider)")
        }
        do {
            guard let waitFor else {
                switch try await advance(holdID: hold.id) {
                case .settled(let outcome): return .settled(outcome)
                case .running: return .running(hold)
                case .resolved: return .resolvedElsewhere
                }
            }
            var policy = configuration.pollPolicy
            policy.deadline = waitFor
            let status = try await TaskPoller(provider: upstream, policy: policy, clock: waitClock).poll(taskID: taskID)
            let startedAt = Date(timeIntervalSince1970: TimeInterval(hold.createdAt) / 1000)
            return .settled(try await settle(hold, terminal: status, startedAt: startedAt, onEvent: { _ in }))
        } catch let error as ProviderError where error.kind == .pollDeadlineExceeded {
            return .running(hold)
        } catch let error as ProviderError where error.kind == .accessDenied || error.kind == .taskNotFound {
            try? await ledger.markCall(holdID: hold.id, .lost)
            return .unknown(hold)
        } catch let error as MeteringError where error.code == "outcome_unknown" {
            return .unknown(hold)
        } catch {
            return .unreadable("hold \(hold.id), task \(taskID): \(error)")
        }
    }

    /// Reads an expired hold's task; a success is recorded as a late success for review.
    func checkLateSuccess(_ hold: Hold, taskID: String, into report: inout ReconcileReport) async {
        guard let upstream = try? provider(hold.provider), let status = try? await upstream.status(taskID: taskID),
              status.state == .succeeded
        else { return }
        let charge = self.charge(for: hold, reportedSeconds: status.durationSeconds, reportedResolution: status.resolution)
        do {
            _ = try await ledger.lateSuccess(
                holdID: hold.id, amountMicro: charge.amountMicro, upstreamRequestID: status.requestID,
                note: "task \(taskID) succeeded after the hold expired")
        } catch {
            report.unreadable.append("hold \(hold.id): could not record a late success: \(error)")
        }
    }
}

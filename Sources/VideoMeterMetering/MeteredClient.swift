import Foundation
import Logging
import VideoMeter
@_spi(Simulation) import VideoMeterLedger
import VideoMeterProviders

/// Puts every generation call through quote -> hold -> send -> settle.
///
/// Guarantees, in the terms of DESIGN.md's outcome table:
/// - Nothing is sent without a hold for the quoted total; an invalid request or a refused budget
///   never reaches the upstream and never touches the ledger beyond the refusal.
/// - The hold is posted only when the upstream reports success (for the seconds it reports, never
///   above the hold), or when an async task ends in a state its price list bills
///   (`billable_outcomes`; the shipped catalogs bill success only); every other outcome voids it,
///   refusals always. Posting is exactly once per hold, however many times a task is polled or by
///   how many pollers.
/// - An async task's id is written with its hold before any polling, so a restarted process
///   resumes it (``reconcile(waitFor:)``). A request sent without an answer is `unknown`: its hold
///   stays until reconciled or expired.
public final class MeteredClient: Sendable {
    public struct Configuration: Sendable {
        /// How long a sync call's hold lives before the sweeper expires it (must outlast the
        /// upstream's own timeout: BlockRun's clients wait up to 180 s).
        public var syncHoldTimeout: Duration
        /// How long an async task's hold lives; a task that succeeds after this is a late success.
        public var asyncHoldTimeout: Duration
        /// How async tasks are polled.
        public var pollPolicy: PollPolicy
        /// How many task readings a reconciliation pass keeps in flight at most (1: one after the
        /// other, in hold order, as the deterministic simulator needs).
        public var reconcileConcurrency: Int
        /// The most async calls a team may have in flight (pending async holds, in every process on
        /// the ledger); the ledger refuses the next with `too_many_pending_tasks`. Nil: no cap.
        public var maxPendingAsyncPerTeam: Int?
        /// This process's name in the ledger's settlement leases: one per process
        /// (``MeteredClient/processLeaseOwner``, `host-pid-random`, unless a test gives each client its own).
        /// Renewing and releasing act on every lease of the owner: two gateways run in one process
        /// (tests, benchmarks) that must settle independently need an owner each.
        public var leaseOwner: String
        /// How long a settlement lease lasts unless renewed: the gateway uses its reconcile interval,
        /// so a dead process's calls are free within one interval and taken over by the next pass.
        public var leaseDuration: Duration
        /// Whether each hold takes this process's lease on its call, in the hold's own transaction.
        /// True in a process that renews its leases (the gateway's settler): until the lease lapses,
        /// no other process polls the call, voids it as never sent or lists it as unknown. False
        /// (the default) for one-shot callers such as `videometer generate`: a reconciler elsewhere
        /// may take their calls over at once, which is safe (settlement is exactly once through the
        /// hold) and lets `videometer reconcile` settle a crashed run's tasks without waiting.
        public var leasesCalls: Bool
        /// Whether a reconcile pass claims the settlement lease of each open call and leaves the
        /// calls another live process holds (true: settlement shared with every process on the
        /// ledger). The deterministic simulator turns it off: its simulated processes live in one
        /// process and share one owner, so every claim would succeed and change nothing but the
        /// schedule of writes its recorded seeds replay.
        public var reconcileTakesLeases: Bool

        public init(
            syncHoldTimeout: Duration = .seconds(900), asyncHoldTimeout: Duration = .seconds(3 * 3600), pollPolicy: PollPolicy = PollPolicy(),
            reconcileConcurrency: Int = 64, maxPendingAsyncPerTeam: Int? = nil, leaseOwner: String = MeteredClient.processLeaseOwner,
            leaseDuration: Duration = .seconds(60), leasesCalls: Bool = false, reconcileTakesLeases: Bool = true
        ) {
            precondition(reconcileConcurrency >= 1, "a reconciliation reads at least one task at a time")
            precondition(!leaseOwner.isEmpty && leaseDuration >= .milliseconds(1), "a settlement lease needs an owner and a duration")
            self.leaseOwner = leaseOwner
            self.leaseDuration = leaseDuration
            self.leasesCalls = leasesCalls
            self.reconcileTakesLeases = reconcileTakesLeases
            self.maxPendingAsyncPerTeam = maxPendingAsyncPerTeam
            self.syncHoldTimeout = syncHoldTimeout
            self.asyncHoldTimeout = asyncHoldTimeout
            self.pollPolicy = pollPolicy
            self.reconcileConcurrency = reconcileConcurrency
        }
    }

    /// This process's settlement-lease owner id, the same for every client in it: the host name,
    /// the process id and a random part (a pid is reused; the random part tells two lives apart).
    public static let processLeaseOwner: String = {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let random = UInt32.random(in: 0...UInt32.max)
        return "\(host.isEmpty ? "host" : host)-\(ProcessInfo.processInfo.processIdentifier)-\(String(random, radix: 16))"
    }()

    public let catalog: Catalog
    public let ledger: any LedgerStore
    let providers: [String: any VideoProvider]
    let clock: any WallClock
    /// What polling waits on (the machine's monotonic clock unless told otherwise).
    public let waitClock: AnyClock
    public let configuration: Configuration
    let logger: Logger
    /// Holds whose request is being sent by this process right now (so reconciliation does not
    /// mistake them for calls a crash left behind).
    let sending = HoldRegistry()
    /// Idempotency keys of the calls this process is holding or sending right now, with how many
    /// attempts use each (a client may send one key twice at once).
    let keysInUse = Locked(KeysInUse())
    /// Holds to release once the ledger answers again (``releaseWhenAnswered(_:attemptedAt:)``).
    let unanswered = Locked(UnansweredQueue())
    /// A rule broken on purpose by the simulator; nil everywhere else.
    let bug: InjectedBug?
    /// Team names by id, read from the ledger once each: a team's id and name never change (teams
    /// are neither renamed nor deleted), so an entry never goes stale. Saves a database read on
    /// every settlement.
    let teamNames = Locked<[Int64: String]>([:])
    /// The stored JSON of recent quotes: the same call priced from the same price list gives the
    /// same quote, whose JSON need not be encoded again for every hold.
    let quoteDocuments = QuoteJSONCache()

    /// - Parameters:
    ///   - providers: one client per catalog provider id (`blockrun`, `worldrouter`).
    ///   - clock: the wall clock calls are priced and stamped at; the ledger's unless told otherwise.
    ///   - waitClock: the clock polling waits on.
    public convenience init(
        catalog: Catalog, ledger: any LedgerStore, providers: [String: any VideoProvider], clock: (any WallClock)? = nil, waitClock: AnyClock = .continuous,
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "videometer.metering")
    ) {
        self.init(
            catalog: catalog, ledger: ledger, providers: providers, clock: clock, waitClock: waitClock, configuration: configuration,
            logger: logger, injecting: nil)
    }

    /// A metered client for the simulator: `bug` breaks one of the metered client's rules
    /// (``InjectedBug/skipVoid`` or ``InjectedBug/loseTaskID``; the others are the ledger's).
    @_spi(Simulation) public init(
        catalog: Catalog, ledger: any LedgerStore, providers: [String: any VideoProvider], clock: (any WallClock)?, waitClock: AnyClock,
        configuration: Configuration, logger: Logger, injecting bug: InjectedBug?
    ) {
        self.bug = bug
        self.catalog = catalog
        self.ledger = ledger
        self.providers = providers
        self.clock = clock ?? ledger.clock
        self.waitClock = waitClock
        self.configuration = configuration
        self.logger = logger
    }

    /// The upstream client for a catalog provider.
    public func provider(_ id: String) throws(MeteringError) -> any VideoProvider {
        guard let provider = providers[id] else { throw .providerNotConfigured(id) }
        return provider
    }

    // MARK: - One call, start to finish

    /// Runs one call to its terminal state and settles it.
    ///
    /// - Returns: the settled outcome; a failed, cancelled or expired async task is an outcome
    ///   (nothing charged), not an error.
    /// - Throws: `PricingError` or `LedgerError` before anything is sent; `ProviderError` when the
    ///   upstream refused or failed a sync call (its hold voided); ``MeteringError`` when the outcome
    ///   is unknown or still running (the hold kept for reconciliation).
    public func generate(_ request: MeteredRequest, onEvent: @escaping @Sendable (MeteringEvent) async -> Void = { _ in }) async throws -> MeteredOutcome {
        switch try await start(request, onEvent: onEvent) {
        case .settled(let outcome):
            return outcome
        case .running(let call):
            return try await finish(holdID: call.holdID, onEvent: onEvent)
        }
    }

    /// Prices `request` once, at `date` (the client's clock by default): the value that `start(_ priced:onEvent:)`
    /// holds and sends.
    public func price(_ request: MeteredRequest, at date: Date? = nil) throws(PricingError) -> PricedRequest {
        try PricedRequest(request, catalog: catalog, at: date ?? clock.now())
    }

    /// Prices a call now, then holds and sends it.
    public func start(_ request: MeteredRequest, onEvent: @escaping @Sendable (MeteringEvent) async -> Void = { _ in }) async throws -> StartedCall {
        try await start(try price(request), onEvent: onEvent)
    }

    /// Holds and sends a priced call; a sync call is settled before this returns, an async one as
    /// soon as the upstream task exists (finish it with ``finish(holdID:onEvent:)``). The hold is
    /// for the price already taken: the catalog is not consulted again.
    public func start(_ priced: PricedRequest, onEvent: @escaping @Sendable (MeteringEvent) async -> Void = { _ in }) async throws -> StartedCall {
        let startedAt = clock.now()
        let request = priced.request
        let quote = priced.quote
        let upstream = try provider(quote.provider)
        await onEvent(.quoted(quote))

        let key = request.idempotencyKey ?? "vm-\(UUID().uuidString.lowercased())"
        // A hold of an earlier attempt under this key whose commit went unanswered may be being
        // released right now (``releaseIfUnanswered(_:attemptedAt:)``): wait for that (a few
        // ledger round trips), so that the release can never void this attempt's hold.
        while !keysInUse.withLock({ $0.begin(key) }) {
            try await waitClock.sleep(for: .milliseconds(10))
        }
        defer { keysInUse.withLock { $0.end(key) } }
        let holdRequest = try holdRequest(for: priced, key: key)
        let receipt: HoldReceipt
        do {
            receipt = try await ledger.hold(holdRequest)
        } catch where error.isLedgerUnavailable {
            // The database went away during the hold's commit: the hold may exist although its
            // answer was lost. Nothing is sent for it; release it once the ledger is back.
            releaseWhenAnswered(holdRequest, attemptedAt: startedAt)
            throw error
        }
        let hold = receipt.hold
        await onEvent(.held(holdID: hold.id, amountMicro: hold.amountMicro, replayed: receipt.replayed))
        if receipt.replayed { return try await replay(hold, onEvent: onEvent) }

        let generation = GenerationRequest(
            model: quote.model, prompt: request.prompt, imageURL: request.imageURL,
            durationSeconds: quote.billedSeconds, resolution: request.resolution == nil ? nil : quote.resolution,
            options: request.options
        )
        if quote.apiStyle == .async {
            // Recorded before the create is sent: after a crash, a pending async hold marked
            // `submitted` without a task id is an unknown (the task may exist), not a call never sent.
            do {
                try await ledger.markSubmitted(holdID: hold.id, upstreamTaskID: nil)
            } catch {
                // Nothing was sent: release the hold rather than leave it to reconciliation. When the
                // ledger cannot be reached, the caller gets its error now and the release is written
                // as soon as the ledger is back (or by reconciliation, should this process stop first).
                let release = Task { _ = try? await self.persist(hold) { try await self.ledger.void(holdID: hold.id, settlement: Settlement(status: .cancelled)) } }
                if !error.isLedgerUnavailable { await release.value }
                throw error
            }
        }
        sending.insert(hold.id)
        defer { sending.remove(hold.id) }
        let submission: Submission
        do {
            submission = try await upstream.submit(generation, idempotencyKey: key)
        } catch {
            throw await settleFailedSubmission(hold, error: error, style: quote.apiStyle, startedAt: startedAt)
        }
        switch submission {
        case .completed(let result):
            return .settled(try await settleSuccess(hold, result: result, reportedSeconds: result.durationSeconds, reportedResolution: result.resolution, startedAt: startedAt, onEvent: onEvent))
        case .task(let taskID):
            // Written before any polling, so that a restart resumes this task.
            if bug != .loseTaskID {
                try await persist(hold) { try await self.ledger.markSubmitted(holdID: hold.id, upstreamTaskID: taskID) }
            }
            await onEvent(.submitted(taskID: taskID))
            logger.debug("task created", metadata: ["hold.id": "\(hold.id)", "task.id": "\(taskID)"])
            return .running(RunningCall(holdID: hold.id, idempotencyKey: key, taskID: taskID, quote: quote))
        }
    }

    /// Polls a held async call until the upstream task is terminal, and settles it.
    ///
    /// Safe to call from several places at once (the caller, the gateway's background settler,
    /// reconciliation): the first settlement wins, the others return the settled outcome.
    public func finish(holdID: Int64, onEvent: @escaping @Sendable (MeteringEvent) async -> Void = { _ in }) async throws -> MeteredOutcome {
        let hold = try await ledger.hold(id: holdID)
        guard hold.state == .pending else { return try await outcome(of: hold, replayed: true) }
        guard let taskID = hold.upstreamTaskID else { throw MeteringError.callInProgress(key: hold.idempotencyKey, holdID: hold.id) }
        let upstream = try provider(hold.provider)
        let startedAt = Date(timeIntervalSince1970: TimeInterval(hold.createdAt) / 1000)
        let poller = TaskPoller(provider: upstream, policy: configuration.pollPolicy, clock: waitClock)
        let markedRunning = RunningFlag(hold.callStatus == .running)
        let status: TaskStatus
        do {
            status = try await poller.poll(taskID: taskID) { [ledger] reading in
                await onEvent(.polled(taskID: taskID, state: reading.state))
                if reading.state == .running, markedRunning.set() {
                    try? await ledger.markCall(holdID: holdID, .running)
                }
            }
        } catch let error as ProviderError {
            if error.kind == .pollDeadlineExceeded { throw MeteringError.stillRunning(holdID: holdID, taskID: taskID) }
            // 403/404 on our own task: the upstream no longer answers for it. Keep the hold for
            // review; it expires unless a later reconciliation finds the task. Settled meanwhile
            // by another reader: that settlement is the outcome.
            if let settled = try await markLost(holdID) { return settled }
            throw MeteringError.outcomeUnknown(holdID: holdID, detail: "\(error.code): \(error.message)")
        }
        return try await settle(hold, terminal: status, startedAt: startedAt, onEvent: onEvent)
    }

    /// What one reading of a held async call found.
    public enum Advance: Sendable {
        /// The task was terminal: the call is settled now (or was already, by another reader).
        case settled(MeteredOutcome)
        /// The task is still queued or running upstream.
        case running(TaskState)
        /// The hold is no longer pending (settled or expired elsewhere): nothing left to read.
        case resolved(Hold)
    }

    /// Reads a held async call's task once and settles it if it is terminal: one step of
    /// ``finish(holdID:onEvent:)``, for callers that schedule their own readings (the gateway
    /// polls thousands of tasks from one loop) and for reconciliation.
    ///
    /// - Throws: ``MeteringError`` `outcome_unknown` when the upstream no longer answers for the task
    ///   (403/404; the hold is kept for review), `call_in_progress` when no task id is known yet;
    ///   ``ProviderError`` when the reading failed (transient ones carry `retryAfter`).
    public func advance(holdID: Int64) async throws -> Advance {
        let hold = try await ledger.hold(id: holdID)
        guard hold.state == .pending else { return .resolved(hold) }
        guard let taskID = hold.upstreamTaskID else { throw MeteringError.callInProgress(key: hold.idempotencyKey, holdID: hold.id) }
        let upstream = try provider(hold.provider)
        let status: TaskStatus
        do {
            status = try await upstream.status(taskID: taskID)
        } catch let error as ProviderError where error.kind == .accessDenied || error.kind == .taskNotFound {
            if let settled = try await markLost(holdID) { return .settled(settled) }
            throw MeteringError.outcomeUnknown(holdID: holdID, detail: "\(error.code): \(error.message)")
        }
        guard status.state.isTerminal else {
            if status.state == .running && hold.callStatus != .running {
                try? await ledger.markCall(holdID: holdID, .running)
            }
            return .running(status.state)
        }
        let startedAt = Date(timeIntervalSince1970: TimeInterval(hold.createdAt) / 1000)
        return .settled(try await settle(hold, terminal: status, startedAt: startedAt, onEvent: { _ in }))
    }

    // MARK: - Settlement

    /// Settles a hold from an async task's terminal reading.
    func settle(_ hold: Hold, terminal status: TaskStatus, startedAt: Date, onEvent: @Sendable (MeteringEvent) async -> Void) async throws -> MeteredOutcome {
        switch status.state {
        case .succeeded:
            let result = status.result ?? GenerationResult(model: hold.model, videos: [], resolution: status.resolution, upstreamRequestID: status.requestID)
            return try await settleSuccess(
                hold, result: result, reportedSeconds: status.durationSeconds ?? result.durationSeconds,
                reportedResolution: status.resolution ?? result.resolution, sellerCostTicks: status.reportedCostTicks,
                startedAt: startedAt, onEvent: onEvent)
        default:
            // A moderation block (xAI) is a failed call: billed to the team only if the price list
            // bills failures; the seller's reported cost is recorded either way.
            let callStatus = CallStatus(terminal: status.state)
            return try await settleVoid(
                hold, status: callStatus, requestID: status.requestID, sellerCostTicks: status.reportedCostTicks, startedAt: startedAt,
                onEvent: onEvent)
        }
    }

    /// Posts a succeeded call for what the upstream reports it generated, never more than held.
    func settleSuccess(
        _ hold: Hold, result: GenerationResult, reportedSeconds: Int?, reportedResolution: String?, sellerCostTicks: Int64? = nil,
        startedAt: Date, onEvent: @Sendable (MeteringEvent) async -> Void
    ) async throws -> MeteredOutcome {
        let charge = self.charge(for: hold, reportedSeconds: reportedSeconds, reportedResolution: reportedResolution)
        let settlement = Settlement(
            status: .succeeded, billedSeconds: charge.billedSeconds, split: charge.split,
            latencyMs: milliseconds(since: startedAt), upstreamRequestID: result.upstreamRequestID, sellerCostTicks: sellerCostTicks,
            videoURL: result.videoURL)
        do {
            let posted = try await persist(hold) { try await self.ledger.post(holdID: hold.id, amount: charge.amountMicro, settlement: settlement) }
            var outcome = try await self.outcome(of: posted, replayed: false)
            outcome.videoURL = result.videoURL
            outcome.videos = result.videos
            await onEvent(.settled(outcome))
            logger.info("call charged", metadata: [
                "hold.id": "\(hold.id)", "charge.micro": "\(posted.postedMicro)", "model": "\(hold.model)",
            ])
            return outcome
        } catch let error as LedgerError where error.code == "hold_already_resolved" {
            let resolved = try await ledger.hold(id: hold.id)
            var outcome = try await self.outcome(of: resolved, replayed: true)
            if resolved.state == .expired || resolved.state == .voided {
                // A sweeper (another process's reconciliation, or this one's) ended the hold while
                // the video was on its way: the success is late, kept for review, never charged.
                try await persist(hold) {
                    _ = try await self.ledger.lateSuccess(
                        holdID: hold.id, amountMicro: charge.amountMicro, upstreamRequestID: result.upstreamRequestID,
                        note: "succeeded after the hold was \(resolved.state.rawValue)")
                }
                outcome.lateSuccess = true
            }
            outcome.videoURL = result.videoURL
            outcome.videos = result.videos
            return outcome
        } catch let error as LedgerError where error.code == "hold_expired" {
            // The hold outlived its deadline before the video arrived: expire it and keep the
            // success for review rather than charging past the deadline or dropping it.
            try await shielded { _ = try await self.ledger.expireDue() }
            try await shielded {
                _ = try await self.ledger.lateSuccess(
                    holdID: hold.id, amountMicro: charge.amountMicro, upstreamRequestID: result.upstreamRequestID,
                    note: "succeeded after the hold's deadline")
            }
            var outcome = try await self.outcome(of: try await ledger.hold(id: hold.id), replayed: false)
            outcome.lateSuccess = true
            outcome.videoURL = result.videoURL
            outcome.videos = result.videos
            await onEvent(.settled(outcome))
            return outcome
        }
    }

    /// Settles an async task that ended without a video: voided, unless the hold's price list bills
    /// that end state (`billable_outcomes`, e.g. an upstream that charges for moderation-blocked
    /// jobs), in which case the quoted amount is posted. Refusals (a request the upstream never
    /// ran) are never billed; they are voided where they are caught.
    func settleVoid(
        _ hold: Hold, status: CallStatus, requestID: String?, sellerCostTicks: Int64? = nil, startedAt: Date,
        onEvent: @Sendable (MeteringEvent) async -> Void
    ) async throws -> MeteredOutcome {
        if isBillable(status, hold: hold) {
            let settlement = Settlement(
                status: status, billedSeconds: hold.seconds, split: hold.split.share(postedMicro: hold.amountMicro, heldMicro: hold.amountMicro),
                latencyMs: milliseconds(since: startedAt), upstreamRequestID: requestID, sellerCostTicks: sellerCostTicks)
            do {
                let posted = try await persist(hold) { try await self.ledger.post(holdID: hold.id, amount: hold.amountMicro, settlement: settlement) }
                let outcome = try await self.outcome(of: posted, replayed: false)
                await onEvent(.settled(outcome))
                logger.info("call charged for a billable outcome", metadata: [
                    "hold.id": "\(hold.id)", "call.status": "\(status.rawValue)", "charge.micro": "\(posted.postedMicro)",
                ])
                return outcome
            } catch let error as LedgerError where error.code == "hold_already_resolved" {
                return try await outcome(of: try await ledger.hold(id: hold.id), replayed: true)
            } catch let error as LedgerError where error.code == "hold_expired" {
                // Read after the hold's deadline: the sweeper expires it, nothing is charged.
                try await shielded { _ = try await self.ledger.expireDue() }
                let expired = try await self.outcome(of: try await ledger.hold(id: hold.id), replayed: false)
                await onEvent(.settled(expired))
                return expired
            }
        }
        if bug == .skipVoid { return try await outcome(of: hold, replayed: false) }
        do {
            let voided = try await persist(hold) {
                try await self.ledger.void(holdID: hold.id, settlement: Settlement(
                    status: status, latencyMs: self.milliseconds(since: startedAt), upstreamRequestID: requestID, sellerCostTicks: sellerCostTicks))
            }
            let outcome = try await self.outcome(of: voided, replayed: false)
            await onEvent(.settled(outcome))
            logger.info("call voided", metadata: ["hold.id": "\(hold.id)", "call.status": "\(status.rawValue)"])
            return outcome
        } catch let error as LedgerError where error.code == "hold_already_resolved" {
            return try await outcome(of: try await ledger.hold(id: hold.id), replayed: true)
        }
    }

    /// Settles a submission that threw, and returns the error to pass on.
    func settleFailedSubmission(_ hold: Hold, error: any Error, style: APIStyle, startedAt: Date) async -> any Error {
        let latency = milliseconds(since: startedAt)
        let settlement: @Sendable (CallStatus) -> Settlement = { Settlement(status: $0, latencyMs: latency) }
        do {
            if error is CancellationError {
                // Providers raise a bare CancellationError only while waiting to send (rate limiter,
                // pending-task slot, the pause before retrying a 424 that created no task): nothing
                // is in flight, so nothing can be generated or charged upstream.
                try await persist(hold) { _ = try await self.ledger.void(holdID: hold.id, settlement: settlement(.cancelled)) }
                logger.info("call cancelled before it was sent, hold voided", metadata: ["hold.id": "\(hold.id)"])
                return error
            }
            guard let error = error as? ProviderError else {
                try await persist(hold) { try await self.ledger.markCall(holdID: hold.id, .lost) }
                return MeteringError.outcomeUnknown(holdID: hold.id, detail: String(describing: error))
            }
            switch error.delivery {
            case .notSent, .refused:
                try await persist(hold) { _ = try await self.ledger.void(holdID: hold.id, settlement: settlement(CallStatus(refusal: error))) }
                logger.info("call refused upstream, hold voided", metadata: ["hold.id": "\(hold.id)", "error.code": "\(error.code)"])
                return error
            case .unknown where style == .sync && error.httpStatus == nil && Task.isCancelled:
                // The caller abandoned a sync call before any answer. BlockRun takes payment only
                // when it delivers the video ("failure or abandonment costs nothing"), so the hold
                // is voided. Once a status has arrived (httpStatus set) the upstream has delivered
                // and settled: that stays unknown, for review.
                try await persist(hold) { _ = try await self.ledger.void(holdID: hold.id, settlement: settlement(.cancelled)) }
                logger.info("sync call abandoned by the caller, hold voided", metadata: ["hold.id": "\(hold.id)"])
                return CancellationError()
            case .unknown:
                // An async create may have made a task; a sync answer may have been cut short.
                try await persist(hold) { try await self.ledger.markCall(holdID: hold.id, .lost) }
                logger.warning("call outcome unknown, hold kept", metadata: ["hold.id": "\(hold.id)", "error.code": "\(error.code)"])
                return MeteringError.outcomeUnknown(holdID: hold.id, detail: "\(error.code): \(error.message)")
            }
        } catch let ledgerError {
            logger.error("could not settle a failed submission", metadata: ["hold.id": "\(hold.id)", "error": "\(ledgerError)"])
            return ledgerError
        }
    }

    /// Whether the price list the hold was quoted from (by its stored version) bills `status`
    /// although no video came back.
    func isBillable(_ status: CallStatus, hold: Hold) -> Bool {
        guard status != .succeeded, let outcome = Outcome(rawValue: status.rawValue),
              let quote = try? catalog.reprice(
                  provider: hold.provider, model: hold.model, seconds: hold.seconds, resolution: hold.resolution,
                  imageCount: hold.imageCount, version: hold.catalogVersion)
        else { return false }
        return quote.billableOutcomes.contains(outcome)
    }

    /// What to charge for a succeeded call: the price of the seconds and resolution the upstream
    /// reports, at the rates of the price list stored on the hold (its version, never the date
    /// looked up again), capped at the hold. When the upstream reports no usable duration, or the
    /// catalog no longer has that price list, the quoted (held) call is charged — never zero seconds.
    func charge(for hold: Hold, reportedSeconds: Int?, reportedResolution: String?) -> (amountMicro: MicroUSD, split: ChargeSplit, billedSeconds: Int) {
        guard let seconds = reportedSeconds, seconds > 0, seconds != hold.seconds || (reportedResolution.map { $0.lowercased() != hold.resolution } ?? false),
              let repriced = try? catalog.reprice(
                  provider: hold.provider, model: hold.model, seconds: seconds, resolution: reportedResolution ?? hold.resolution,
                  imageCount: hold.imageCount, version: hold.catalogVersion)
        else {
            return (hold.amountMicro, hold.split.share(postedMicro: hold.amountMicro, heldMicro: hold.amountMicro), hold.seconds)
        }
        if repriced.totalMicro > hold.amountMicro {
            logger.warning("upstream reported more than was held; charging the hold", metadata: [
                "hold.id": "\(hold.id)", "seconds.reported": "\(seconds)", "seconds.held": "\(hold.seconds)",
            ])
            return (hold.amountMicro, hold.split.share(postedMicro: hold.amountMicro, heldMicro: hold.amountMicro), hold.seconds)
        }
        return (repriced.totalMicro, repriced.split, seconds)
    }

    /// What ``start(_:onEvent:)`` asks the ledger to hold for a priced call under `key`.
    func holdRequest(for priced: PricedRequest, key: String) throws -> HoldRequest {
        let (request, quote) = (priced.request, priced.quote)
        let timeout = quote.apiStyle == .sync ? configuration.syncHoldTimeout : configuration.asyncHoldTimeout
        return HoldRequest(
            team: request.team, idempotencyKey: key, fingerprint: request.fingerprint(for: quote),
            amountMicro: quote.totalMicro, timeoutSeconds: max(1, timeout.components.seconds),
            provider: quote.provider, model: quote.model, resolution: quote.resolution, seconds: quote.billedSeconds,
            imageCount: quote.imageCount, catalogVersion: quote.catalogVersion,
            quoteJSON: try quoteDocuments.json(of: quote),
            upstreamCostMicro: quote.upstreamCostMicro, marginMicro: quote.marginMicro, flatFeeMicro: quote.flatFeeMicro,
            submitted: quote.apiStyle == .sync, caller: request.caller,
            async: quote.apiStyle == .async, maxPendingAsync: quote.apiStyle == .async ? configuration.maxPendingAsyncPerTeam : nil,
            settlementLease: configuration.leasesCalls ? SettlementLease.Claim(owner: configuration.leaseOwner, duration: configuration.leaseDuration) : nil
        )
    }

    // MARK: - Replays

    /// A replayed idempotency key: the first call's result, or the first call resumed.
    func replay(_ hold: Hold, onEvent: @escaping @Sendable (MeteringEvent) async -> Void) async throws -> StartedCall {
        if hold.state != .pending { return .settled(try await outcome(of: hold, replayed: true)) }
        guard let taskID = hold.upstreamTaskID, let quote = try? catalog.reprice(
            provider: hold.provider, model: hold.model, seconds: hold.seconds, resolution: hold.resolution,
            imageCount: hold.imageCount, version: hold.catalogVersion)
        else {
            throw MeteringError.callInProgress(key: hold.idempotencyKey, holdID: hold.id)
        }
        return .running(RunningCall(holdID: hold.id, idempotencyKey: hold.idempotencyKey, taskID: taskID, quote: quote))
    }

    /// Records that a call's outcome is unknown; when another reader settled the hold in the
    /// meantime, returns that settlement instead (nothing is recorded).
    func markLost(_ holdID: Int64) async throws -> MeteredOutcome? {
        do {
            try await shielded { try await self.ledger.markCall(holdID: holdID, .lost) }
            return nil
        } catch let error as LedgerError where error.code == "hold_already_resolved" {
            return try await outcome(of: try await ledger.hold(id: holdID), replayed: true)
        }
    }

    /// The outcome a hold records.
    public func outcome(of hold: Hold, replayed: Bool) async throws -> MeteredOutcome {
        let team = try await teamName(id: hold.teamID)
        return MeteredOutcome(
            holdID: hold.id, idempotencyKey: hold.idempotencyKey, team: team, provider: hold.provider, model: hold.model,
            resolution: hold.resolution, status: hold.callStatus, holdState: hold.state, heldMicro: hold.amountMicro,
            chargedMicro: hold.postedMicro, billedSeconds: hold.state == .posted ? hold.billedSeconds ?? hold.seconds : nil,
            upstreamTaskID: hold.upstreamTaskID, upstreamRequestID: hold.upstreamRequestID, videoURL: hold.videoURL, replayed: replayed)
    }

    /// The name of the team with that id: from memory after the first reading.
    func teamName(id: Int64) async throws -> String {
        if let name = teamNames.withLock({ $0[id] }) { return name }
        let name = try await ledger.teamName(id: id)
        teamNames.withLock { $0[id] = name }
        return name
    }

    func milliseconds(since start: Date) -> Int64 {
        Int64((clock.now().timeIntervalSince(start) * 1000).rounded())
    }
}

/// Runs a ledger write so that the caller's cancellation cannot interrupt it: once the upstream
/// has answered, its settlement must be recorded whatever happens to the waiting caller.
func shielded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await body() }.value
}

extension MeteredClient {
    /// Writes what must not be lost once the upstream has acted on a call (its task id, its
    /// settlement): shielded from the caller's cancellation, and, while the ledger's database cannot
    /// be reached (`ledger_unavailable`: a PostgreSQL server restarting, say), tried again after a
    /// pause that grows from 50 ms to 1 s, until it commits, the ledger refuses it (any other error
    /// ends the wait), or the hold's deadline has passed (the hold is then the reconciler's, as
    /// after a crash). Each attempt is the same idempotent ledger operation: one that committed but
    /// whose answer was lost is found resolved (`hold_already_resolved`) by the next.
    func persist<T: Sendable>(_ hold: Hold, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await shielded {
            var pause = Duration.milliseconds(50)
            while true {
                do {
                    return try await body()
                } catch where error.isLedgerUnavailable
                    && self.clock.now().timeIntervalSince1970 * 1000 < Double(hold.deadline) {
                    self.logger.warning("ledger unavailable, settlement retried", metadata: [
                        "hold.id": "\(hold.id)", "retry.in": "\(pause)",
                    ])
                    try await self.waitClock.sleep(for: pause)
                    pause = min(pause * 2, .seconds(1))
                }
            }
        }
    }
}

/// The idempotency keys this process is using: attempts holding or sending under each, and the
/// keys whose unanswered hold is being looked at (no attempt may begin under those meanwhile).
struct KeysInUse {
    private var attempts: [String: Int] = [:]
    private var releasing: Set<String> = []

    /// An attempt begins under `key`, unless a release is looking at it.
    mutating func begin(_ key: String) -> Bool {
        guard !releasing.contains(key) else { return false }
        attempts[key, default: 0] += 1
        return true
    }

    mutating func end(_ key: String) {
        let left = (attempts[key] ?? 1) - 1
        attempts[key] = left > 0 ? left : nil
    }

    /// A release looks at `key`, unless an attempt (or another release) is using it.
    mutating func reserve(_ key: String) -> Bool {
        guard attempts[key] == nil else { return false }
        return releasing.insert(key).inserted
    }

    mutating func release(_ key: String) {
        releasing.remove(key)
    }
}

/// Hold requests whose commit went unanswered, waiting for the ledger to answer again.
struct UnansweredQueue {
    struct Entry {
        var id: UInt64
        var request: HoldRequest
        var attemptedAt: Date
    }

    var entries: [Entry] = []
    /// The idempotency key and fingerprint of every entry: a retry of a waiting request adds nothing.
    var waiting: Set<String> = []
    var next: UInt64 = 0
    /// Whether a task is working through the entries.
    var draining = false
    /// Requests not queued because the queue was full, since it last was not.
    var refused = 0
    /// Requests not queued because the queue was full, since the process started.
    var refusedTotal = 0

    /// The most entries kept. Only a commit in flight when the database went away can leave a
    /// hold behind; the calls refused after it never reached the server. So the first requests of
    /// an outage are the ones worth keeping, and past this many the later ones are not queued
    /// (their holds, should any exist, expire at their deadline, never charged).
    static let capacity = 10_000

    static func waitingKey(_ request: HoldRequest) -> String { request.idempotencyKey + "\u{0}" + request.fingerprint }

    /// Queues `request` unless the same one waits already (its earlier attempt's look covers this
    /// attempt's hold too: one created after the earlier attempt began) or the queue is full.
    mutating func add(_ request: HoldRequest, attemptedAt: Date) -> Bool {
        guard waiting.insert(Self.waitingKey(request)).inserted else { return false }
        guard entries.count < Self.capacity else {
            waiting.remove(Self.waitingKey(request))
            refused += 1
            refusedTotal += 1
            return false
        }
        next += 1
        entries.append(Entry(id: next, request: request, attemptedAt: attemptedAt))
        return true
    }

    mutating func remove(_ done: Set<UInt64>) {
        for entry in entries where done.contains(entry.id) { waiting.remove(Self.waitingKey(entry.request)) }
        entries.removeAll { done.contains($0.id) }
    }
}

/// What one look at a hold whose commit went unanswered found.
enum UnansweredHold: Equatable {
    /// It had committed, and is now voided (`cancelled`, nothing charged).
    case released(Hold)
    /// Another call of this process is holding or sending under the same key: look again later.
    case keyInUse
    /// Nothing for this attempt to release: the hold never committed, or the hold under the key
    /// is not this attempt's (or no longer pending, or already sent).
    case nothingToRelease
}

extension MeteredClient {
    /// Releases the hold of a call whose hold commit went unanswered (`ledger_unavailable`: the
    /// database stopped between writing the commit and answering it), if it committed after all.
    /// Nothing was sent for it, but without this it would keep the team's money held until its
    /// deadline, leased to this live process so that no reconciler takes it.
    ///
    /// Queued: one background task works through every such request in order, pausing 50 ms
    /// (growing to 1 s while the ledger stays unavailable) between rounds, and drops a request once
    /// its hold would have expired. So a long outage with many refused calls costs one waiting
    /// task and, when the ledger is back, one read per refused call, one after another.
    ///
    /// How many holds whose commit went unanswered wait to be looked at, and how many were not
    /// queued since the process started because the queue was full (the gateway's `/metrics`).
    public var unansweredHolds: (waiting: Int, notQueued: Int) {
        unanswered.withLock { ($0.entries.count, $0.refusedTotal) }
    }

    /// Bounded: a retry of a request already waiting (same idempotency key and fingerprint) adds
    /// nothing, and at most ``UnansweredQueue/capacity`` requests wait (see there).
    func releaseWhenAnswered(_ request: HoldRequest, attemptedAt: Date) {
        let (drain, refusedFirst) = unanswered.withLock { queue -> (Bool, Bool) in
            guard queue.add(request, attemptedAt: attemptedAt) else { return (false, queue.refused == 1) }
            defer { queue.draining = true }
            return (!queue.draining, false)
        }
        if refusedFirst {
            logger.warning("too many holds wait for the ledger to answer; later ones are left to expire (never charged)", metadata: [
                "metering.unanswered_capacity": "\(UnansweredQueue.capacity)",
            ])
        }
        if drain { Task { await self.drainUnanswered() } }
    }

    func drainUnanswered() async {
        var pause = Duration.milliseconds(50)
        while true {
            try? await waitClock.sleep(for: pause)
            let entries = unanswered.withLock { queue -> [UnansweredQueue.Entry]? in
                guard !queue.entries.isEmpty else {
                    queue.draining = false
                    return nil
                }
                return queue.entries
            }
            guard let entries else { return }
            var done = Set<UInt64>()
            var unavailable = false
            for entry in entries {
                guard clock.now() < entry.attemptedAt.addingTimeInterval(Double(entry.request.timeoutSeconds)) else {
                    done.insert(entry.id)
                    continue
                }
                do {
                    switch try await releaseIfUnanswered(entry.request, attemptedAt: entry.attemptedAt) {
                    case .released(let hold):
                        logger.notice("released a hold whose commit went unanswered", metadata: [
                            "hold.id": "\(hold.id)", "hold.amount_micro": "\(hold.amountMicro)",
                        ])
                        done.insert(entry.id)
                    case .keyInUse:
                        break
                    case .nothingToRelease:
                        done.insert(entry.id)
                    }
                } catch where error.isLedgerUnavailable {
                    unavailable = true
                    break
                } catch {
                    logger.warning("could not release a hold whose commit went unanswered", metadata: [
                        "hold.idempotency_key": "\(entry.request.idempotencyKey)", "error": "\(error)",
                    ])
                    done.insert(entry.id)
                }
            }
            unanswered.withLock { queue in
                queue.remove(done)
                if queue.entries.count < UnansweredQueue.capacity { queue.refused = 0 }
            }
            pause = unavailable ? min(pause * 2, .seconds(1)) : .milliseconds(50)
        }
    }

    /// One look: the hold under the request's idempotency key is voided only if this attempt made
    /// it — the same fingerprint, created once the attempt had begun, pending with no task id, no
    /// other call of this process holding or sending under the key, and its settlement lease this
    /// process's (another live gateway that took the key meanwhile holds the lease of the call it is
    /// sending). An async call is voided only while still `held`, decided in the voiding commit
    /// (``LedgerStore/voidIfNeverSent(holdID:)``); a sync hold is `submitted` from its first
    /// commit, so for a sync call the checks above are what tell this attempt's hold from another's.
    func releaseIfUnanswered(_ request: HoldRequest, attemptedAt: Date) async throws -> UnansweredHold {
        let key = request.idempotencyKey
        // Reserved for the whole look: a new attempt under the key in this process waits until it
        // is over (see ``start(_:onEvent:)``), so the hold looked at cannot be that attempt's.
        guard keysInUse.withLock({ $0.reserve(key) }) else { return .keyInUse }
        defer { keysInUse.withLock { $0.release(key) } }
        // Without settlement leases nothing tells a sync hold made here from one another process
        // is sending under the same key; it then waits for its deadline, as before.
        guard request.async || configuration.leasesCalls else { return .nothingToRelease }
        let attemptedAtMs = Int64((attemptedAt.timeIntervalSince1970 * 1000).rounded(.down))
        guard let hold = try await ledger.hold(idempotencyKey: key),
              hold.state == .pending, hold.upstreamTaskID == nil, hold.fingerprint == request.fingerprint,
              hold.createdAt >= attemptedAtMs, !sending.contains(hold.id)
        else { return .nothingToRelease }
        // Made by this process: the hold's own commit named this process's lease (lapsed or not,
        // it still names it unless a reconciler took it over). Another gateway's attempt under the
        // same key carries that gateway's lease, even one that lapsed during the outage.
        if configuration.leasesCalls {
            guard try await ledger.lease(holdID: hold.id)?.owner == configuration.leaseOwner else { return .nothingToRelease }
        }
        do {
            if request.async {
                return try await ledger.voidIfNeverSent(holdID: hold.id).map(UnansweredHold.released) ?? .nothingToRelease
            }
            return .released(try await ledger.void(holdID: hold.id, settlement: Settlement(status: .cancelled)))
        } catch let error as LedgerError where error.code == "hold_already_resolved" {
            return .nothingToRelease
        }
    }
}

/// A set of hold ids shared across tasks.
final class HoldRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = Set<Int64>()

    func insert(_ id: Int64) { lock.withLock { _ = ids.insert(id) } }
    func remove(_ id: Int64) { lock.withLock { _ = ids.remove(id) } }
    func contains(_ id: Int64) -> Bool { lock.withLock { ids.contains(id) } }
}

/// The JSON text of recent quotes, so that a hold does not encode the same quote again. An entry
/// is reused only for a quote equal to the one it was encoded from, so the stored text is exactly
/// what encoding the quote would give.
final class QuoteJSONCache: @unchecked Sendable {
    private struct Key: Hashable {
        var catalogVersion: String
        var provider: String
        var model: String
        var billedSeconds: Int
        var resolution: String
        var imageCount: Int
    }

    private let lock = NSLock()
    private var entries: [Key: (quote: Quote, json: String)] = [:]
    /// Entries kept at most; the cache starts over beyond it (a catalog has a few hundred prices).
    private let capacity = 4096

    func json(of quote: Quote) throws -> String {
        let key = Key(
            catalogVersion: quote.catalogVersion, provider: quote.provider, model: quote.model, billedSeconds: quote.billedSeconds,
            resolution: quote.resolution, imageCount: quote.imageCount)
        if let entry = lock.withLock({ entries[key] }), entry.quote == quote { return entry.json }
        let json = String(decoding: try quote.jsonData(pretty: false), as: UTF8.self)
        lock.withLock {
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (quote, json)
        }
        return json
    }
}

/// Set once, read many: whether `running` has been recorded for a hold.
final class RunningFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Bool

    init(_ value: Bool) { self.value = value }

    /// Sets the flag; true when this call changed it.
    func set() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if value { return false }
        value = true
        return true
    }
}

extension CallStatus {
    /// The call status of a terminal task state.
    init(terminal state: TaskState) {
        switch state {
        case .succeeded: self = .succeeded
        case .cancelled: self = .cancelled
        case .expired: self = .expired
        default: self = .failed
        }
    }

    /// The call status of an upstream refusal: 504 is a timeout, 5xx and 424 a failure, an answer
    /// that never came `unknown`, any other 4xx a rejection. The one mapping: the ledger records
    /// it, and the gateway counts its metrics by it.
    public init(refusal error: ProviderError) {
        switch error.kind {
        case .timeout: self = .timedOut
        case .serverError, .upstreamFailure, .badResponse, .unexpectedStatus: self = .failed
        case .outcomeUnknown, .pollDeadlineExceeded: self = .unknown
        default: self = .rejected
        }
    }
}

import Foundation
import Logging
import VideoMeter
import VideoMeterCatalog
@_spi(Simulation) import VideoMeterLedger
@_spi(Simulation) import VideoMeterLedgerPostgres
@_spi(Simulation) import VideoMeterMetering
import VideoMeterProviders
@_spi(Simulation) import VideoMeterStores

/// One metering process: its own ledger connection (as a separate OS process would have), its
/// metered client, and the switch that kills it.
final class SimulatedProcess {
    let slot: Int
    /// Unique over the run: a restarted slot is a new incarnation.
    let incarnation: Int
    let life: ProcessLife
    let ledger: any SimulationObservable
    let client: MeteredClient

    init(slot: Int, incarnation: Int, life: ProcessLife, ledger: any SimulationObservable, client: MeteredClient) {
        self.slot = slot
        self.incarnation = incarnation
        self.life = life
        self.ledger = ledger
        self.client = client
    }

    var label: String { "p\(slot).\(incarnation)" }
}

/// A team and the limits the simulator last set for it.
struct SimulatedTeam {
    var name: String
    var id: Int64
    var zone: TimeZone
    var monthly: MicroUSD
    var daily: MicroUSD?
    var credit: MicroUSD?
}

/// Drives one seed: the world (clock, upstream, teams, processes), the step loop, the drain and
/// the final reconciliation, with the oracle's checks after every step.
final class Simulator {
    let options: SimulationOptions
    let log: (@Sendable (String) -> Void)?
    let scheduler = Scheduler()
    let world: WorldClock
    let upstream: SimulatedUpstream
    var draws: SeededDraws
    let catalog: Catalog
    /// The ledger every process of the run opens: a SQLite file, or a PostgreSQL database of the
    /// run's own.
    let address: LedgerAddress
    /// The temporary directory to remove at the end, when the simulator made one.
    let temporaryDirectory: URL?
    /// The PostgreSQL database made for this run, to drop at the end, and the server it is on.
    let scratchDatabase: (name: String, server: PostgresLedger.Configuration)?
    /// The simulator's own connection: setup, budget changes and the oracle's reads.
    let observer: any SimulationObservable
    let oracle: Oracle
    static let quiet = Logger(label: "videometer.sim", factory: { _ in SwiftLogNoOpLogHandler() })
    var quiet: Logger { Self.quiet }

    var teams: [SimulatedTeam] = []
    /// Each team's current period, recomputed only when time leaves its day.
    var periods: [BudgetPeriod?] = []
    var processes: [SimulatedProcess] = []
    var incarnations = 0
    var jobs: [Int: (incarnation: Int, holdID: Int64?)] = [:]
    var nextJob = 0
    var nextKey = 0
    var step = 0
    var events: [String] = []
    var crashedThisStep: Set<Int> = []
    var crashes = 0

    static let eventsKept = 40
    static let zones = [
        "America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago", "Pacific/Kiritimati", "UTC", "Asia/Kolkata",
        "Pacific/Chatham",
    ]
    /// Instants near daylight-saving changes, month and year ends, and the day the BlockRun price
    /// list takes effect: a run starts up to six hours before one of them.
    static let anchors = [
        "2026-03-31T22:00:00Z", "2026-04-04T20:00:00Z", "2026-09-05T23:00:00Z", "2026-10-03T14:00:00Z",
        "2026-10-24T23:00:00Z", "2026-10-31T22:00:00Z", "2026-11-30T23:00:00Z", "2026-12-31T22:00:00Z",
    ]

    /// Prepares the run's ledger (a fresh SQLite file, or a fresh PostgreSQL database on the
    /// server the options name) and opens the simulator's own connection to it.
    static func open(options: SimulationOptions, log: (@Sendable (String) -> Void)?) async throws -> Simulator {
        var draws = SeededDraws(seed: options.seed)
        let anchor = Int64(CatalogDate.parse(draws.element(Self.anchors))!.timeIntervalSince1970)
        let world = WorldClock(seconds: anchor - draws.int64(0...6 * 3600))
        let upstream = SimulatedUpstream(seed: draws.fork())
        let catalog = try Catalog.bundled()
        let address: LedgerAddress
        var temporaryDirectory: URL?
        var scratchDatabase: (name: String, server: PostgresLedger.Configuration)?
        if var server = options.postgresServer {
            if let bug = options.bug, bug.breaksTheLedger { throw SimulationInjectionError(bug: bug) }
            // A database of the run's own: every identity starts at 1, so ids (and the output)
            // depend on the seed alone; it is dropped at the end.
            let name = "videometer_sim_\(options.seed)_\(getpid())_\(UUID().uuidString.prefix(8).lowercased())"
            try await PostgresLedger.createSimulationDatabase(name, on: server)
            scratchDatabase = (name, server)
            server.database = name
            // A pooled connection is opened on demand; on a loaded machine that can take longer
            // than the gateway's fail-fast two seconds, and a timeout would change the run.
            server.leaseTimeout = .seconds(60)
            address = .postgres(server)
        } else if let ledgerPath = options.ledgerPath {
            guard !FileManager.default.fileExists(atPath: ledgerPath) else {
                throw SimulationSetupError("\(ledgerPath) exists already; the simulator starts from an empty ledger")
            }
            address = .file(ledgerPath)
        } else {
            // tmpfs where there is one: crashes are simulated per process, not as power loss, so the
            // fsyncs need not reach a disk.
            let shm = URL(fileURLWithPath: "/dev/shm")
            let base = FileManager.default.isWritableFile(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
            let directory = base.appendingPathComponent("videometer-sim-\(options.seed)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            address = .file(directory.appendingPathComponent("ledger.sqlite").path)
            temporaryDirectory = directory
        }
        do {
            let observer = try await LedgerStores.openForSimulation(address, clock: world, logger: quiet, injecting: nil, life: nil)
            return Simulator(
                options: options, log: log, world: world, upstream: upstream, draws: draws, catalog: catalog, address: address,
                temporaryDirectory: temporaryDirectory, scratchDatabase: scratchDatabase, observer: observer)
        } catch {
            if let temporaryDirectory { try? FileManager.default.removeItem(at: temporaryDirectory) }
            if let scratchDatabase { try? await PostgresLedger.dropSimulationDatabase(scratchDatabase.name, on: scratchDatabase.server) }
            throw error
        }
    }

    private init(
        options: SimulationOptions, log: (@Sendable (String) -> Void)?, world: WorldClock, upstream: SimulatedUpstream, draws: SeededDraws,
        catalog: Catalog, address: LedgerAddress, temporaryDirectory: URL?,
        scratchDatabase: (name: String, server: PostgresLedger.Configuration)?, observer: any SimulationObservable
    ) {
        self.options = options
        self.log = log
        self.world = world
        self.upstream = upstream
        self.draws = draws
        self.catalog = catalog
        self.address = address
        self.temporaryDirectory = temporaryDirectory
        self.scratchDatabase = scratchDatabase
        self.observer = observer
        oracle = Oracle(store: observer, catalog: catalog)
    }

    deinit {
        if let temporaryDirectory { try? FileManager.default.removeItem(at: temporaryDirectory) }
    }

    /// Closes every store the run still has open (PostgreSQL pools; nothing for SQLite) and drops
    /// the run's PostgreSQL database.
    func close() async throws {
        for process in processes { await LedgerStores.close(process.ledger) }
        processes.removeAll()
        await LedgerStores.close(observer)
        if let scratchDatabase { try await PostgresLedger.dropSimulationDatabase(scratchDatabase.name, on: scratchDatabase.server) }
    }

    // MARK: - The run

    func run() async throws -> SimulationResult {
        do {
            try await setUp()
            while step < options.steps {
                step += 1
                try await takeStep()
                try await endStep()
            }
            try await drain()
            try await settleEverything()
            try await finalChecks()
            return SimulationResult(seed: options.seed, failure: nil, lastEvents: events, summary: try await summary())
        } catch let violation as Violation {
            record("VIOLATION \(violation.invariant): \(violation.detail)")
            await stopEverything()
            return SimulationResult(
                seed: options.seed, failure: SimulationFailure(step: step, violation: violation), lastEvents: events,
                summary: "seed \(options.seed): FAILED at step \(step): \(violation.invariant): \(violation.detail)")
        }
    }

    func setUp() async throws {
        let teamCount = draws.int(3...4)
        for index in 0..<teamCount {
            let name = "team-\(Character(UnicodeScalar(UInt8(97 + index))))"
            let zoneName = draws.element(Self.zones)
            let team = try await observer.createTeam(name: name, timeZone: zoneName)
            var simulated = SimulatedTeam(
                name: name, id: team.id, zone: TimeZone(identifier: zoneName)!, monthly: dollars(3...40), daily: nil, credit: nil)
            if draws.chance(500) { simulated.daily = dollars(1...8) }
            if draws.chance(300) { simulated.credit = dollars(2...25) }
            _ = try await observer.setBudget(team: name, BudgetSettings(
                monthlyLimitMicro: simulated.monthly, dailyLimitMicro: .some(simulated.daily), creditTopUpMicro: simulated.credit))
            teams.append(simulated)
            record("team \(name) in \(zoneName): monthly \(Money.format(micro: simulated.monthly)), daily \(simulated.daily.map { Money.format(micro: $0) } ?? "none"), credit \(simulated.credit.map { Money.format(micro: $0) } ?? "none")")
        }
        for slot in 0..<draws.int(2...3) { processes.append(try await spawn(slot: slot)) }
        updateLimits()
        _ = try await oracle.followJournal(oracle.read(keys: []))
    }

    /// A random amount of whole dollars in `range`, plus random micro-dollars.
    func dollars(_ range: ClosedRange<Int64>) -> MicroUSD {
        draws.int64(range) * 1_000_000 + draws.int64(0...999_999)
    }

    func spawn(slot: Int) async throws -> SimulatedProcess {
        incarnations += 1
        let life = ProcessLife()
        let ledger = try await LedgerStores.openForSimulation(address, clock: world, logger: quiet, injecting: options.bug, life: life)
        let providers: [String: any VideoProvider] = [
            "blockrun": SimulatedSeller(name: "blockrun", style: .sync, scheduler: scheduler, life: life),
            "worldrouter": SimulatedSeller(name: "worldrouter", style: .async, scheduler: scheduler, life: life),
        ]
        // One lease owner for every simulated process (they share this process): reconcile takes
        // no leases, which keeps the write schedule the recorded seeds replay.
        let configuration = MeteredClient.Configuration(
            pollPolicy: PollPolicy(seed: options.seed), reconcileConcurrency: 1, reconcileTakesLeases: false)
        let client = MeteredClient(
            catalog: catalog, ledger: ledger, providers: providers, clock: world,
            waitClock: AnyClock(VirtualClock(world: world, scheduler: scheduler, life: life)), configuration: configuration,
            logger: quiet, injecting: options.bug)
        return SimulatedProcess(slot: slot, incarnation: incarnations, life: life, ledger: ledger, client: client)
    }

    /// Tells the oracle the limits in force now, for the windows current now.
    func updateLimits() {
        let now = world.seconds * 1000
        if periods.count != teams.count { periods = Array(repeating: nil, count: teams.count) }
        for (index, team) in teams.enumerated() {
            var period = periods[index]
            if period.map({ now < $0.dayStart || now >= $0.dayEnd }) ?? true {
                period = BudgetPeriod.containing(now, in: team.zone)
                periods[index] = period
            }
            oracle.limitsInForce(teamID: team.id, period: period!, monthly: team.monthly, daily: team.daily, credit: team.credit)
        }
    }

    // MARK: - Events

    func record(_ event: String) {
        let line = "step \(step) \(WorldClock.format(world.seconds)) \(event)"
        log?(line)
        events.append(line)
        if events.count > Self.eventsKept { events.removeFirst(events.count - Self.eventsKept) }
    }

    // MARK: - Steps

    enum Action { case call, retry, poll, duplicatePoll, finish, advance, tick, longTick, boundary, reconcile, budget, crash, armCrash }

    func takeStep() async throws {
        updateLimits()
        let runnable = runnableJobs()
        var action = draws.pick([
            (220, Action.call), (50, .retry), (80, .poll), (50, .duplicatePoll), (30, .finish), (360, .advance), (100, .tick),
            (8, .longTick), (5, .boundary), (40, .reconcile), (20, .budget), (10, .crash), (20, .armCrash),
        ])
        // Keep the number of calls in flight bounded: past a dozen, move one of them on.
        if runnable.count > 12, [.call, .retry, .poll, .duplicatePoll, .finish].contains(action) { action = .advance }
        switch action {
        case .call: await startCall()
        case .retry: await retryCall()
        case .poll, .duplicatePoll, .finish: try await poll(action)
        case .advance:
            if runnable.isEmpty { tick(seconds: draws.int64(1...90)) } else { await advance(draws.element(runnable)) }
        case .tick: tick(seconds: draws.int64(1...90))
        case .longTick: tick(seconds: draws.int64(300...3 * 3600))
        case .boundary: jumpToBoundary()
        case .reconcile: await reconcile(on: draws.element(processes))
        case .budget: try await changeBudget()
        case .crash: try await crash(slot: draws.int(0...(processes.count - 1)), reason: "killed")
        case .armCrash:
            let process = draws.element(processes)
            let write = draws.int(1...8)
            process.life.crash(atWrite: write)
            record("\(process.label) will crash at its write \(write) from now")
        }
    }

    /// Parked jobs that can go on now: those waiting for the upstream, and sleepers whose time has come.
    func runnableJobs() -> [Int] {
        let now = world.seconds
        return scheduler.parkedJobs.filter { job in
            switch scheduler.wait(of: job) {
            case .upstream?: true
            case .sleep(let until)?: until <= now
            case nil: false
            }
        }
    }

    func tick(seconds: Int64) {
        world.advance(to: world.seconds + seconds)
        record("time +\(seconds) s")
    }

    /// Jumps to a few seconds either side of the end of a team's day or month.
    func jumpToBoundary() {
        let team = draws.element(teams)
        let period = BudgetPeriod.containing(world.seconds * 1000, in: team.zone)
        let end = (draws.chance(300) ? period.monthEnd : period.dayEnd) / 1000
        let target = max(world.seconds + 1, end + draws.int64(-3...3))
        world.advance(to: target)
        record("time jumps to \(WorldClock.format(target)) (a boundary for \(team.name), \(team.zone.identifier))")
    }

    // MARK: - Callers

    /// A new request, valid or not, from a random team through a random process.
    func startCall() async {
        let team = draws.element(teams)
        nextKey += 1
        let key = "k\(nextKey)"
        var request: MeteredRequest
        let style: APIStyle
        if draws.chance(500) {
            style = .sync
            let model = draws.element(["xai/grok-imagine-video", "bytedance/seedance-1.5-pro", "bytedance/seedance-2.0-fast", "bytedance/seedance-2.0"])
            request = MeteredRequest(team: team.name, provider: "blockrun", model: model, prompt: "sim call \(nextKey)")
            request.durationSeconds = draws.pick([(40, nil), (56, draws.int(1...8)), (4, draws.element([0, 11]))])
            request.resolution = draws.pick([(70, nil), (25, "720p"), (5, "480p")])
        } else {
            style = .async
            let preview = draws.chance(300)
            request = MeteredRequest(
                team: team.name, provider: "worldrouter", model: preview ? "grok-imagine-video-1.5-preview" : "grok-imagine-video",
                prompt: "sim call \(nextKey)")
            request.durationSeconds = draws.pick([(40, nil), (57, draws.int(1...15)), (3, 16)])
            request.resolution = draws.pick([(30, nil), (30, "480p"), (35, "720p"), (5, "1080p")])
            if draws.chance(preview ? 950 : 300) { request.imageURL = "https://sim.invalid/image/\(nextKey).png" }
        }
        request.idempotencyKey = key
        let callRecord = CallRecord(key: key, request: request, style: style)
        callRecord.quotedMicro = try? catalog.quote(request.quoteRequest, at: world.now()).totalMicro
        upstream.register(callRecord)
        let process = draws.element(processes)
        let waitForIt = style == .async && draws.chance(250)
        let client = process.client
        let sent = request
        let description = "\(team.name) \(request.model) \(request.durationSeconds.map { "\($0) s" } ?? "default s") \(request.resolution ?? "default res")\(request.imageURL == nil ? "" : " +image")"
        await launch("\(waitForIt ? "generate" : "call") \(key) \(description)", on: process) {
            do {
                if waitForIt { return Self.describe(try await client.generate(sent)) }
                return Self.describe(try await client.start(sent))
            } catch {
                return Self.describe(error)
            }
        }
    }

    /// The same key again: the same request (a replay), or now and then another one (refused).
    func retryCall() async {
        let candidates = upstream.keys.filter { upstream.calls[$0]?.quotedMicro != nil }
        guard !candidates.isEmpty else { return await startCall() }
        let callRecord = upstream.calls[draws.element(candidates)]!
        var request = callRecord.request
        let changed = draws.chance(150)
        if changed {
            request.prompt += " (changed)"
        } else if (try? await observer.hold(idempotencyKey: callRecord.key)) == nil {
            // Never held (refused by the budget, or lost in a crash before its hold): this attempt
            // is priced afresh.
            callRecord.quotedMicro = try? catalog.quote(request.quoteRequest, at: world.now()).totalMicro
        }
        let process = draws.element(processes)
        let client = process.client
        let sent = request
        await launch("retry \(callRecord.key)\(changed ? " with another prompt" : "")", on: process) {
            do {
                return Self.describe(try await client.start(sent))
            } catch {
                return Self.describe(error)
            }
        }
    }

    /// Reads a pending async call's task: once (as the gateway's settler does), twice at once (a
    /// duplicate poll racing a reading in flight), or until it ends (as `generate` does).
    func poll(_ action: Action) async throws {
        var holdID: Int64?
        if action == .duplicatePoll {
            let reading = scheduler.parkedJobs.compactMap { job -> Int64? in
                guard case .upstream(.status)? = scheduler.wait(of: job) else { return nil }
                return jobs[job]?.holdID
            }
            if !reading.isEmpty { holdID = draws.element(reading) }
        }
        if holdID == nil {
            let open = try await observer.simulationPollableHolds()
            guard !open.isEmpty else { return tick(seconds: draws.int64(1...90)) }
            holdID = draws.element(open)
        }
        let hold = holdID!
        let process = draws.element(processes)
        let client = process.client
        if action == .finish {
            await launch("finish hold \(hold)", on: process, holdID: hold) {
                do { return Self.describe(try await client.finish(holdID: hold)) } catch { return Self.describe(error) }
            }
        } else {
            await launch("\(action == .duplicatePoll ? "duplicate poll" : "poll") hold \(hold)", on: process, holdID: hold) {
                do {
                    switch try await client.advance(holdID: hold) {
                    case .settled(let outcome): return Self.describe(outcome)
                    case .running(let state): return "task \(state.rawValue)"
                    case .resolved(let resolved): return "already \(resolved.state.rawValue)"
                    }
                } catch {
                    return Self.describe(error)
                }
            }
        }
    }

    func reconcile(on process: SimulatedProcess) async {
        let client = process.client
        await launch("reconcile", on: process) {
            do {
                let report = try await client.reconcile()
                return "reconciled: \(report.settled.count) settled, \(report.stillRunning.count) running, \(report.expired.count) expired, \(report.unknown.count) unknown, \(report.neverSent.count) never sent, \(report.unreadable.count) unreadable"
            } catch {
                return Self.describe(error)
            }
        }
    }

    func changeBudget() async throws {
        let index = draws.int(0...(teams.count - 1))
        var team = teams[index]
        let settings: BudgetSettings
        switch draws.int(0...2) {
        case 0:
            team.monthly = dollars(1...50)
            settings = BudgetSettings(monthlyLimitMicro: team.monthly)
        case 1:
            team.daily = draws.chance(300) ? nil : dollars(1...8)
            settings = BudgetSettings(monthlyLimitMicro: team.monthly, dailyLimitMicro: .some(team.daily))
        default:
            let topUp = dollars(1...15)
            team.credit = (team.credit ?? 0) + topUp
            settings = BudgetSettings(monthlyLimitMicro: team.monthly, creditTopUpMicro: topUp)
        }
        _ = try await observer.setBudget(team: team.name, settings)
        teams[index] = team
        updateLimits()
        record("budget of \(team.name): monthly \(Money.format(micro: team.monthly)), daily \(team.daily.map { Money.format(micro: $0) } ?? "none"), credit \(team.credit.map { Money.format(micro: $0) } ?? "none")")
    }

    // MARK: - Jobs

    func launch(_ label: String, on process: SimulatedProcess, holdID: Int64? = nil, _ body: @escaping @Sendable () async -> String) async {
        nextJob += 1
        let job = nextJob
        jobs[job] = (process.incarnation, holdID)
        record("\(process.label) job \(job) \(label)")
        await scheduler.start(job, body)
        collect(job)
    }

    /// Moves a parked job on: the upstream answers it, or its sleep ends.
    func advance(_ job: Int) async {
        guard let wait = scheduler.wait(of: job), let info = jobs[job] else { return }
        switch wait {
        case .upstream(let call):
            let answer = upstream.answer(call, incarnation: info.incarnation, step: step, time: world.seconds)
            record("job \(job) <- \(Self.describe(answer))")
            await scheduler.resume(job, with: .answer(answer))
        case .sleep(let until):
            world.advance(to: until)
            await scheduler.resume(job, with: .woken)
        }
        collect(job)
    }

    func collect(_ job: Int) {
        guard let result = scheduler.takeResult(of: job) else { return }
        jobs[job] = nil
        record("job \(job) ended: \(result)")
    }

    // MARK: - Crashes

    /// The process in `slot` dies: its parked jobs end without touching the upstream or the ledger
    /// again (a create on its way may or may not have reached the upstream), and a new process
    /// takes the slot and reconciles.
    func crash(slot: Int, reason: String) async throws {
        let process = processes[slot]
        process.life.kill()
        crashedThisStep.insert(process.incarnation)
        crashes += 1
        record("\(process.label) crashes (\(reason))")
        while let job = scheduler.parkedJobs.first(where: { jobs[$0]?.incarnation == process.incarnation }) {
            if case .upstream(let call)? = scheduler.wait(of: job) { upstream.lostInCrash(call, time: world.seconds) }
            await scheduler.resume(job, with: .crashed)
            collect(job)
        }
        // The dead process's connections go (a PostgreSQL pool; nothing for SQLite).
        await LedgerStores.close(process.ledger)
        let restarted = try await spawn(slot: slot)
        processes[slot] = restarted
        record("\(restarted.label) starts")
        await reconcile(on: restarted)
    }

    /// Ends every job still parked (when a run stops early), so no task outlives the run.
    func stopEverything() async {
        for process in processes { process.life.kill() }
        while let job = scheduler.parkedJobs.first {
            await scheduler.resume(job, with: .crashed)
            _ = scheduler.takeResult(of: job)
        }
    }

    // MARK: - After every step

    func endStep() async throws {
        for slot in processes.indices where processes[slot].life.isDead && !crashedThisStep.contains(processes[slot].incarnation) {
            try await crash(slot: slot, reason: "armed crash fired")
        }
        for (key, index) in upstream.stepDeliveries {
            guard let callRecord = upstream.calls[key] else { continue }
            callRecord.deliveries[index].survived = !crashedThisStep.contains(callRecord.deliveries[index].incarnation)
        }
        let deliveries = upstream.stepDeliveries
        upstream.stepDeliveries = []
        crashedThisStep = []
        try await check(deliveries: deliveries)
    }

    func check(deliveries: [(key: String, index: Int)]) async throws {
        let now = world.seconds
        let survived = deliveries.compactMap { key, index -> (CallRecord, Delivery)? in
            guard let callRecord = upstream.calls[key], callRecord.deliveries[index].survived else { return nil }
            return (callRecord, callRecord.deliveries[index])
        }
        let reading = try await oracle.read(keys: survived.map(\.0.key))
        for (holdID, kind) in try await oracle.followJournal(reading) {
            guard let hold = reading.holdsByID[holdID] else {
                throw Violation(invariant: "journal", detail: "the journal names hold \(holdID), which the hold table lacks")
            }
            try oracle.checkResolution(hold, kind: kind, record: upstream.calls[hold.idempotencyKey], tasks: upstream.tasks, now: now)
        }
        for (callRecord, delivery) in survived {
            let hold = reading.holdsByKey[callRecord.key]
            try oracle.checkDelivery(delivery, record: callRecord, hold: hold, lateSuccesses: reading.lateSuccesses)
            if case .taskCreated(let id) = delivery.kind, let hold, hold.state == .expired {
                record("hold \(hold.id) expired before its task id arrived; \(id) is kept on it for the late-success check")
            }
        }
        if step % options.verifyEvery == 0 { try await verify() }
    }

    func verify() async throws {
        let report = try await observer.verify()
        if let problem = report.problems.first {
            throw Violation(invariant: "verify", detail: "\(report.problems.count) problem(s), the first: \(problem)")
        }
        try await oracle.checkBalances()
        try await oracle.checkAppendOnly()
    }

    // MARK: - The end

    /// Answers every call still in flight, in job order, moving time to sleepers' deadlines.
    func drain() async throws {
        for process in processes { process.life.disarm() }
        while let job = scheduler.parkedJobs.first {
            step += 1
            updateLimits()
            await advance(job)
            try await endStep()
        }
    }

    /// Reconciles, then moves time on by half-hours and reconciles again, until every task upstream
    /// has ended and no hold is pending: every deadline has passed by then.
    func settleEverything() async throws {
        for _ in 0..<40 {
            step += 1
            updateLimits()
            let process = processes[0]
            await reconcile(on: process)
            while let job = scheduler.parkedJobs.first { await advance(job) }
            try await endStep()
            let open = try await observer.openHolds()
            if open.isEmpty && world.seconds > upstream.lastTaskChange { return }
            tick(seconds: 1800)
        }
        let open = try await observer.openHolds()
        if let hold = open.first {
            throw Violation(invariant: "open-hold", detail: "hold \(hold.id) (\(hold.callStatus.rawValue)) is still pending 20 hours after the last step, past its deadline")
        }
    }

    func finalChecks() async throws {
        try await verify()
        let holds = try await observer.holds()
        var byKey: [String: Hold] = [:]
        for hold in holds { byKey[hold.idempotencyKey] = hold }
        for key in upstream.keys {
            let callRecord = upstream.calls[key]!
            if callRecord.submits > 1 {
                throw Violation(invariant: "sent-once", detail: "\(key) reached the upstream \(callRecord.submits) times")
            }
            guard let hold = byKey[key] else { continue }
            if callRecord.quotedMicro == nil {
                throw Violation(invariant: "charge", detail: "\(key): pricing refused the request, yet hold \(hold.id) exists")
            }
            if let taskID = callRecord.taskID, hold.upstreamTaskID == taskID, callRecord.generatedSeconds != nil,
               hold.state != .posted && hold.state != .expired {
                throw Violation(invariant: "charge", detail: "hold \(hold.id): its task \(taskID) succeeded, yet the hold ended \(hold.state.rawValue)")
            }
        }
        for late in try await observer.lateSuccesses() {
            let hold = holds.first { $0.id == late.holdID }
            guard let hold, upstream.calls[hold.idempotencyKey]?.generatedSeconds != nil else {
                throw Violation(invariant: "late-success", detail: "a late success is recorded for hold \(late.holdID), whose call never succeeded upstream")
            }
        }
    }

    func summary() async throws -> String {
        let holds = try await observer.holds()
        var byKey: [String: Hold] = [:]
        for hold in holds { byKey[hold.idempotencyKey] = hold }
        var completed = 0, charged = 0, late = 0, lost = 0
        for key in upstream.keys {
            guard let callRecord = upstream.calls[key], callRecord.generatedSeconds != nil else { continue }
            completed += 1
            let hold = byKey[key]
            if hold?.state == .posted {
                charged += 1
            } else if let hold, hold.upstreamTaskID != nil || callRecord.deliveries.contains(where: { if case .video = $0.kind { $0.survived } else { false } }) {
                late += 1
            } else {
                lost += 1
            }
        }
        let posted = holds.filter { $0.state == .posted }
        let total = posted.reduce(MicroUSD(0)) { $0 + $1.postedMicro }
        let voided = holds.filter { $0.state == .voided }.count
        let expired = holds.filter { $0.state == .expired }.count
        let lateRecorded = try await observer.lateSuccesses().count
        return "seed \(options.seed): ok, \(options.steps) steps (\(step) with the drain and final reconcile), \(upstream.keys.count) calls, \(holds.count) holds: \(posted.count) posted for \(Money.format(micro: total)) USD, \(voided) voided, \(expired) expired; \(completed) completed upstream: \(charged) charged, \(late) late (\(lateRecorded) recorded for review), \(lost) with the answer lost; \(crashes) crashes; \(oracle.entries.count) journal entries, verify clean"
    }

    // MARK: - Descriptions (deterministic: no timings, no generated ids)

    static func describe(_ outcome: MeteredOutcome) -> String {
        "hold \(outcome.holdID) \(outcome.holdState.rawValue) (\(outcome.status.rawValue)), charged \(Money.format(micro: outcome.chargedMicro))\(outcome.replayed ? ", replayed" : "")\(outcome.lateSuccess ? ", late success" : "")"
    }

    static func describe(_ started: StartedCall) -> String {
        switch started {
        case .settled(let outcome): describe(outcome)
        case .running(let call): "hold \(call.holdID) task \(call.taskID) running"
        }
    }

    static func describe(_ error: any Error) -> String {
        if error is SimulatedCrash { return "crashed" }
        if error is CancellationError { return "cancelled" }
        if let coded = error as? any CodedError { return coded.code }
        return "\(type(of: error))"
    }

    static func describe(_ answer: UpstreamAnswer) -> String {
        switch answer {
        case .submission(.completed(let result)): "video of \(result.durationSeconds ?? 0) s"
        case .submission(.task(let id)): "task \(id)"
        case .status(let status): "task \(status.id) \(status.state.rawValue)"
        case .error(let error): "error \(error.code)\(error.httpStatus.map { " (\($0))" } ?? "")"
        }
    }
}

/// The simulator could not start (not an invariant: the run never began).
public struct SimulationSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import VideoMeter
import VideoMeterLedger
import VideoMeterMetering
import VideoMeterProviders

/// `videometer generate`: one metered generation, start to finish, with live progress.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a video through the meter: quote, hold, send, settle, download.",
        discussion: """
            The call is quoted and held against the team's budget before anything is sent, and \
            charged only when the video exists. Upstreams come from VIDEOMETER_BLOCKRUN_URL \
            (+ VIDEOMETER_BLOCKRUN_PAYMENT), VIDEOMETER_WORLDROUTER_KEY (+ VIDEOMETER_WORLDROUTER_URL) \
            and VIDEOMETER_XAI_KEY (+ VIDEOMETER_XAI_URL, default https://api.x.ai); \
            a provider with none configured is served by the in-process emulator ("sandbox"), which \
            costs nothing upstream. Open calls from earlier runs are reconciled first. \
            Exit status: 0 charged, 1 refused, failed or not settled (the message says which).
            """
    )

    @Option(help: "The team that pays.")
    var team: String

    @Option(help: "Model id, e.g. bytedance/seedance-1.5-pro or grok-imagine-video (see `videometer models`).")
    var model: String

    @Option(help: "What to generate.")
    var prompt: String

    @Option(help: "Provider id (blockrun, worldrouter, xai): needed for xai, which sells the same model names as worldrouter.")
    var provider: String?

    @Option(name: .customLong("image-url"), help: ArgumentHelp("Seed image URL (image-to-video).", valueName: "U"))
    var imageURL: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds (default: the model's default).", valueName: "S"))
    var duration: String?

    @Option(help: ArgumentHelp("Resolution, e.g. 480p or 720p.", valueName: "R"))
    var resolution: String?

    @Option(name: .customLong("idempotency-key"), help: ArgumentHelp("Retry-safe key: the same key returns the first call's result.", valueName: "K"))
    var idempotencyKey: String?

    @Option(help: ArgumentHelp("Download the video to this file.", valueName: "FILE"))
    var out: String?

    @Option(help: ArgumentHelp("Who asks, for the monthly report's top callers (default: your user name).", valueName: "LABEL"))
    var caller: String?

    @Option(name: .customLong("sandbox-latency-ms"), help: ArgumentHelp("How long a sandbox generation takes.", valueName: "MS"))
    var sandboxLatencyMs = 3000

    @Option(name: .customLong("poll-ms"), help: ArgumentHelp("First wait between task reads (backoff doubles it, up to 8x).", valueName: "MS"))
    var pollMs = 1000

    @Flag(help: "Print the outcome as JSON (amounts as decimal strings) instead of text.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    func validate() throws {
        guard (0...600_000).contains(sandboxLatencyMs) else { throw ValidationError("--sandbox-latency-ms must be 0 to 600000.") }
        guard (1...60_000).contains(pollMs) else { throw ValidationError("--poll-ms must be 1 to 60000.") }
        // Checked before anything is held or sent: a video that cannot be saved would still be paid for.
        if let out {
            var isDirectory: ObjCBool = false
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
            if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
                guard !isDirectory.boolValue else { throw ValidationError("--out '\(out)' is a directory; give a file name.") }
                guard FileManager.default.isWritableFile(atPath: out) else { throw ValidationError("--out '\(out)' is not writable.") }
            } else if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
                throw ValidationError("--out '\(out)': the directory '\(directory)' does not exist.")
            }
            // The file is written atomically: through a temporary file in the same directory.
            guard FileManager.default.isWritableFile(atPath: directory) else {
                throw ValidationError("--out '\(out)': the directory '\(directory)' is not writable.")
            }
        }
    }

    func run() async throws {
        let logger = Logger(label: "videometer.generate")
        try await reportingErrors(json: json) {
            let seconds = try duration.map { text throws(PricingError) in try QuoteRequest.parseDuration(text) }
            // The request's own faults first, before the ledger is opened (the quote checks the rest).
            if QuoteRequest.containsControlCharacter(prompt) { throw PricingError.invalidPrompt() }
            let ledger = try await database.openExisting()
            let prices = try catalog.load()
            let poll = PollPolicy(initialInterval: .milliseconds(pollMs), maxInterval: .milliseconds(pollMs * 8), deadline: .seconds(900))
            let upstreams = try await Upstreams.start(sandbox: true, sandboxLatency: .milliseconds(sandboxLatencyMs), poll: poll, logger: logger)
            defer { Task { await upstreams.shutdown() } }
            let client = MeteredClient(
                catalog: prices, ledger: ledger, providers: upstreams.providers,
                configuration: .init(pollPolicy: poll), logger: Logger(label: "videometer.metering"))
            let progress = Progress(live: !json && isatty(STDERR_FILENO) == 1, quiet: json)
            if !upstreams.sandboxes.isEmpty { progress.line("sandbox: \(upstreams.summary)") }

            let reconciled = try await client.reconcile()
            // This run polls only its own call: the earlier calls' leases go back at once.
            try? await client.releaseLeases()
            if !reconciled.settled.isEmpty || !reconciled.expired.isEmpty {
                progress.line("reconciled earlier calls: \(reconciled.settled.count) settled, \(reconciled.expired.count) expired")
            }

            let request = MeteredRequest(
                team: team, provider: provider, model: model, prompt: prompt, durationSeconds: seconds,
                resolution: resolution, imageURL: imageURL, idempotencyKey: idempotencyKey,
                caller: caller ?? ProcessInfo.processInfo.userName)
            let outcome: MeteredOutcome
            do {
                outcome = try await client.generate(request) { event in progress.show(event) }
            } catch {
                progress.stop()
                await upstreams.shutdown()
                throw error
            }
            progress.stop()

            var saved: String?
            var downloadFailure: (any Error)?
            if let out, let url = outcome.videoURL, outcome.isCharged {
                do { saved = try await download(url, to: out, client: upstreams.httpClient) } catch { downloadFailure = error }
            }
            let budget = try await ledger.budgetStatus(team: team)
            await upstreams.shutdown()
            // The call is charged whatever became of the download: say so first, then fail.
            try printOutcome(outcome, available: budget.availableMicro, saved: saved)
            if let downloadFailure { throw downloadFailure }
            if outcome.status != .succeeded {
                throw MeteredCallFailure(outcome: outcome)
            }
        }
    }

    func printOutcome(_ outcome: MeteredOutcome, available: MicroUSD, saved: String?) throws {
        if json {
            try printJSON(GenerateResult(
                holdID: outcome.holdID, idempotencyKey: outcome.idempotencyKey, team: outcome.team, provider: outcome.provider,
                model: outcome.model, resolution: outcome.resolution, status: outcome.status.rawValue, hold: outcome.holdState.rawValue,
                held: Money.format(micro: outcome.heldMicro), charged: Money.format(micro: outcome.chargedMicro),
                billedSeconds: outcome.billedSeconds, videoURL: outcome.videoURL, savedTo: saved,
                upstreamTaskID: outcome.upstreamTaskID, upstreamRequestID: outcome.upstreamRequestID,
                replayed: outcome.replayed, lateSuccess: outcome.lateSuccess, teamAvailable: Money.format(micro: available)))
            return
        }
        var lines = ["\(outcome.status.rawValue): \(outcome.model) via \(outcome.provider), \(outcome.resolution)"
            + (outcome.billedSeconds.map { ", \($0) s" } ?? "") + (outcome.replayed ? " (replayed: first result of this idempotency key)" : "")]
        if outcome.isCharged {
            lines.append("charged    \(Money.format(micro: outcome.chargedMicro)) USD (held \(Money.format(micro: outcome.heldMicro)))")
        } else {
            lines.append("charged    0.000000 USD (hold \(outcome.holdID) \(outcome.holdState.rawValue))")
        }
        if let url = outcome.videoURL { lines.append("video      \(url)") }
        if let saved { lines.append("saved to   \(saved)") }
        lines.append("remaining  \(Money.format(micro: available)) USD for team \(outcome.team) this period")
        print(lines.joined(separator: "\n"))
    }

    /// Downloads the video with a 10-minute deadline and a 1 GiB cap.
    func download(_ url: String, to path: String, client: HTTPClient) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(600))
        guard response.status.code == 200 else {
            throw DownloadError(message: "Downloading \(url) answered HTTP \(response.status.code); the charge stands, the video is at that URL.")
        }
        let body = try await response.body.collect(upTo: 1 << 30)
        let destination = URL(fileURLWithPath: path)
        do {
            try Data(buffer: body).write(to: destination, options: .atomic)
        } catch {
            throw DownloadError(message: "Could not write \(path) (\(error.localizedDescription)); the charge stands, the video is at \(url).")
        }
        return destination.path
    }
}

struct GenerateResult: Encodable {
    var holdID: Int64
    var idempotencyKey: String
    var team: String
    var provider: String
    var model: String
    var resolution: String
    var status: String
    var hold: String
    var held: String
    var charged: String
    var billedSeconds: Int?
    var videoURL: String?
    var savedTo: String?
    var upstreamTaskID: String?
    var upstreamRequestID: String?
    var replayed: Bool
    var lateSuccess: Bool
    var teamAvailable: String

    enum CodingKeys: String, CodingKey {
        case team, provider, model, resolution, status, hold, held, charged, replayed
        case holdID = "hold_id"
        case idempotencyKey = "idempotency_key"
        case billedSeconds = "billed_seconds"
        case videoURL = "video_url"
        case savedTo = "saved_to"
        case upstreamTaskID = "upstream_task_id"
        case upstreamRequestID = "upstream_request_id"
        case lateSuccess = "late_success"
        case teamAvailable = "team_available"
    }
}

/// A call that ended without a charge: failed, cancelled or expired upstream.
struct MeteredCallFailure: CodedError {
    let outcome: MeteredOutcome
    var code: String { "generation_\(outcome.status.rawValue)" }
    var message: String {
        outcome.isCharged
            ? "The upstream task ended \(outcome.status.rawValue); its price list bills that outcome, so \(Money.format(micro: outcome.chargedMicro)) USD was charged (hold \(outcome.holdID))."
            : "The upstream task ended \(outcome.status.rawValue); hold \(outcome.holdID) was released and nothing was charged."
    }
}

struct DownloadError: CodedError {
    let message: String
    var code: String { "download_failed" }
}

/// Live progress on a terminal (one rewritten line with the elapsed time), plain lines otherwise.
final class Progress: @unchecked Sendable {
    private let live: Bool
    private let quiet: Bool
    private let lock = NSLock()
    private var status = "quoting"
    private let start = ContinuousClock.now
    private var ticker: Task<Void, Never>?

    init(live: Bool, quiet: Bool) {
        self.live = live
        self.quiet = quiet
        if live {
            ticker = Task { [weak self] in
                while !Task.isCancelled {
                    self?.redraw()
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    var elapsed: String {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return "\(seconds).\(attoseconds / 100_000_000_000_000_000) s"
    }

    func line(_ text: String) {
        guard !quiet else { return }
        lock.withLock {
            FileHandle.standardError.write(Data(((live ? "\r\u{1B}[K" : "") + text + "\n").utf8))
        }
    }

    func show(_ event: MeteringEvent) {
        let text: String
        switch event {
        case .quoted(let quote):
            text = "quoted \(Money.format(quote.total, scale: quote.settlementScale, quote.rounding)) USD for \(quote.billedSeconds) s at \(quote.resolution)"
        case .held(let holdID, let amount, let replayed):
            text = replayed ? "idempotency key seen before: returning hold \(holdID)" : "held \(Money.format(micro: amount)) USD (hold \(holdID)); sending"
        case .submitted(let taskID):
            text = "task \(taskID) created; waiting"
        case .polled(_, let state):
            let changed = lock.withLock { () -> Bool in
                defer { status = state.rawValue }
                return status != state.rawValue
            }
            guard changed else { return }
            text = state.rawValue
        case .settled(let outcome):
            text = "\(outcome.status.rawValue), \(outcome.isCharged ? "charged" : "not charged")"
        }
        lock.withLock { status = text }
        if live { redraw() } else { line("[\(elapsed)] \(text)") }
    }

    private func redraw() {
        guard live else { return }
        lock.withLock {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(status)  \(elapsed)".utf8))
        }
    }

    func stop() {
        ticker?.cancel()
        if live { lock.withLock { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
    }
}

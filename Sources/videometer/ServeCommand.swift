import ArgumentParser
import Foundation
import Hummingbird
import Logging
import VideoMeter
import VideoMeterGateway
import VideoMeterLedger
import VideoMeterStores
import VideoMeterMetering
import VideoMeterProviders
import VideoMeterSellers

/// `videometer serve`: the metering gateway on loopback.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the metering gateway: a transparent HTTP proxy that meters every call and enforces team budgets.",
        discussion: """
            Clients keep the request bodies of BlockRun (xai/..., bytedance/... models), WorldRouter \
            (grok-imagine-video...) and xAI (under /xai/v1/...) and change only the base URL and their key (`Authorization: Bearer`, \
            from `videometer keys create --team T`). Upstreams come from VIDEOMETER_BLOCKRUN_URL \
            (+ VIDEOMETER_BLOCKRUN_PAYMENT), VIDEOMETER_WORLDROUTER_KEY (+ VIDEOMETER_WORLDROUTER_URL) \
            and VIDEOMETER_XAI_KEY (+ VIDEOMETER_XAI_URL, default https://api.x.ai); \
            a provider with none is served by the in-process emulator ("sandbox"). Open calls left by an \
            earlier run are reconciled at start. Gateways sharing a ledger share settlement through \
            leases in it: a killed gateway's tasks are settled by the others within two reconcile \
            intervals. SIGTERM or SIGINT: stop taking requests, let the ones in flight finish, stop \
            polling and hand the open tasks to the other gateways (or to the next start). See \
            docs/GATEWAY.md.
            """
    )

    @Option(help: "Address to listen on (loopback by default).")
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on (not 8402, ClawRouter's).", valueName: "N"))
    var port = GatewayConfiguration.defaultPort

    @Option(name: .customLong("max-pending"), help: ArgumentHelp("Async calls a team may have in flight (429 beyond).", valueName: "N"))
    var maxPending = 256

    @Option(name: .customLong("reconcile-seconds"), help: ArgumentHelp("How often open calls are reconciled and overdue holds expired; also how long this gateway's settlement leases last unrenewed.", valueName: "S"))
    var reconcileSeconds = 60

    @Option(name: .customLong("poll-ms"), help: ArgumentHelp("First wait between task reads (backoff doubles it, up to 8x).", valueName: "MS"))
    var pollMs = 2000

    @Option(name: .customLong("sandbox-latency-ms"), help: ArgumentHelp("How long a sandbox generation takes.", valueName: "MS"))
    var sandboxLatencyMs = 3000

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var catalog: CatalogOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535.") }
        guard port != 8402 else { throw ValidationError("--port 8402 is ClawRouter's (BlockRun's local proxy); choose another, e.g. \(GatewayConfiguration.defaultPort).") }
        guard maxPending >= 1 else { throw ValidationError("--max-pending must be at least 1.") }
        guard (1...86_400).contains(reconcileSeconds) else { throw ValidationError("--reconcile-seconds must be 1 to 86400.") }
        guard (1...60_000).contains(pollMs) else { throw ValidationError("--poll-ms must be 1 to 60000.") }
        guard (0...600_000).contains(sandboxLatencyMs) else { throw ValidationError("--sandbox-latency-ms must be 0 to 600000.") }
    }

    func run() async throws {
        let logger = Logger(label: "videometer.gateway")
        try await reportingErrors {
            let ledger = try await database.open()
            let prices = try catalog.load()
            let poll = PollPolicy(initialInterval: .milliseconds(pollMs), maxInterval: .milliseconds(pollMs * 8), deadline: .seconds(900))
            let upstreams = try await Upstreams.start(sandbox: true, sandboxLatency: .milliseconds(sandboxLatencyMs), poll: poll, logger: logger)
            let gateway = try Gateway(
                configuration: GatewayConfiguration(
                    host: host, port: port, maxPendingTasksPerTeam: maxPending, reconcileInterval: .seconds(reconcileSeconds),
                    metering: .init(pollPolicy: poll)),
                catalog: prices, ledger: ledger, providers: upstreams.providers, dialects: Sellers.dialects, logger: logger)
            let app = gateway.makeApplication { port in
                logger.notice("videometer gateway listening on http://\(host):\(port) (\(upstreams.summary); ledger: \(database.storeDescription))")
                if let now = ProcessInfo.processInfo.environment[ProcessClock.variable], !now.isEmpty {
                    logger.warning("\(ProcessClock.variable) is set (\(now)): this gateway dates holds, periods and alerts by that clock, not the machine's; unset it in production")
                }
            }
            // Closing waits for the ledger's last writes, at most 5 s: a database that stopped
            // answering must not hold up the exit (what was acknowledged is committed already).
            let close: @Sendable () async -> Void = {
                await upstreams.shutdown()
                if await waitAtMost(.seconds(5), { await LedgerStores.close(ledger) }) == nil {
                    logger.warning("the ledger did not close within 5 s; exiting without waiting for it")
                }
            }
            do {
                try await app.runService()
            } catch {
                await close()
                throw error
            }
            await close()
        }
    }
}

import ArgumentParser
import Foundation
import VideoMeter
import VideoMeterLedger
import VideoMeterStores

extension LedgerCommand {
    /// `videometer ledger copy`: moves a whole ledger between stores (SQLite to PostgreSQL and back).
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a whole ledger to another store (SQLite file or PostgreSQL database).",
            discussion: """
                Copies every team, budget, hold, journal entry, balance, usage event, alert, late success, \
                API key, gateway task id, stored answer and settlement lease, ids and all, reading the source from one \
                snapshot and writing the target in one transaction: the copy lands whole or not at all. \
                A target that holds anything is refused (ledger_copy_target_not_empty) unless --replace, \
                which empties it in the same transaction. Afterwards both ledgers are verified and their \
                totals compared to the micro-dollar. Stop the gateways writing to the source first: what \
                they write after the snapshot is not copied. Errors: no_ledger, ledger_copy_same_store, \
                ledger_copy_target_not_empty, ledger_copy_unknown_schema, ledger_copy_mismatch, \
                invalid_database_url, unsupported_database, ledger_unavailable (exit 1).
                """
        )

        @Option(help: ArgumentHelp("The ledger to copy: a SQLite file or postgres://user[:password]@host[:port]/database.", valueName: "PATH|URL"))
        var from: String

        @Option(help: ArgumentHelp("Where to copy it: a SQLite file (created if missing) or a PostgreSQL database.", valueName: "PATH|URL"))
        var to: String

        @Flag(help: "Empty a target that already holds a ledger, in the copy's transaction.")
        var replace = false

        @Flag(help: "Print JSON: rows per table and both ledgers' verified totals.")
        var json = false

        struct Summary: Encodable {
            var from: String
            var to: String
            var rows: [String: Int]
            var totalRows: Int
            var journalEntries: Int
            var holds: Int
            var usageEvents: Int
            var postedTotal: String
            var consistent: Bool

            enum CodingKeys: String, CodingKey {
                case from, to, rows, holds, consistent
                case totalRows = "total_rows"
                case journalEntries = "journal_entries"
                case usageEvents = "usage_events"
                case postedTotal = "posted_total"
            }
        }

        /// Whether two addresses name one store however they are written: one file (by its device and
        /// inode once it exists, by its resolved path before), or one database on one server (whoever
        /// logs in).
        static func sameStore(_ a: LedgerAddress, _ b: LedgerAddress) -> Bool {
            switch (a, b) {
            case (.file(let one), .file(let other)):
                let paths = [one, other].map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
                if paths[0] == paths[1] { return true }
                let identities = paths.map { path -> [Int]? in
                    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                          let device = (attributes[.systemNumber] as? NSNumber)?.intValue,
                          let inode = (attributes[.systemFileNumber] as? NSNumber)?.intValue
                    else { return nil }
                    return [device, inode]
                }
                return identities[0] != nil && identities[0] == identities[1]
            case (.postgres(let one), .postgres(let other)):
                return one.host.lowercased() == other.host.lowercased() && one.port == other.port && one.database == other.database
            default:
                return false
            }
        }

        func run() async throws {
            try await reportingErrors(json: json) {
                let source = try LedgerAddress.parse(from)
                let target = try LedgerAddress.parse(to)
                guard !Self.sameStore(source, target) else { throw LedgerCopyCommandError.sameStore(source.description) }
                let sourceStore = try await LedgerStores.openExisting(source, clock: ProcessClock.shared)
                var createdFile: String?
                if case .file(let path) = target, !FileManager.default.fileExists(atPath: path) { createdFile = path }
                let summary: Summary
                do {
                    let targetStore = try await LedgerStores.open(target, clock: ProcessClock.shared)
                    if !json { FileHandle.standardError.write(Data("copying the \(source.description) to the \(target.description)…\n".utf8)) }
                    let copied = try await LedgerCopy.copy(from: sourceStore, to: targetStore, replace: replace)
                    let before = try await sourceStore.verify()
                    let after = try await targetStore.verify()
                    let beforeTotal = try await Self.postedTotal(sourceStore)
                    let afterTotal = try await Self.postedTotal(targetStore)
                    await LedgerStores.close(targetStore)
                    guard after.isConsistent else { throw LedgerCopyCommandError.mismatch("the copy does not verify: \(after.problems.prefix(3).joined(separator: "; "))") }
                    guard before.journalEntries == after.journalEntries, before.holds == after.holds, before.usageEvents == after.usageEvents,
                          beforeTotal == afterTotal else {
                        throw LedgerCopyCommandError.mismatch(
                            "source \(before.journalEntries) journal entries, \(before.holds) holds, \(Money.format(micro: beforeTotal)) USD posted; copy \(after.journalEntries), \(after.holds), \(Money.format(micro: afterTotal)) USD")
                    }
                    summary = Summary(
                        from: source.description, to: target.description,
                        rows: Dictionary(uniqueKeysWithValues: copied.rows.map { ($0.key.rawValue, $0.value) }), totalRows: copied.totalRows,
                        journalEntries: after.journalEntries, holds: after.holds, usageEvents: after.usageEvents,
                        postedTotal: Money.format(micro: afterTotal), consistent: after.isConsistent)
                } catch {
                    // A refused or failed copy leaves no new, empty ledger file behind.
                    if let createdFile { Self.removeLedgerFile(createdFile) }
                    await LedgerStores.close(sourceStore)
                    throw error
                }
                await LedgerStores.close(sourceStore)
                if json {
                    try printJSON(summary)
                    return
                }
                var table = TextTable(["table", "rows"], rightAligned: [1])
                for name in LedgerTable.allCases.map(\.rawValue) { table.add([name, String(summary.rows[name] ?? 0)]) }
                print(table.render())
                print("copied \(summary.totalRows) rows: \(summary.journalEntries) journal entries, \(summary.holds) holds, \(summary.usageEvents) usage events, \(summary.postedTotal) USD posted; both ledgers verify and agree")
            }
        }

        /// Everything posted, to the micro-dollar: the sum of every hold's posted amount.
        static func postedTotal(_ store: any LedgerStore) async throws -> MicroUSD {
            try await store.holds(state: nil).reduce(0) { $0 + $1.postedMicro }
        }

        static func removeLedgerFile(_ path: String) {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }
}

/// Why `ledger copy` stopped.
struct LedgerCopyCommandError: CodedError {
    let code: String
    let message: String

    static func sameStore(_ store: String) -> Self {
        Self(code: "ledger_copy_same_store", message: "--from and --to both name the \(store); copy to another file or database.")
    }

    static func mismatch(_ detail: String) -> Self {
        Self(code: "ledger_copy_mismatch", message: "The copy was written but does not agree with its source: \(detail). Copy again with --replace once nothing writes to the source.")
    }
}

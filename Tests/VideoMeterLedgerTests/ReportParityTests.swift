import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterLedgerPostgres
import VideoMeterReports
@testable import VideoMeterLedger

/// The reports read the ledger through its contract (``LedgerReporting``): the same ledger in the
/// SQLite store and in the PostgreSQL store must give the same reports, byte for byte, with the
/// exact amounts the ledger holds.
@Suite struct ReportParityTests {
    /// Both stores filled with ``ReportLedger``; nil when PostgreSQL cases are skipped.
    static func stores() async throws -> (sqlite: StoreFixture, postgres: StoreFixture)? {
        guard let postgres = try await StoreFixture.make(.postgres) else { return nil }
        let sqlite = try await StoreFixture.make(.sqlite)!
        try await ReportLedger.fill(sqlite.store, clock: sqlite.clock)
        try await ReportLedger.fill(postgres.store, clock: postgres.clock)
        return (sqlite, postgres)
    }

    /// Every format of a report, and its detail CSV, from one store.
    static func rendered(
        _ store: any LedgerReporting, month: String, team: String? = nil, timeZone: String? = nil, now: String
    ) async throws -> (report: MonthlyReport, texts: [String]) {
        let builder = MonthlyReportBuilder(store: store, clock: ManualWallClock(ReportLedger.utc(now)))
        let month = try ReportMonth(parsing: month)
        let detail = Collected()
        let report = try await builder.build(month: month, team: team, timeZone: timeZone, detail: { detail.append($0) })
        let separate = Collected()
        try await builder.writeUsageDetail(month: month, team: team, timeZone: timeZone) { separate.append($0) }
        #expect(separate.text == detail.text)
        let renderer = ReportRenderer()
        return (report, try ReportFormat.allCases.map { try renderer.render(report, as: $0) } + [detail.text])
    }

    @Test func theMonthlyReportIsTheSameFromBothStores() async throws {
        guard let (sqlite, postgres) = try await Self.stores() else { return }
        defer { Task { await postgres.close() } }
        let cases: [(month: String, team: String?, zone: String?, now: String)] = [
            ("2026-11", nil, nil, "2026-12-02T00:00:00Z"),
            ("2026-11", nil, "America/New_York", "2026-12-02T00:00:00Z"),
            ("2026-11", "newyork", nil, "2026-11-20T12:00:00Z"),
            ("2026-11", "tokyo", "UTC", "2026-12-02T00:00:00Z"),
            ("2026-10", nil, "Europe/Paris", "2026-12-02T00:00:00Z"),
            ("2026-10", "paris", nil, "2026-10-26T12:00:00Z"),
            ("2027-01", nil, nil, "2027-02-01T00:00:00Z"),
        ]
        for (month, team, zone, now) in cases {
            let one = try await Self.rendered(sqlite.store, month: month, team: team, timeZone: zone, now: now)
            let other = try await Self.rendered(postgres.store, month: month, team: team, timeZone: zone, now: now)
            for (index, format) in (ReportFormat.allCases.map(\.rawValue) + ["detail"]).enumerated() {
                #expect(one.texts[index] == other.texts[index], "\(format) of \(month) team \(team ?? "all") zone \(zone ?? "own")")
            }
            for section in one.report.teams { #expect(section.chargedMicro == section.ledgerChargedMicro) }
        }

        // Exact amounts, by each team's budget month and in one zone for all.
        let november = try await Self.rendered(postgres.store, month: "2026-11", now: "2026-12-02T00:00:00Z").report
        #expect(Dictionary(uniqueKeysWithValues: november.teams.filter { $0.chargedMicro > 0 }.map { ($0.team, $0.chargedMicro) })
            == ReportLedger.novemberCharged)
        #expect(november.allTeams.chargedMicro == 2_347_000)
        #expect(november.allTeams.ledgerChargedMicro == 2_347_000)
        let studio = try #require(november.teams.first { $0.team == "studio" })
        #expect(studio.alerts.map(\.thresholdPercent) == [50])
        #expect(studio.openItems.map(\.kind) == [.openHold, .unknown, .lateSuccess])
        #expect(studio.budget?.postedMicro == 1_402_500)
        #expect(studio.budget?.pendingMicro == 315_000)
        #expect(studio.sellerCosts.map(\.reportedChargedTicks) == [2_900_000_000])
        let newYork = try await Self.rendered(postgres.store, month: "2026-11", timeZone: "America/New_York", now: "2026-12-02T00:00:00Z").report
        #expect(Dictionary(uniqueKeysWithValues: newYork.teams.filter { $0.chargedMicro > 0 }.map { ($0.team, $0.chargedMicro) })
            == ReportLedger.novemberNewYorkCharged)
        // 1 November in New York has 25 hours: both calls at 01:30 fall on it.
        let ny = try #require(newYork.teams.first { $0.team == "newyork" })
        #expect(ny.daily[0].requests == 2 && ny.daily[0].chargedMicro == 315_000)
        let paris = try await Self.rendered(postgres.store, month: "2026-10", team: "paris", now: "2026-12-02T00:00:00Z").report
        #expect(paris.teams[0].daily[24].chargedMicro == 300_000 && paris.teams[0].daily[25].chargedMicro == 50_000)
    }

    @Test func repricingReadsTheSameChargedCallsFromBothStores() async throws {
        guard let (sqlite, postgres) = try await Self.stores() else { return }
        defer { Task { await postgres.close() } }
        let newYork = ReportPeriod(month: try ReportMonth(parsing: "2026-11"), timeZone: TimeZone(identifier: "America/New_York")!)
        for selection in [UsageSelection.budgetMonth("2026-11"), .instants(start: newYork.start * 1000, end: newYork.end * 1000)] {
            for team in [nil, "newyork"] as [String?] {
                let one = try await sqlite.store.chargedCalls(selection, team: team)
                let other = try await postgres.store.chargedCalls(selection, team: team)
                #expect(one == other)
            }
        }
        let calls = try await postgres.store.chargedCalls(.budgetMonth("2026-11"))
        #expect(calls.reduce(0) { $0 + $1.chargedMicro } == 2_347_000)
        #expect(calls.reduce(0) { $0 + $1.calls } == 9)
        // The partial post for 5 of 10 seconds is priced at the 5 seconds charged.
        #expect(calls.first { $0.team == "studio" && $0.seconds == 5 && $0.provider == "blockrun" && $0.model == "bytedance/seedance-1.5-pro" }?.calls == 2)
        // The read-only snapshot of the SQLite file agrees.
        let path = try #require(sqlite.sqlitePathForTests)
        #expect(try await LedgerSnapshot(path: path).chargedCalls(.budgetMonth("2026-11")) == calls)
        let catalog = try Catalog.bundled()
        let one = RepriceReport(
            month: "2026-11", timeZone: nil, pricing: "none", calls: try await sqlite.store.chargedCalls(.budgetMonth("2026-11")),
            catalog: catalog, at: .distantFuture, chargedRoundings: InvoiceRoundings())
        let other = RepriceReport(
            month: "2026-11", timeZone: nil, pricing: "none", calls: calls, catalog: catalog, at: .distantFuture,
            chargedRoundings: InvoiceRoundings())
        #expect(try one.json() == other.json())
        #expect(one.csv() == other.csv())
        #expect(one.chargedMicro + one.unpricedChargedMicro == 2_347_000)
    }

    @Test func anUnknownTeamIsNamedByBothStores() async throws {
        guard let (sqlite, postgres) = try await Self.stores() else { return }
        defer { Task { await postgres.close() } }
        for store in [sqlite.store, postgres.store] {
            await #expect(throws: ReportError.unknownTeam("nobody")) {
                _ = try await MonthlyReportBuilder(ledger: store).build(month: try ReportMonth(parsing: "2026-11"), team: "nobody")
            }
            await #expect(throws: LedgerError.unknownTeam("nobody")) {
                _ = try await store.chargedCalls(.budgetMonth("2026-11"), team: "nobody")
            }
        }
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [String] = []
    func append(_ text: String) { lock.withLock { parts.append(text) } }
    var text: String { lock.withLock { parts.joined() } }
}

import Foundation
import Testing
import VideoMeter
import VideoMeterLedger
@testable import VideoMeterReports

@Suite("Monthly report from a ledger month")
struct MonthlyReportTests {
    @Test func studioTotalsMatchTheLedgerToTheMicroDollar() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "studio")
        let studio = try #require(report.teams.first)
        #expect(report.teams.count == 1)
        #expect(studio.chargedMicro == 1_228_500)
        #expect(studio.upstreamCostMicro == 1_170_000)
        #expect(studio.marginMicro == 58_500)
        #expect(studio.secondsGenerated == 20)
        #expect(studio.ledgerChargedMicro == 1_228_500)
        #expect(try await fixture.ledgerPosted(team: "studio", month: "2026-11") == studio.chargedMicro)
        let outcomes = studio.outcomes
        #expect(outcomes[.succeeded] == 4)
        #expect(outcomes[.timedOut] == 1)
        #expect(outcomes[.failed] == 1)
        #expect(outcomes[.expired] == 1)
        // The Nov 29 call was sent and never answered: still held, uncharged, counted as unknown.
        #expect(outcomes[.unknown] == 1)
        #expect(outcomes[.cancelled] == 0 && outcomes[.rejected] == 0)
        #expect(outcomes.total == 8)

        #expect(studio.lines.map { "\($0.model) \($0.chargedMicro) \($0.upstreamCostMicro) \($0.marginMicro) \($0.seconds) \($0.outcomes.total) \($0.postedRequests)" } == [
            "bytedance/seedance-2.0 787500 750000 37500 5 2 1",
            "bytedance/seedance-1.5-pro 441000 420000 21000 15 5 3",
            "xai/grok-imagine-video 0 0 0 0 1 0",
        ])
        let days = studio.daily.filter { $0.requests > 0 }.map { "\($0.date) \($0.requests) \($0.chargedMicro)" }
        #expect(days == [
            "2026-11-03 2 157500", "2026-11-05 1 0", "2026-11-10 1 157500", "2026-11-12 1 0",
            "2026-11-20 1 126000", "2026-11-25 1 787500", "2026-11-29 1 0",
        ])
        #expect(studio.daily.count == 30)
        #expect(studio.daily.reduce(0) { $0 + $1.chargedMicro } == 1_228_500)
        #expect(studio.catalogVersions.map { "\($0.version) \($0.requests) \($0.chargedMicro)" } == [
            "blockrun-2026-04 5 315000", "blockrun-2026-11-15 3 913500",
        ])
        #expect(studio.topCallers.map { "\($0.caller) \($0.requests) \($0.chargedMicro)" } == ["alice 4 1071000", "bob 3 157500"])
        #expect(studio.openItems.map { "\($0.kind.rawValue) \($0.amountMicro)" } == ["open_hold 157500", "unknown 157500", "late_success 157500"])
        #expect(studio.alerts.map { "\($0.thresholdPercent) \($0.spentMicro ?? -1)" } == ["50 1228500"])
        let budget = try #require(studio.budget)
        #expect(budget.monthlyLimitMicro == 2_000_000)
        #expect("\(budget.month) \(budget.timeZone) \(budget.postedMicro) \(budget.pendingMicro)" == "2026-11 UTC 1228500 315000")
    }

    @Test func invoiceRoundsEachLineToItsPriceListsDisplayScaleThenSumsAndExplains() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "studio")
        let invoice = try #require(report.teams.first).invoice
        // seedance-2.0 was charged only under the Nov 15 list (2 places, half-even); seedance-1.5-pro
        // under both lists, so it takes the larger scale (3, half-up).
        #expect(invoice.lines.map { "\($0.model) \($0.exactMicro) \($0.roundedMicro) \($0.differenceMicro) \($0.formattedRounded)" } == [
            "bytedance/seedance-2.0 787500 790000 2500 0.79",
            "bytedance/seedance-1.5-pro 441000 441000 0 0.441",
        ])
        #expect(invoice.invoicedTotalMicro == 1_231_000)
        #expect(invoice.formattedInvoicedTotal == "1.231")
        #expect(invoice.ledgerTotalMicro == 1_228_500)
        #expect(invoice.differenceMicro == 2_500)
        #expect(invoice.linesMatchLedger)
        #expect(invoice.explanation == """
            Each line is rounded to the display scale and rule of the price list that priced its calls, then the rounded \
            lines are summed: blockrun bytedance/seedance-2.0 720p to 2 decimal places, half-even (price list \
            blockrun-2026-11-15); blockrun bytedance/seedance-1.5-pro 720p to 3 decimal places, half-up (the largest \
            display scale among price lists blockrun-2026-04, blockrun-2026-11-15). Invoiced total 1.231 USD; exact \
            ledger total 1.228500 USD; difference +0.002500 USD, the sum of the per-line rounding differences \
            +0.002500 (blockrun bytedance/seedance-2.0 720p).
            """)
    }

    @Test func aPriceListTheCatalogDoesNotKnowFallsBackToTwoPlacesHalfUpAndSaysSo() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo")
        let invoice = try #require(report.teams.first).invoice
        #expect(invoice.lines.map { "\($0.resolution) \($0.exactMicro) \($0.roundedMicro) \($0.unknownPriceLists)" } == [
            "720p 420000 420000 [\"worldrouter-2026-04\"]", "480p 52000 50000 [\"worldrouter-2026-04\"]",
        ])
        #expect(invoice.explanation == """
            Each line is rounded to the display scale and rule of the price list that priced its calls, then the rounded \
            lines are summed: worldrouter grok-imagine-video 720p to 2 decimal places, half-up (worldrouter-2026-04 is \
            not in the catalog, so the fallback of 2 decimal places, half-up applies); worldrouter grok-imagine-video \
            480p to 2 decimal places, half-up (worldrouter-2026-04 is not in the catalog, so the fallback of 2 decimal \
            places, half-up applies). Invoiced total 0.47 USD; exact ledger total 0.472000 USD; difference -0.002000 \
            USD, the sum of the per-line rounding differences -0.002000 (worldrouter grok-imagine-video 480p).
            """)
    }

    @Test func aTeamInTokyoGetsTheTokyoMonth() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo")
        let tokyo = try #require(report.teams.first)
        #expect(tokyo.timeZone == "Asia/Tokyo")
        #expect(report.commonTimeZone == "Asia/Tokyo")
        #expect(ReportView(report).timeZone == "Asia/Tokyo")
        #expect(tokyo.periodStart == Int64(ReportFixture.utc("2026-10-31T15:00:00Z").timeIntervalSince1970))
        #expect(tokyo.chargedMicro == 472_000)
        #expect(tokyo.upstreamCostMicro == 452_000)
        #expect(tokyo.ledgerChargedMicro == 472_000)
        #expect(try await fixture.ledgerPosted(team: "tokyo", month: "2026-11") == 472_000)
        #expect(tokyo.outcomes[.succeeded] == 2 && tokyo.outcomes[.cancelled] == 1 && tokyo.outcomes[.rejected] == 1)
        #expect(tokyo.requests == 4)
        #expect(tokyo.daily.first.map { "\($0.date) \($0.requests) \($0.chargedMicro)" } == "2026-11-01 1 420000")
        #expect(tokyo.invoice.invoicedTotalMicro == 470_000)
        #expect(tokyo.invoice.differenceMicro == -2_000)
        #expect(tokyo.budget.map { "\($0.month) \($0.timeZone) \($0.postedMicro)" } == "2026-11 Asia/Tokyo 472000")
        #expect(tokyo.note == nil)
    }

    @Test func aTimeZoneOverrideMovesTheBoundaryEventsButNotTheBudgetMonth() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november, team: "tokyo", timeZone: "UTC")
        let tokyo = try #require(report.teams.first)
        #expect(tokyo.periodStart == Int64(ReportFixture.utc("2026-11-01T00:00:00Z").timeIntervalSince1970))
        #expect(tokyo.chargedMicro == 209_500)
        #expect(tokyo.ledgerChargedMicro == 209_500)
        #expect(tokyo.requests == 4)
        #expect(tokyo.daily.last.map { "\($0.date) \($0.chargedMicro)" } == "2026-11-30 157500")
        // 0.052000 -> 0.05 (fallback) and 0.157500 -> 0.158 (blockrun-2026-04, 3 places).
        #expect(tokyo.invoice.formattedInvoicedTotal == "0.208")
        #expect(tokyo.invoice.differenceMicro == -1_500)
        // Budget and alerts stay in the team's own budget month, and the report says so.
        #expect(tokyo.budget.map { "\($0.month) \($0.timeZone) \($0.postedMicro)" } == "2026-11 Asia/Tokyo 472000")
        #expect(tokyo.note == "Usage, daily spend and the invoice are counted in 2026-11 in UTC (--timezone); the budget and its alerts are the team's budget month, 2026-11 in Asia/Tokyo, as the ledger counts them.")
        #expect(ReportView(report).timeZone == "UTC")
        #expect(ReportView(report).timeZoneNote != nil)
    }

    @Test func allTeamsIsTheSumOfTheTeams() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        #expect(report.teams.map(\.team) == ["studio", "tokyo"])
        let all = report.allTeams
        #expect(all.chargedMicro == 1_700_500)
        #expect(all.ledgerChargedMicro == 1_700_500)
        #expect(all.upstreamCostMicro == 1_622_000)
        #expect(all.marginMicro == 78_500)
        #expect(all.requests == 12)
        #expect(all.daily.reduce(0) { $0 + $1.chargedMicro } == 1_700_500)
        #expect(all.openItems.count == 3)
        #expect(all.timeZone == "each team's own")
        #expect(all.note == "The teams are in different time zones (Asia/Tokyo, UTC): every team counts its own calendar month in its own zone, so this period runs from the earliest team's start to the latest team's end, and each day adds up the teams' spend on that local date.")
    }

    @Test func theAllTeamsInvoiceIsTheSumOfTheTeamInvoicesNotRoundedAgain() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: ReportFixture.november)
        let invoice = report.allTeams.invoice
        #expect(invoice.invoicedTotalMicro == report.teams.reduce(0) { $0 + $1.invoice.invoicedTotalMicro })
        #expect(invoice.invoicedTotalMicro == 1_701_000)
        #expect(invoice.formattedInvoicedTotal == "1.701")
        #expect(invoice.differenceMicro == 500)
        #expect(invoice.lines.map { "\($0.model) \($0.resolution) \($0.exactMicro) \($0.roundedMicro) \($0.formattedRounded)" } == [
            "bytedance/seedance-2.0 720p 787500 790000 0.79",
            "bytedance/seedance-1.5-pro 720p 441000 441000 0.441",
            "grok-imagine-video 720p 420000 420000 0.42",
            "grok-imagine-video 480p 52000 50000 0.05",
        ])
        #expect(invoice.explanation == """
            This invoice adds up the team invoices line by line and does not round the sums again (each team's invoice \
            says how its lines were rounded): studio 1.231 + tokyo 0.47 = 1.701 USD. Invoiced total 1.701 USD; exact \
            ledger total 1.700500 USD; difference +0.000500 USD, the sum of the per-line rounding differences \
            +0.002500 (blockrun bytedance/seedance-2.0 720p) -0.002000 (worldrouter grok-imagine-video 480p).
            """)
    }

    @Test func theStreamingIndexesChangeTheQueriesButNotTheReport() async throws {
        let fixture = try await ReportFixture()
        let builder = try fixture.builder()
        let now = ReportFixture.utc("2026-12-02T00:00:00Z")
        let renderer = ReportRenderer()
        func everything() async throws -> [String] {
            let report = try await builder.build(month: ReportFixture.november, now: now)
            let collected = Collected()
            try await builder.writeUsageDetail(month: ReportFixture.november) { collected.append($0) }
            return try ReportFormat.allCases.map { try renderer.render(report, as: $0) } + [collected.text]
        }
        // Ledgers carry the streaming indexes (migration v3); without them the report must not change.
        try await fixture.ledger.writer.write { db in
            try db.execute(sql: "DROP INDEX usageEvent_report; DROP INDEX usageEvent_report_caller; DROP INDEX journalEntry_report")
        }
        let sorted = try await everything()
        #expect(try await fixture.ledger.reportSQL(MonthlyUsageRequest(year: 2026, month: 11)).contains { $0.contains("periodMonth = '2026-11' AND createdAt >= ") })
        try await fixture.ledger.writer.write { db in try db.execute(sql: Ledger.reportStreamingIndexesSQL) }
        let streamed = try await everything()
        #expect(try await fixture.ledger.reportSQL(MonthlyUsageRequest(year: 2026, month: 11)).allSatisfy { !$0.contains("createdAt >= ") })
        #expect(streamed == sorted)
    }

    @Test func everyQueryOfAReportSeesOneSnapshotOfALiveLedger() async throws {
        let fixture = try await ReportFixture()
        let builder = try fixture.builder()
        let ledger = fixture.ledger
        // Holds are granted and posted while reports are built: every report must agree with the
        // journal it read, whatever settled between its queries.
        async let writes: Void = {
            for index in 0..<40 {
                let id = try await fixture.hold("studio", at: "2026-11-26T10:00:00Z", model: "bytedance/seedance-1.5-pro", amount: 1_000 + MicroUSD(index), upstream: 1_000)
                try await ledger.post(holdID: id, amount: 1_000 + MicroUSD(index))
            }
        }()
        var reports = 0
        var settled = false
        while !settled && reports < 10_000 {
            let report = try await builder.build(month: ReportFixture.november)
            for team in report.teams {
                #expect(team.chargedMicro == team.ledgerChargedMicro)
                #expect(team.invoice.linesMatchLedger)
                #expect(team.budget?.postedMicro == team.chargedMicro)
            }
            reports += 1
            settled = report.teams.first?.lines.contains { $0.postedRequests == 43 } ?? false
        }
        try await writes
        #expect(settled)
    }

    @Test func anEmptyMonthIsAValidReportThatSaysSo() async throws {
        let fixture = try await ReportFixture()
        let report = try await fixture.builder().build(month: try ReportMonth(parsing: "2027-02"))
        #expect(report.isEmpty)
        #expect(report.teams.count == 2)
        #expect(report.allTeams.chargedMicro == 0)
        #expect(report.allTeams.invoice.explanation == "Nothing was charged in this period; the invoice total and the ledger total are both 0.")
        #expect(report.teams[0].daily.count == 28)
        let renderer = ReportRenderer()
        #expect(ReportRenderer.csv(report) == ReportRenderer.csvHeader.joined(separator: ",") + "\r\n")
        #expect(try renderer.render(report, as: .md).contains("No activity in 2027-02: no requests were metered and nothing is open."))
        #expect(try renderer.render(report, as: .html).contains("No activity in 2027-02"))
        #expect(try renderer.render(report, as: .json).contains(#""is_empty" : true"#))
    }

    @Test func anUnknownTeamIsRefused() async throws {
        let fixture = try await ReportFixture(empty: true)
        await #expect(throws: ReportError.unknownTeam("nobody")) {
            try await fixture.builder().build(month: ReportFixture.november, team: "nobody")
        }
    }

    @Test func aBadTimeZoneIsRefused() async throws {
        let fixture = try await ReportFixture(empty: true)
        await #expect(throws: ReportError.invalidTimeZone("Mars/Olympus")) {
            try await fixture.builder().build(month: ReportFixture.november, timeZone: "Mars/Olympus")
        }
    }

    @Test(arguments: ["2026-13", "2026-1", "26-11", "2026/11", "november", "", "2026-11-01", "2026-00", "２０２６-11"])
    func aMalformedMonthIsRefused(_ text: String) {
        #expect(throws: ReportError.invalidMonth(text)) { try ReportMonth(parsing: text) }
    }
}

import Foundation
import GRDB
import Testing
import VideoMeter
@testable import VideoMeterLedger

@Suite struct BudgetTests {
    @Test func theMonthRollsOverAtMidnightInTheTeamsZone() async throws {
        // 2026-11-30 23:30 in Los Angeles is already 2026-12-01 07:30 in UTC.
        let fixture = try LedgerFixture(at: instant("2026-12-01T07:30:00Z"))
        try await fixture.team(zone: "America/Los_Angeles", monthly: 10_000_000)
        let november = try await fixture.ledger.hold(request("nov", amount: 10_000_000, timeout: 7200)).hold
        #expect(november.periodMonth == "2026-11")
        #expect(november.periodDay == "2026-11-30")
        let error = await expectLedgerError("budget_exceeded") { _ = try await fixture.ledger.hold(request("nov-2", amount: 1)) }
        #expect(error?.limit == .monthly)
        #expect(error?.limitMicro == 10_000_000)
        #expect(error?.availableMicro == 0)
        var status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.periodMonth == "2026-11")
        #expect(status.monthEndsAt == milliseconds(instant("2026-12-01T08:00:00Z")))

        fixture.clock.advance(by: 30 * 60)
        let december = try await fixture.ledger.hold(request("dec", amount: 10_000_000)).hold
        #expect(december.periodMonth == "2026-12")
        // Posting November's hold in December still counts in November.
        try await fixture.ledger.post(holdID: november.id, amount: 4_000_000)
        status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.periodMonth == "2026-12")
        #expect(status.monthPendingMicro == 10_000_000)
        #expect(status.monthPostedMicro == 0)
        #expect(status.monthEndsAt == milliseconds(instant("2027-01-01T08:00:00Z")))
        #expect(try await fixture.ledger.usageEvents(team: "acme").first?.periodMonth == "2026-11")
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func aucklandMonthStartsBeforeUTCs() async throws {
        // 2026-11-30 12:30 UTC is 2026-12-01 01:30 in Auckland (NZDT, +13).
        let fixture = try LedgerFixture(at: instant("2026-11-30T12:30:00Z"))
        try await fixture.team(zone: "Pacific/Auckland")
        #expect(try await fixture.ledger.hold(request("a")).hold.periodMonth == "2026-12")
    }

    @Test func theDailyCapRefusesBeforeTheMonthlyLimitAndResetsNextDay() async throws {
        let fixture = try LedgerFixture(at: instant("2026-11-21T10:00:00Z"))
        try await fixture.team(zone: "Europe/Paris", monthly: 100_000_000, daily: 5_000_000)
        _ = try await fixture.ledger.hold(request("a", amount: 3_000_000))
        let error = await expectLedgerError("budget_exceeded") { _ = try await fixture.ledger.hold(request("b", amount: 2_000_001)) }
        #expect(error?.limit == .daily)
        #expect(error?.limitMicro == 5_000_000)
        #expect(error?.availableMicro == 2_000_000)
        _ = try await fixture.ledger.hold(request("c", amount: 2_000_000))
        // Paris midnight is 23:00 UTC.
        fixture.clock.set(instant("2026-11-21T23:00:00Z"))
        _ = try await fixture.ledger.hold(request("d", amount: 5_000_000))
        let status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.periodDay == "2026-11-22")
        #expect(status.monthPendingMicro == 10_000_000)
        #expect(status.dayAvailableMicro == 0)
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func creditIsConsumedByPostingsAndHolds() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team(monthly: 100_000_000, credit: 4_000_000)
        let a = try await fixture.ledger.hold(request("a", amount: 3_000_000)).hold
        let refused = await expectLedgerError("budget_exceeded") { _ = try await fixture.ledger.hold(request("b", amount: 1_000_001)) }
        #expect(refused?.limit == .credit)
        #expect(refused?.availableMicro == 1_000_000)
        try await fixture.ledger.post(holdID: a.id, amount: 2_500_000)
        var status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.creditAvailableMicro == 1_500_000)
        #expect(status.availableMicro == 1_500_000)
        // A top-up adds to the credit and is journaled.
        try await fixture.ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 100_000_000, creditTopUpMicro: 500_000))
        status = try await fixture.ledger.budgetStatus(team: "acme")
        #expect(status.budget.creditMicro == 4_500_000)
        #expect(status.creditAvailableMicro == 2_000_000)
        _ = try await fixture.ledger.hold(request("c", amount: 2_000_000))
        #expect(try await fixture.ledger.verify().isConsistent)
    }

    @Test func alertsAreRecordedOncePerThresholdPerMonth() async throws {
        let fixture = try LedgerFixture(at: instant("2026-11-21T10:00:00Z"))
        try await fixture.team(monthly: 10_000_000, alerts: [50, 80, 100])
        func spend(_ key: String, _ amount: MicroUSD) async throws {
            let hold = try await fixture.ledger.hold(request(key, amount: amount)).hold
            try await fixture.ledger.post(holdID: hold.id, amount: amount)
        }
        /// The threshold alerts; the forecast's `projected_overrun` alerts are checked apart.
        func thresholdAlerts() async throws -> [Alert] {
            try await fixture.ledger.alerts(team: "acme").filter { $0.kind == .threshold }
        }
        try await spend("a", 4_999_999)
        #expect(try await thresholdAlerts().isEmpty)
        // 4.999999 in the 154 hours since Nov 15 projects 4.999999 x (1 + 230 / 154) = 12.467530 by
        // the month's end: past 10.00, so the forecast's alert comes first, once.
        var projected = try await fixture.ledger.alerts(team: "acme").filter { $0.kind == .projectedOverrun }
        #expect(projected.map(\.projectedMicro) == [12_467_530])
        #expect(projected.map(\.thresholdPercent) == [100])
        try await spend("b", 1)
        try await spend("c", 1_000_000)
        var alerts = try await thresholdAlerts()
        #expect(alerts.map(\.thresholdPercent) == [50])
        #expect(alerts.first?.spentMicro == 5_000_000)
        try await spend("d", 4_000_000)
        alerts = try await thresholdAlerts()
        #expect(alerts.map(\.thresholdPercent) == [50, 80, 100])
        #expect(alerts.map(\.spentMicro) == [5_000_000, 10_000_000, 10_000_000])
        // The next month starts without alerts.
        fixture.clock.set(instant("2026-12-01T00:00:00Z"))
        try await spend("e", 6_000_000)
        alerts = try await thresholdAlerts()
        #expect(alerts.map { "\($0.periodMonth):\($0.thresholdPercent)" } == ["2026-11:50", "2026-11:80", "2026-11:100", "2026-12:50"])
        // 6.00 in the month's first instant counts as 6.00 an hour (the one-hour floor) for 744 hours.
        projected = try await fixture.ledger.alerts(team: "acme").filter { $0.kind == .projectedOverrun }
        #expect(projected.map { "\($0.periodMonth):\($0.projectedMicro ?? 0)" } == ["2026-11:12467530", "2026-12:4470000000"])
        // Pending amounts do not raise alerts: they count against the limit only.
        _ = try await fixture.ledger.hold(request("f", amount: 4_000_000))
        #expect(try await fixture.ledger.alerts(team: "acme").count == 6)
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        let fixture = try LedgerFixture()
        try await fixture.team()
        await expectLedgerError("invalid_time_zone") { try await fixture.ledger.createTeam(name: "x", timeZone: "Mars/Olympus") }
        await expectLedgerError("team_already_exists") { try await fixture.ledger.createTeam(name: "acme") }
        await expectLedgerError("unknown_team") { try await fixture.ledger.setBudget(team: "ghost", BudgetSettings(monthlyLimitMicro: 1)) }
        await expectLedgerError("invalid_amount") { try await fixture.ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: -1)) }
        await expectLedgerError("invalid_amount") {
            try await fixture.ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 1, creditTopUpMicro: -5))
        }
        await expectLedgerError("invalid_thresholds") {
            try await fixture.ledger.setBudget(team: "acme", BudgetSettings(monthlyLimitMicro: 1, alertThresholds: [0]))
        }
        let budget = try await fixture.ledger.budgetStatus(team: "acme").budget
        #expect(budget.monthlyLimitMicro == 100_000_000)
        #expect(try await fixture.ledger.teams().map(\.name) == ["acme"])
    }

    @Test func cliRefusesBadInputAndLeavesTheLedgerUnchanged() async throws {
        let directory = try temporaryDirectory()
        let db = directory.appendingPathComponent("cli.sqlite").path
        #expect(try VideometerBinary.run(["team", "create", "acme", "--timezone", "Asia/Tokyo", "--db", db]).status == 0)
        #expect(try VideometerBinary.run(["budget", "set", "--team", "acme", "--monthly", "12.50", "--db", db]).status == 0)
        let before = try await snapshot(db)
        let bad: [[String]] = [
            ["team", "create", "x", "--timezone", "Nowhere/City"],
            ["budget", "set", "--team", "ghost", "--monthly", "5"],
            ["budget", "set", "--team", "acme", "--monthly=-5"],
            ["budget", "set", "--team", "acme", "--monthly", "five"],
            ["budget", "set", "--team", "acme", "--monthly", "5", "--daily", "1.0000001"],
            ["budget", "set", "--team", "acme", "--monthly", "5", "--alerts", "50,abc"],
            ["budget", "show", "--team", "ghost"],
            ["ledger", "exercise", "--team", "acme", "--count", "1", "--amount", "0"],
        ]
        for arguments in bad {
            let output = try VideometerBinary.run(arguments + ["--db", db])
            #expect(output.status != 0, "\(arguments)")
            #expect(output.stderr.lowercased().contains("error"), "\(arguments): \(output.stderr)")
        }
        let after = try await snapshot(db)
        #expect(before == after)
        let show = try VideometerBinary.run(["budget", "show", "--team", "acme", "--json", "--db", db])
        #expect(show.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let monthly = try #require(json["monthly"] as? [String: Any])
        #expect(monthly["limit"] as? String == "12.500000")
        #expect(monthly["available"] as? String == "12.500000")
        #expect(try VideometerBinary.run(["ledger", "verify", "--db", db]).status == 0)
    }
}

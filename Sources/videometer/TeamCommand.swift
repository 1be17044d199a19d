import ArgumentParser
import Foundation
import VideoMeterLedger

/// `videometer team`: create and list the teams budgets apply to.
struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team",
        abstract: "Create and list teams.",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team (its budget periods follow its time zone).")

        @Argument(help: "The team's name (unique).")
        var name: String

        @Option(help: ArgumentHelp("IANA time zone of the team's months and days.", valueName: "ZONE"))
        var timezone: String = "UTC"

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("The team name cannot be empty.") }
            guard TimeZone(identifier: timezone) != nil else {
                throw ValidationError("--timezone '\(timezone)' is not an IANA time zone (for example UTC or Europe/Paris).")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let team = try await database.open().createTeam(name: name, timeZone: timezone)
                print("created team \(team.name) (time zone \(team.timeZone))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the teams.")

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await reportingErrors(json: json) {
                let teams = try await database.openExisting().teams()
                if json {
                    try printJSON(teams.map { ["name": $0.name, "time_zone": $0.timeZone] })
                    return
                }
                var table = TextTable(["team", "time zone"])
                for team in teams { table.add([team.name, team.timeZone]) }
                print(table.render())
            }
        }
    }
}

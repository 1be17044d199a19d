import ArgumentParser
import Foundation
import VideoMeterGateway

/// `videometer keys`: the team API keys the gateway accepts.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke the team API keys of the gateway.",
        discussion: "Keys are stored as SHA-256 hashes in the ledger database; a new key is shown once, when created.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a team and print it (the only time it is shown).")

        @Option(help: "The team the key spends for.")
        var team: String

        @Option(help: ArgumentHelp("A label for the key (reports list callers by it).", valueName: "LABEL"))
        var name: String?

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            if let name, name.count > 100 { throw ValidationError("--name is at most 100 characters.") }
        }

        func run() async throws {
            try await reportingErrors {
                let store = try APIKeyStore(ledger: try await database.openExisting())
                let (key, info) = try await store.create(team: team, name: name)
                print(key)
                FileHandle.standardError.write(Data("""
                    created key \(info.prefix)… (id \(info.id)) for team \(info.team)\(info.name.map { ", \"\($0)\"" } ?? "").
                    Store it now: it is not shown again. Use it as `Authorization: Bearer <key>`.

                    """.utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (prefix, team, label, created, revoked); never the keys themselves.")

        @Option(help: "Only this team's keys.")
        var team: String?

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await reportingErrors(json: json) {
                let keys = try await APIKeyStore(ledger: try await database.openExisting()).list(team: team)
                if json {
                    try printJSON(keys.map(KeyJSON.init))
                    return
                }
                guard !keys.isEmpty else {
                    print("No keys; create one with `videometer keys create --team T`.")
                    return
                }
                var table = TextTable(["id", "prefix", "team", "name", "created", "revoked"])
                for key in keys {
                    table.add([String(key.id), key.prefix + "…", key.team, key.name ?? "", isoTimestamp(key.createdAt), key.revokedAt.map(isoTimestamp) ?? ""])
                }
                print(table.render())
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id, prefix or label; the gateway refuses it within a second.")

        @Argument(help: "The key's id, prefix or label (as `keys list` shows them).")
        var key: String

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await reportingErrors {
                let info = try await APIKeyStore(ledger: try await database.openExisting()).revoke(key.replacingOccurrences(of: "…", with: ""))
                print("revoked key \(info.prefix)… (id \(info.id)) of team \(info.team)")
            }
        }
    }
}

/// A key as `keys list --json` prints it: times in ISO 8601, like every other command's JSON.
struct KeyJSON: Encodable {
    var id: Int64
    var prefix: String
    var team: String
    var name: String?
    var createdAt: String
    var revokedAt: String?

    init(_ key: APIKeyInfo) {
        (id, prefix, team, name) = (key.id, key.prefix, key.team, key.name)
        createdAt = isoTimestamp(key.createdAt)
        revokedAt = key.revokedAt.map(isoTimestamp)
    }

    enum CodingKeys: String, CodingKey {
        case id, prefix, team, name
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }
}

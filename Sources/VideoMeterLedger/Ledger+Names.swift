import GRDB

extension Ledger {
    /// The name of the team with that id, or `unknown_team`.
    public func teamName(id: Int64) async throws -> String {
        try await read { db in
            guard let name = try String.fetchOne(db.cachedStatement(sql: "SELECT name FROM team WHERE id = ?"), arguments: [id]) else {
                throw LedgerError.unknownTeam("#\(id)")
            }
            return name
        }
    }
}

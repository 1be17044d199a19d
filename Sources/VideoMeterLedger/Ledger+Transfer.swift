import Foundation
import GRDB
import VideoMeter

extension Ledger {
    /// Reads from a snapshot of the file (WAL): writers carry on, the copy sees the ledger as it was
    /// when it began. A table or column the copy does not know is refused (`ledger_copy_unknown_schema`).
    public func exportRows(batchSize: Int, _ receive: @escaping @Sendable (LedgerTable, [[LedgerValue]]) async throws -> Void) async throws {
        guard let pool = writer as? DatabasePool else { preconditionFailure("the ledger opens a DatabasePool") }
        let snapshot = try pool.makeSnapshot()
        let unknown = try await snapshot.read { db in
            var columns: [String: [String]] = [:]
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") where !table.hasPrefix("sqlite_") {
                columns[table] = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { $0[0] }
            }
            return LedgerTable.unknownSchema(columns, migrationTables: ["grdb_migrations"])
        }
        guard unknown.isEmpty else { throw LedgerCopyError.unknownSchema(unknown) }
        for table in LedgerTable.allCases {
            let columns = table.columns.map(\.name).joined(separator: ", ")
            let key = table.key.joined(separator: ", ")
            var after: [LedgerValue]?
            while true {
                let resume = after
                let rows = try await snapshot.read { db -> [[LedgerValue]] in
                    var arguments: [DatabaseValue] = []
                    var filter = ""
                    if let resume {
                        filter = "WHERE (\(key)) > (\(Array(repeating: "?", count: resume.count).joined(separator: ", ")))"
                        arguments = resume.map(\.databaseValue)
                    }
                    let statement = try db.cachedStatement(sql: "SELECT \(columns) FROM \(table.rawValue) \(filter) ORDER BY \(key) LIMIT \(batchSize)")
                    return try Row.fetchAll(statement, arguments: StatementArguments(arguments)).map { row in
                        (0..<row.count).map { LedgerValue(row[$0] as DatabaseValue) }
                    }
                }
                if rows.isEmpty { break }
                try await receive(table, rows)
                if rows.count < batchSize { break }
                after = table.keyPositions.map { rows[rows.count - 1][$0] }
            }
        }
    }

    /// Writes the whole copy in one `write` transaction on the ledger's writer connection, taking
    /// batches as they arrive (the writer queue may block; the cooperative pool never does).
    public func importRows(replace: Bool, from rows: LedgerRowStream) async throws {
        try await writer.write { db in
            try Self.clear(db, replace: replace)
            var statements: [LedgerTable: Statement] = [:]
            while let batch = try rows.nextBlocking() {
                let statement = try statements[batch.table] ?? db.makeStatement(sql: """
                    INSERT INTO \(batch.table.rawValue) (\(batch.table.columns.map(\.name).joined(separator: ", ")))
                    VALUES (\(Array(repeating: "?", count: batch.table.columns.count).joined(separator: ", ")))
                    """)
                statements[batch.table] = statement
                for row in batch.rows {
                    try statement.execute(arguments: StatementArguments(row.map(\.databaseValue)))
                }
            }
        }
    }

    /// Refuses a ledger with rows, or (`replace`) deletes them all, children first. The journal's
    /// append-only triggers are lifted for the delete and restored in the same transaction.
    static func clear(_ db: Database, replace: Bool) throws {
        for table in LedgerTable.allCases {
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.rawValue))") == true else { continue }
            guard replace else { throw LedgerCopyError.targetNotEmpty(table) }
        }
        guard replace else { return }
        try db.execute(sql: "DROP TRIGGER journalEntry_appendOnly_delete")
        for table in LedgerTable.allCases.reversed() {
            try db.execute(sql: "DELETE FROM \(table.rawValue)")
        }
        try db.execute(sql: """
            CREATE TRIGGER journalEntry_appendOnly_delete BEFORE DELETE ON journalEntry
                BEGIN SELECT RAISE(ABORT, 'journalEntry is append-only'); END
            """)
    }
}

extension LedgerValue {
    init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case .int64(let number): self = .integer(number)
        case .string(let text): self = .text(text)
        case .double, .blob: preconditionFailure("the ledger stores integers and text only")
        }
    }

    var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let number): number.databaseValue
        case .text(let text): text.databaseValue
        }
    }
}

import Foundation
import PostgresNIO
import VideoMeter
import VideoMeterLedger

extension PostgresLedger {
    /// Reads every table in one REPEATABLE READ, read-only transaction on one connection, held
    /// while the batches are handed over: the copy sees the ledger as it was when it began. A table
    /// or column the copy does not know is refused (`ledger_copy_unknown_schema`).
    public func exportRows(batchSize: Int, _ receive: @escaping @Sendable (LedgerTable, [[LedgerValue]]) async throws -> Void) async throws {
        try await read { connection in
            var columns: [String: [String]] = [:]
            for row in try await connection.all("""
                SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns WHERE table_schema = current_schema()
                """, self.logger) {
                columns[try row.string(0), default: []].append(try row.string(1))
            }
            let unknown = LedgerTable.unknownSchema(columns, migrationTables: ["ledgermigration"])
            guard unknown.isEmpty else { throw LedgerCopyError.unknownSchema(unknown) }
            for table in LedgerTable.allCases {
                // Flags travel as integers (the SQLite ledger's 0 and 1).
                let columns = table.columns.map { $0.kind == .boolean ? "\($0.name)::INT4::INT8" : $0.name }.joined(separator: ", ")
                let key = table.key.joined(separator: ", ")
                var after: [LedgerValue]?
                while true {
                    var binds = PostgresBindings()
                    var filter = ""
                    if let after {
                        let kinds = table.key.map { name in table.columns.first { $0.name == name }!.kind }
                        filter = "WHERE (\(key)) > (" + zip(after, kinds).enumerated().map { index, pair in
                            Self.bind(pair.0, pair.1, into: &binds)
                            return "$\(index + 1)"
                        }.joined(separator: ", ") + ")"
                    }
                    let query = PostgresQuery(
                        unsafeSQL: "SELECT \(columns) FROM \(table.rawValue) \(filter) ORDER BY \(key) LIMIT \(batchSize)", binds: binds)
                    let rows = try await connection.all(query, self.logger).map { row in
                        try table.columns.indices.map { index -> LedgerValue in
                            switch table.columns[index].kind {
                            case .text: return try row.optionalString(index).map(LedgerValue.text) ?? .null
                            case .integer, .boolean: return try row.optionalInt64(index).map(LedgerValue.integer) ?? .null
                            }
                        }
                    }
                    if rows.isEmpty { break }
                    try await receive(table, rows)
                    if rows.count < batchSize { break }
                    after = table.keyPositions.map { rows[rows.count - 1][$0] }
                }
            }
        }
    }

    /// Writes the whole copy in one transaction on one connection of the pool: every table locked
    /// against writers first (EXCLUSIVE: readers carry on), then the batches as multi-row INSERTs,
    /// then each identity moved past the highest id, then COMMIT.
    public func importRows(replace: Bool, from rows: LedgerRowStream) async throws {
        do {
            try await client.withConnection { connection in
                let logger = self.logger
                try await connection.run("BEGIN", logger)
                do {
                    let tables = LedgerTable.allCases.map(\.rawValue).joined(separator: ", ")
                    try await connection.run(PostgresQuery(unsafeSQL: "LOCK TABLE \(tables) IN EXCLUSIVE MODE"), logger)
                    for table in LedgerTable.allCases {
                        let found = try await connection.first(PostgresQuery(
                            unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table.rawValue))"), logger)?.bool(0) ?? false
                        if found && !replace { throw LedgerCopyError.targetNotEmpty(table) }
                    }
                    if replace {
                        // The journal is append-only; only a copy that replaces a whole ledger lifts
                        // that, inside its own transaction.
                        try await connection.run("ALTER TABLE journalEntry DISABLE TRIGGER journalEntry_appendOnly_update", logger)
                        for table in LedgerTable.allCases.reversed() {
                            try await connection.run(PostgresQuery(unsafeSQL: "DELETE FROM \(table.rawValue)"), logger)
                        }
                        try await connection.run("ALTER TABLE journalEntry ENABLE TRIGGER journalEntry_appendOnly_update", logger)
                    }
                    while let batch = try await rows.next() {
                        try await connection.run(Self.insert(batch.table, batch.rows), logger)
                    }
                    for table in LedgerTable.allCases where table.numbersRows {
                        try await connection.run(PostgresQuery(unsafeSQL: """
                            SELECT setval(pg_get_serial_sequence('\(table.rawValue.lowercased())', 'id'),
                                COALESCE((SELECT MAX(id) FROM \(table.rawValue)), 0) + 1, false)
                            """), logger)
                    }
                    try await connection.run("COMMIT", logger)
                } catch {
                    try? await connection.run("ROLLBACK", logger)
                    throw error
                }
            }
        } catch let error as LedgerCopyError {
            throw error
        } catch {
            throw PostgresLedgerError.from(error)
        }
    }

    /// One multi-row INSERT of a batch; every value a bound parameter, cast to its column's type.
    static func insert(_ table: LedgerTable, _ rows: [[LedgerValue]]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: rows.count * table.columns.count)
        var values: [String] = []
        values.reserveCapacity(rows.count)
        for row in rows {
            var cells: [String] = []
            for (value, column) in zip(row, table.columns) {
                bind(value, column.kind, into: &binds)
                switch column.kind {
                case .integer: cells.append("$\(binds.count)::INT8")
                case .text: cells.append("$\(binds.count)::TEXT")
                case .boolean: cells.append("($\(binds.count)::INT8 <> 0)")
                }
            }
            values.append("(" + cells.joined(separator: ", ") + ")")
        }
        return PostgresQuery(unsafeSQL: """
            INSERT INTO \(table.rawValue) (\(table.columns.map(\.name).joined(separator: ", "))) VALUES \(values.joined(separator: ", "))
            """, binds: binds)
    }

    static func bind(_ value: LedgerValue, _ kind: LedgerTable.Kind, into binds: inout PostgresBindings) {
        switch value {
        case .null: kind == .text ? binds.append(String?.none) : binds.append(Int64?.none)
        case .integer(let number): binds.append(number)
        case .text(let text): binds.append(text)
        }
    }
}

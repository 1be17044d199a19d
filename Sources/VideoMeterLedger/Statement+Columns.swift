import GRDB
import GRDBSQLite

extension Statement {
    /// Runs this (cached) query with `arguments` and reads its first row by column position, or
    /// returns nil when there is none.
    ///
    /// The ledger's commit thread runs a few small reads per operation; a GRDB `Row` lowercases and
    /// indexes every column name of each row it fetches, which cost more than the queries
    /// themselves. Reading by position skips that.
    func firstRow<T>(_ arguments: StatementArguments, _ read: (Columns) -> T) throws -> T? {
        try setArguments(arguments)
        defer { sqlite3_reset(sqliteStatement) }
        let code = sqlite3_step(sqliteStatement)
        switch code {
        case SQLITE_ROW:
            return read(Columns(statement: sqliteStatement))
        case SQLITE_DONE:
            return nil
        default:
            let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement)))
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
        }
    }

    /// Runs this (cached) query with `arguments` and reads every row by column position.
    func allRows<T>(_ arguments: StatementArguments, _ read: (Columns) -> T) throws -> [T] {
        try setArguments(arguments)
        defer { sqlite3_reset(sqliteStatement) }
        var rows: [T] = []
        while true {
            let code = sqlite3_step(sqliteStatement)
            switch code {
            case SQLITE_ROW:
                rows.append(read(Columns(statement: sqliteStatement)))
            case SQLITE_DONE:
                return rows
            default:
                let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement)))
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
            }
        }
    }

    /// The current row of a stepped statement, read by column position (0-based).
    struct Columns {
        let statement: SQLiteStatement

        func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(statement, index) }

        func int(_ index: Int32) -> Int { Int(sqlite3_column_int64(statement, index)) }

        func bool(_ index: Int32) -> Bool { sqlite3_column_int64(statement, index) != 0 }

        func optionalInt64(_ index: Int32) -> Int64? {
            sqlite3_column_type(statement, index) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, index)
        }

        func string(_ index: Int32) -> String { optionalString(index) ?? "" }

        func optionalString(_ index: Int32) -> String? {
            guard let text = sqlite3_column_text(statement, index) else { return nil }
            return String(cString: text)
        }
    }
}

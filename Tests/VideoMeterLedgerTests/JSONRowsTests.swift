import Foundation
import Logging
import PostgresNIO
import Testing
import VideoMeterTesting
@testable import VideoMeterLedgerPostgres

/// The hand-written JSON that carries a batch's rows to PostgreSQL: every text comes back exactly
/// as written (quotes, backslashes, control characters, any Unicode), through Foundation's parser
/// and through the server's `jsonb_to_recordset`, and integers keep every digit.
@Suite("Rows sent to PostgreSQL as JSON")
struct JSONRowsTests {
    static let texts = [
        "", "plain", "a \"quoted\" word", "back\\slash", "line\nbreak\r\n", "tab\there", "\u{01}\u{1F}\u{7F}",
        "é 日本 🎬", "{\"json\": [1, \"two\"]}", "\\u0041 is not an escape here", "/slash/",
    ]

    func rows() -> [[String: any JSONCell]] {
        Self.texts.enumerated().map { index, text in
            [
                "n": index, "s": text, "big": index % 2 == 0 ? Int64.max : Int64.min + 1, "flag": index % 3 == 0,
                "maybe": json(index % 2 == 0 ? nil : text),
            ]
        }
    }

    @Test func foundationReadsBackEveryValue() throws {
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(jsonRows(rows()).utf8)) as? [[String: Any]])
        #expect(parsed.count == Self.texts.count)
        for (index, row) in parsed.enumerated() {
            #expect(row["n"] as? Int == index)
            #expect(row["s"] as? String == Self.texts[index])
            #expect((row["big"] as? NSNumber)?.int64Value == (index % 2 == 0 ? Int64.max : Int64.min + 1))
            #expect(row["flag"] as? Bool == (index % 3 == 0))
            if index % 2 == 0 {
                #expect(row["maybe"] is NSNull)
            } else {
                #expect(row["maybe"] as? String == Self.texts[index])
            }
        }
        #expect(jsonRows([]) == "[]")
    }

    @Test func theServerReadsBackEveryValue() async throws {
        guard let configuration = try await PostgresTestServer.shared.freshDatabase() else { return }
        let logger = Logger(label: "videometer.tests.json-rows")
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: 1, logger: logger)
        defer { Task { try? await connection.close() } }
        let document = jsonRows(rows())
        let read = try await connection.query("""
            SELECT n, s, big, flag, maybe FROM jsonb_to_recordset(\(document)::jsonb)
                AS r(n BIGINT, s TEXT, big BIGINT, flag BOOLEAN, maybe TEXT) ORDER BY n
            """, logger: logger).collect()
        #expect(read.count == Self.texts.count)
        // NUL, which no PostgreSQL text holds, arrives as U+FFFD instead of failing the write.
        let nul = try await connection.query(
            "SELECT s FROM jsonb_to_recordset(\(jsonRows([["s": "a\u{0}b"]]))::jsonb) AS r(s TEXT)", logger: logger).collect()
        #expect(try nul.first?.decode(String.self) == "a\u{FFFD}b")
        for (index, row) in read.enumerated() {
            let (n, s, big, flag, maybe) = try row.decode((Int64, String, Int64, Bool, String?).self)
            #expect(n == Int64(index))
            #expect(s == Self.texts[index])
            #expect(big == (index % 2 == 0 ? Int64.max : Int64.min + 1))
            #expect(flag == (index % 3 == 0))
            #expect(maybe == (index % 2 == 0 ? nil : Self.texts[index]))
        }
    }
}

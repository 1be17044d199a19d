import Foundation
import GRDB
import Testing
@testable import VideoMeterLedger

/// Group commit: operations share transactions, each in a savepoint of its own.
@Suite struct GroupCommitTests {
    struct Refused: Error {}

    @Test func anOperationThatFailsAfterWritingIsUndoneAloneWhileItsBatchCommits() async throws {
        let fixture = try LedgerFixture()
        let count = 200
        // Concurrent operations land in shared transactions; every odd one writes a row and then
        // fails, as a refusal found after a partial write would.
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<count {
                group.addTask {
                    do {
                        try await fixture.ledger.commits.perform { db in
                            try db.execute(sql: "INSERT INTO team (name, timeZone, createdAt) VALUES (?, 'UTC', 0)", arguments: ["t\(index)"])
                            if index % 2 == 1 { throw Refused() }
                        }
                        return (index, true)
                    } catch is Refused {
                        return (index, false)
                    }
                }
            }
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == count)
        #expect(results.allSatisfy { $0.value == ($0.key % 2 == 0) })
        let names = try await fixture.ledger.teams().map(\.name)
        #expect(Set(names) == Set((0..<count).filter { $0 % 2 == 0 }.map { "t\($0)" }))
    }
}

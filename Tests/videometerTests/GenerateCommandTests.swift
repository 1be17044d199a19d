import Foundation
import Testing

@Suite("videometer generate --out")
struct GenerateCommandTests {
    /// Where the video is to be saved is checked before anything is held or sent: a call whose
    /// video cannot be saved would still be paid for.
    @Test(arguments: ["missing-directory/video.mp4", "."])
    func anOutPathThatCannotBeWrittenIsRefusedBeforeAnythingIsHeld(_ out: String) async throws {
        let workspace = try await ReportCommandTests.Workspace()
        let path = workspace.directory.appendingPathComponent(out).path
        let result = try await workspace.run([
            "generate", "--team", "studio", "--model", "bytedance/seedance-1.5-pro", "--prompt", "a cat",
            "--sandbox-latency-ms", "0", "--out", path,
        ])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--out '\(path)'"), "\(result.stderr)")
        let holds = try await workspace.run(["ledger", "holds", "--all", "--json"])
        #expect(holds.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(holds.stdout.utf8)) as? [Any])?.isEmpty == true, "\(holds.stdout)")
    }

    @Test func theVideoIsSavedWhereOutSays() async throws {
        let workspace = try await ReportCommandTests.Workspace()
        let path = workspace.directory.appendingPathComponent("cat.mp4").path
        let result = try await workspace.run([
            "generate", "--team", "studio", "--model", "bytedance/seedance-1.5-pro", "--prompt", "a cat",
            "--sandbox-latency-ms", "0", "--out", path, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(outcome["charged"] as? String == "0.157500")
        #expect(outcome["saved_to"] as? String == path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count > 0)
    }
}

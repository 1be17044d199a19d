import Foundation
import Testing
import VideoMeter
import VideoMeterCatalog
import VideoMeterEmulator
import VideoMeterGateway
import VideoMeterProviders
import VideoMeterSellers
import VideoMeterTesting

/// One registration per seller: its catalog, client, gateway dialect and emulator style agree.
@Suite struct SellerRegistryTests {
    @Test func everyCatalogProviderIsARegisteredSellerAndNoOtherIs() throws {
        let catalog = try Catalog.bundled()
        #expect(Sellers.all.map(\.id).sorted() == catalog.providers.map(\.id).sorted())
        #expect(Set(Sellers.dialects.keys) == Set(catalog.providers.map(\.id)))
        for seller in Sellers.all {
            #expect(seller.dialect.providerID == seller.id)
            #expect(Sellers.emulatorStyle(named: seller.emulatorStyle.name) == seller.emulatorStyle)
        }
    }

    @Test(arguments: Sellers.all.map(\.id))
    func eachSellersSandboxClientGeneratesAgainstItsEmulator(_ id: String) async throws {
        let seller = try #require(Sellers.seller(id))
        let catalog = try Catalog.bundled()
        let version = try #require(catalog.provider(id)?.version(at: TestClock.start))
        let model = try #require(version.models.first { !$0.requiresImage })
        let emulator = Emulator(seller.sandboxEmulator(.milliseconds(1), 7))
        _ = try await emulator.start()
        defer { Task { await emulator.shutdown() } }
        let client = try seller.sandboxClient(await emulator.baseURL!, testHTTPClient, PollPolicy(initialInterval: .milliseconds(2), maxInterval: .milliseconds(5), deadline: .seconds(10)))
        #expect(client.style == model.apiStyle)
        #expect(try seller.configuredClient([:], testHTTPClient, PollPolicy()) == nil, "unconfigured means sandbox")
        switch try await client.submit(GenerationRequest(model: model.id, prompt: "a kite"), idempotencyKey: "registry-\(id)") {
        case .completed(let result):
            #expect(!result.videos.isEmpty)
        case .task(let taskID):
            try await eventually { try await client.status(taskID: taskID).state.isTerminal }
            #expect(try await client.status(taskID: taskID).state == .succeeded)
        }
    }

    @Test func theDialectOfTheModelsSellerReadsTheBody() throws {
        let catalog = try Catalog.bundled()
        let sync = try GenerationBody.parse(
            Array(#"{"model": "bytedance/seedance-1.5-pro", "prompt": "p", "duration_seconds": 5}"#.utf8), catalog: catalog,
            at: TestClock.start, dialects: Sellers.dialects)
        #expect(sync == GenerationBody(provider: "blockrun", model: "bytedance/seedance-1.5-pro", style: .sync, prompt: "p", durationSeconds: 5))
        let task = try GenerationBody.parse(
            Array(#"{"model": "grok-imagine-video", "prompt": "p", "duration": 6, "resolution": "480p", "image": {"url": "https://x.test/a.png"}}"#.utf8),
            catalog: catalog, at: TestClock.start, dialects: Sellers.dialects)
        #expect(task == GenerationBody(
            provider: "worldrouter", model: "grok-imagine-video", style: .async, prompt: "p", durationSeconds: 6, resolution: "480p",
            imageURL: "https://x.test/a.png"))
        // A seller the catalog prices but the gateway was not given a dialect for.
        #expect(throws: (any Error).self) {
            try GenerationBody.parse(Array(#"{"model": "grok-imagine-video", "prompt": "p"}"#.utf8), catalog: catalog, at: TestClock.start, dialects: [:])
        }
    }
}

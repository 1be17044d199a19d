import Foundation
import Testing
import VideoMeter

@Suite("Hex")
struct HexTests {
    @Test func everyByteIsTwoLowerCaseDigitsAsPrintfWritesThem() {
        let bytes = (0...255).map(UInt8.init)
        #expect(Hex.encode(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.encode([0x00, 0x0F, 0xAB, 0xFF]) == "000fabff")
        #expect(Hex.encode([UInt8]()) == "")
    }
}

import Foundation
import Testing
@testable import VideoMeter

/// `CatalogDate.format` writes whole seconds without a formatter: the same text as
/// `ISO8601DateFormatter`, on seeded instants across years 1 to 9999 (before 1601 it is the
/// formatter's text: the Julian calendar), fractions and negatives included.
@Suite("Catalog dates")
struct CatalogDateTests {
    static func formatterText(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    @Test func wholeSecondsAreWrittenAsTheISOFormatterWritesThem() {
        var generator = SplitMix64(seed: 20_261_205)
        var instants: [TimeInterval] = [
            0, -1, -0.5, 0.999, 59.999, 86_399.5, 951_782_400, 951_868_799, 4_107_542_400, 1_798_761_599, 1_798_761_600,
            -62_135_596_800, -11_644_473_600, -11_644_473_601, 253_402_300_799, -2_208_988_800, 1_774_994_400.25,
        ]
        for _ in 0..<5000 {
            let seconds = Int64(generator.next() % 315_537_897_600) - 62_135_596_800
            let fraction = Double(generator.next() % 1000) / 1000
            instants.append(TimeInterval(seconds) + fraction)
        }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(CatalogDate.format(date) == Self.formatterText(date), "at \(instant)")
        }
        #expect(CatalogDate.format(Date(timeIntervalSince1970: 1_798_761_600)) == "2027-01-01T00:00:00Z")
        #expect(CatalogDate.formatToTheSecond(-11_644_473_600) == "1601-01-01T00:00:00Z")
        #expect(CatalogDate.formatToTheSecond(253_402_300_800) == nil)
    }
}

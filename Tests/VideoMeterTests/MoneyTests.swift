import Foundation
import Testing
import VideoMeter

@Suite("Money")
struct MoneyTests {
    @Test func microUnitsRoundHalfUpOnce() {
        #expect(Money.microUnits(Decimal(string: "0.1575")!) == 157_500)
        #expect(Money.microUnits(Decimal(string: "0.0000005")!) == 1)
        #expect(Money.microUnits(Decimal(string: "0.0000004999")!) == 0)
        #expect(Money.microUnits(Decimal(string: "0.0000025")!, rounding: .halfEven) == 2)
        #expect(Money.microUnits(Decimal(string: "123456.789012")!) == 123_456_789_012)
        #expect(Money.microUnits(Decimal(string: "-1.5")!) == -1_500_000)
    }

    @Test func dollarsAndMicroRoundTrip() {
        #expect(Money.dollars(157_500) == Decimal(string: "0.1575")!)
        #expect(Money.format(micro: 157_500) == "0.157500")
        #expect(Money.format(micro: -1) == "-0.000001")
        #expect(Money.format(micro: 12_000_000) == "12.000000")
    }

    @Test func formatPadsToTheScale() {
        #expect(Money.format(Decimal(string: "0.42")!, scale: 3) == "0.420")
        #expect(Money.format(Decimal(string: "1.5")!, scale: 0) == "2")
        #expect(Money.format(Decimal(7), scale: 2) == "7.00")
        #expect(Money.format(Decimal(string: "0.7875")!, scale: 3) == "0.788")
    }

    @Test func parseAcceptsPlainDecimalsOnly() {
        #expect(Money.parse("0.050") == Decimal(string: "0.05")!)
        #expect(Money.parse("12") == 12)
        #expect(Money.parse("-3.25") == Decimal(string: "-3.25")!)
        for bad in ["", "1e3", "1,000", "0x10", "NaN", "1.2.3", "$5", "five", "-"] {
            #expect(Money.parse(bad) == nil, "\(bad) should not parse")
        }
    }

    @Test func parseMicroRefusesMoreThanSixPlaces() {
        #expect(Money.parseMicro("12.50") == 12_500_000)
        #expect(Money.parseMicro("0.000001") == 1)
        #expect(Money.parseMicro("0.0000001") == nil)
        #expect(Money.parseMicro("abc") == nil)
    }
}

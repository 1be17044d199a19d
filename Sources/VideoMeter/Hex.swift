/// Lower-case hexadecimal text of bytes (digests in keys and fingerprints), two characters a byte.
///
/// Written out by hand: `String(format: "%02x")` per byte goes through Foundation's formatter and
/// cost about 3 % of the gateway's CPU at 200 clients (docs/GATEWAY.md, "Where the time goes").
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            utf8.append(digits[Int(byte >> 4)])
            utf8.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }
}

/// RFC 4180 CSV: fields that contain a comma, a double quote, CR or LF are quoted, double quotes
/// inside them doubled; records end with CRLF, the header record included.
public struct CSVWriter: Sendable {
    public static let lineEnding = "\r\n"
    public private(set) var text = ""

    public init(header: [String]) { append(header) }

    /// A writer for data records only, without a header record.
    public init() {}

    public mutating func append(_ fields: [String]) {
        text += fields.map(Self.field).joined(separator: ",") + Self.lineEnding
    }

    /// One field, quoted when RFC 4180 requires it.
    public static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

import Foundation

/// A credential (API key, payment header) that never prints: `description` and `debugDescription`
/// are `[redacted]`, so it cannot leak through string interpolation, logs or errors.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The value, to put in a header and nowhere else.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "[redacted]" }
    public var debugDescription: String { "[redacted]" }

    /// `text` with every occurrence of the secret replaced, for upstream messages that echo it.
    func redact(_ text: String) -> String {
        guard value.count >= 4 else { return text }
        return text.replacingOccurrences(of: value, with: "[redacted]")
    }
}

/// A value of a row that a batch sends to PostgreSQL as JSON (read back by `jsonb_to_recordset`):
/// an integer, a text, a flag, or null. Written by hand: `JSONSerialization` over `[String: Any]`
/// bridged every row to `NSDictionary` and cast every value, two thirds of the group committer's
/// CPU at 64 callers.
protocol JSONCell {
    func writeJSON(into text: inout String)
}

extension Int: JSONCell {
    func writeJSON(into text: inout String) { text += String(self) }
}

extension Int64: JSONCell {
    func writeJSON(into text: inout String) { text += String(self) }
}

extension Bool: JSONCell {
    func writeJSON(into text: inout String) { text += self ? "true" : "false" }
}

extension String: JSONCell {
    /// A JSON string: `"` and `\` escaped, control characters as `\u00XX`, everything else as is
    /// (UTF-8 text is valid JSON). NUL, which no PostgreSQL text can hold (`jsonb` refuses
    /// `\u0000`), becomes U+FFFD: a NUL in, say, an upstream's video URL must not make the charge
    /// of a call the seller made fail for good.
    func writeJSON(into text: inout String) {
        text += "\""
        var plain = true
        for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            plain = false
            break
        }
        if plain {
            text += self
        } else {
            for scalar in unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case "\u{0}": text += "\u{FFFD}"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}

/// JSON null.
struct JSONNull: JSONCell {
    func writeJSON(into text: inout String) { text += "null" }
}

/// A cell for an optional value: the value, or null.
func json<T: JSONCell>(_ value: T?) -> any JSONCell {
    value.map { $0 as any JSONCell } ?? JSONNull()
}

/// Rows as a JSON array of objects, for `jsonb_to_recordset` (keys in lower case, as PostgreSQL
/// folds the column names; keys are plain ASCII names, written as they are).
func jsonRows(_ rows: [[String: any JSONCell]]) -> String {
    var text = "["
    text.reserveCapacity(rows.count * 640)
    for (index, row) in rows.enumerated() {
        text += index == 0 ? "{" : ",{"
        var first = true
        for (key, value) in row {
            text += first ? "\"" : ",\""
            first = false
            text += key
            text += "\":"
            value.writeJSON(into: &text)
        }
        text += "}"
    }
    text += "]"
    return text
}

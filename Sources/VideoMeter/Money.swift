import Foundation

/// An amount in micro-dollars (1 USD = 1,000,000), the ledger's unit of account.
///
/// Six decimal places is the scale of USDC and of x402 payments, so every upstream price can be
/// settled exactly. The ledger stores and sums only these integers.
public typealias MicroUSD = Int64

/// How a decimal amount is rounded to a scale.
public enum RoundingRule: String, Sendable, Codable, CaseIterable {
    /// Ties go away from zero: 0.1575 -> 0.158 at scale 3.
    case halfUp = "half_up"
    /// Ties go to the even neighbour: 0.1575 -> 0.158, 0.1585 -> 0.158.
    case halfEven = "half_even"
    /// Towards positive infinity.
    case up
    /// Towards negative infinity (Foundation's `.down`; the same as towards zero for the
    /// non-negative amounts that prices and charges are).
    case down

    var foundationMode: NSDecimalNumber.RoundingMode {
        switch self {
        case .halfUp: return .plain
        case .halfEven: return .bankers
        case .up: return .up
        case .down: return .down
        }
    }
}

/// Exact money arithmetic helpers. Amounts are `Decimal`; nothing here touches floating point.
public enum Money {
    /// The settlement scale of the ledger: micro-dollars.
    public static let microScale = 6
    static let microFactor = Decimal(1_000_000)

    /// Rounds `value` to `scale` decimal places with `rule`.
    public static func round(_ value: Decimal, scale: Int, _ rule: RoundingRule) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, scale, rule.foundationMode)
        return result
    }

    /// Converts a dollar amount to micro-dollars: the one documented rounding step between the
    /// pricing engine and the ledger. `amount` is first rounded to scale 6 with `rule`, so the
    /// conversion itself is exact.
    public static func microUnits(_ amount: Decimal, rounding rule: RoundingRule = .halfUp) -> MicroUSD {
        let rounded = round(amount, scale: microScale, rule) * microFactor
        // `rounded` is an integer now; go through its exact decimal text, never through Double.
        let text = NSDecimalNumber(decimal: rounded).stringValue
        guard let units = MicroUSD(text) else {
            preconditionFailure("amount \(text) micro-dollars does not fit in 64 bits")
        }
        return units
    }

    /// Converts micro-dollars back to an exact dollar amount.
    public static func dollars(_ units: MicroUSD) -> Decimal {
        Decimal(units) / microFactor
    }

    /// Parses a decimal string such as `"0.050"` or `"-1.5"`; `nil` for anything else
    /// (exponents, thousands separators, empty strings, NaN).
    public static func parse(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var digitsSeen = false
        var dotSeen = false
        for (index, scalar) in trimmed.unicodeScalars.enumerated() {
            switch scalar {
            case "0"..."9": digitsSeen = true
            case "." where !dotSeen: dotSeen = true
            case "-" where index == 0, "+" where index == 0: continue
            default: return nil
            }
        }
        guard digitsSeen else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// Formats `amount` with exactly `scale` decimal places (rounded with `rule`), e.g. `"0.158"`.
    public static func format(_ amount: Decimal, scale: Int, _ rule: RoundingRule = .halfUp) -> String {
        let rounded = round(amount, scale: scale, rule)
        var text = NSDecimalNumber(decimal: rounded).stringValue
        if scale <= 0 { return text }
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: text.index(after: dot), to: text.endIndex)
            if decimals < scale { text += String(repeating: "0", count: scale - decimals) }
        } else {
            text += "." + String(repeating: "0", count: scale)
        }
        return text
    }

    /// Formats micro-dollars as a dollar string with 6 decimals, e.g. `"0.157500"`.
    public static func format(micro units: MicroUSD) -> String {
        let sign = units < 0 ? "-" : ""
        let magnitude = units.magnitude
        let whole = magnitude / 1_000_000
        let fraction = magnitude % 1_000_000
        let fractionText = String(fraction)
        return "\(sign)\(whole).\(String(repeating: "0", count: 6 - fractionText.count))\(fractionText)"
    }

    /// Parses a user-typed dollar amount (`"12.50"`) into micro-dollars; `nil` when it is not a plain
    /// decimal or has more than 6 decimal places.
    public static func parseMicro(_ text: String) -> MicroUSD? {
        guard let value = parse(text) else { return nil }
        let units = value * microFactor
        guard round(units, scale: 0, .down) == units else { return nil }
        return MicroUSD(NSDecimalNumber(decimal: units).stringValue)
    }
}

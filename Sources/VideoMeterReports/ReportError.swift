import VideoMeter

/// An error a monthly report returns instead of a report: bad input or a template that cannot be used.
///
/// Codes are stable (docs/REPORTS.md lists them): `invalid_month`, `unknown_team`,
/// `invalid_time_zone`, `invalid_template`.
public struct ReportError: CodedError, Equatable {
    private enum Kind: Equatable {
        case invalidMonth(String)
        case unknownTeam(String)
        case invalidTimeZone(String)
        case invalidTemplate(name: String, detail: String)
    }

    private let kind: Kind

    public static func invalidMonth(_ text: String) -> Self { Self(kind: .invalidMonth(text)) }
    public static func unknownTeam(_ name: String) -> Self { Self(kind: .unknownTeam(name)) }
    public static func invalidTimeZone(_ identifier: String) -> Self { Self(kind: .invalidTimeZone(identifier)) }
    public static func invalidTemplate(name: String, detail: String) -> Self {
        Self(kind: .invalidTemplate(name: name, detail: detail))
    }

    /// Every code a report error can carry.
    public static let allCodes = ["invalid_month", "unknown_team", "invalid_time_zone", "invalid_template"]

    public var code: String {
        switch kind {
        case .invalidMonth: "invalid_month"
        case .unknownTeam: "unknown_team"
        case .invalidTimeZone: "invalid_time_zone"
        case .invalidTemplate: "invalid_template"
        }
    }

    public var message: String {
        switch kind {
        case .invalidMonth(let text):
            "'\(text)' is not a month; write it as YYYY-MM, for example 2026-11."
        case .unknownTeam(let name):
            "No team is named '\(name)'; `videometer team create` creates one."
        case .invalidTimeZone(let zone):
            "'\(zone)' is not an IANA time zone (for example UTC or Europe/Paris)."
        case .invalidTemplate(let name, let detail):
            "The report template '\(name)' cannot be used: \(detail)"
        }
    }
}

/// An output format of `videometer report`.
public enum ReportFormat: String, Sendable, CaseIterable {
    /// RFC 4180 comma-separated values, CRLF line endings, one row per line item.
    case csv
    /// One JSON object; amounts are decimal strings.
    case json
    /// Markdown, from the `monthly.md` template.
    case md
    /// One self-contained HTML file with inline CSS and SVG charts, from the `monthly.html` template.
    case html

    /// The file name of this format's report for `month`, e.g. `videometer-2026-11.csv`.
    public func fileName(month: ReportMonth) -> String {
        "videometer-\(month).\(rawValue)"
    }

    /// The file name of the per-call usage CSV (`--detail`), e.g. `videometer-2026-11-detail.csv`.
    public static func detailFileName(month: ReportMonth) -> String {
        "videometer-\(month)-detail.csv"
    }
}

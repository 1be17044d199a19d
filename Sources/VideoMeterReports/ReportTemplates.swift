import Foundation
import Mustache

/// The Mustache templates of the Markdown and HTML reports.
///
/// Which copy is used, per template: the file in the directory given with `--templates DIR`; else
/// the file in `reports/` under the current directory, when there is one; else the default compiled
/// into the binary (``EmbeddedTemplates``, identical to the files in the repository's `reports/`).
public struct ReportTemplates: Sendable {
    /// `monthly.md.mustache`
    public var markdown: MustacheTemplate
    /// `monthly.html.mustache`
    public var html: MustacheTemplate
    /// Where each template came from, for messages: a file path or `embedded`.
    public var sources: [String: String]

    public static let markdownFileName = "monthly.md.mustache"
    public static let htmlFileName = "monthly.html.mustache"

    /// The defaults compiled into the binary.
    public static var embedded: ReportTemplates {
        // The embedded templates are tested to parse; failing here is a programmer error.
        guard let templates = try? ReportTemplates(markdown: EmbeddedTemplates.markdown, html: EmbeddedTemplates.html) else {
            preconditionFailure("the embedded report templates do not parse")
        }
        return templates
    }

    /// Parses two template texts.
    public init(markdown: String, html: String) throws(ReportError) {
        Self.registerContentTypes
        self.markdown = try Self.parse(markdown, name: Self.markdownFileName)
        self.html = try Self.parse(html, name: Self.htmlFileName)
        self.sources = [Self.markdownFileName: "embedded", Self.htmlFileName: "embedded"]
    }

    /// Loads the templates: `directory` (which must exist) when given, else `./reports/` where it has
    /// the file, else the embedded default — template by template.
    public static func load(directory: String?, currentDirectory: String = FileManager.default.currentDirectoryPath) throws(ReportError) -> ReportTemplates {
        var isDirectory: ObjCBool = false
        if let directory, !(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw .invalidTemplate(name: directory, detail: "--templates must name a directory containing \(markdownFileName) and/or \(htmlFileName).")
        }
        let searched = directory ?? URL(fileURLWithPath: currentDirectory).appendingPathComponent("reports").path
        var texts: [String: String] = [markdownFileName: EmbeddedTemplates.markdown, htmlFileName: EmbeddedTemplates.html]
        var sources = [markdownFileName: "embedded", htmlFileName: "embedded"]
        for name in [markdownFileName, htmlFileName] {
            let path = URL(fileURLWithPath: searched).appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .invalidTemplate(name: path, detail: "the file cannot be read.")
            }
            texts[name] = String(decoding: data, as: UTF8.self)
            sources[name] = path
        }
        var templates = try ReportTemplates(markdown: texts[markdownFileName]!, html: texts[htmlFileName]!)
        templates.sources = sources
        return templates
    }

    static func parse(_ text: String, name: String) throws(ReportError) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: text)
        } catch {
            throw .invalidTemplate(name: name, detail: "\(error)")
        }
    }

    /// `{{% CONTENT_TYPE: MARKDOWN}}` escapes what would break a Markdown table cell.
    static let registerContentTypes: Void = {
        MustacheContentTypes.register(MarkdownContentType(), named: "MARKDOWN")
    }()
}

/// Escapes text for a Markdown table cell: pipes, backslashes, angle brackets and line breaks.
struct MarkdownContentType: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "|": escaped += "\\|"
            case "\\": escaped += "\\\\"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\n", "\r", "\r\n": escaped += " "
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

import Foundation
import Mustache

/// The Mustache templates of the Markdown and HTML reports.
///
/// Which copy is used, per template: the file in the directory given with `--templates DIR`; else
/// the file in `reports/` under the current directory, when there is one; else the default compiled
/// into the binary (``EmbeddedTemplates``, identical to the files in the repository's `reports/`).
/// Only the templates of the formats asked for are read and parsed, so a broken HTML template does
/// not stop a CSV report.
public struct ReportTemplates: Sendable {
    private var parsed: [ReportFormat: MustacheTemplate]
    /// Where each loaded template came from, by file name: a file path or `built-in`.
    public private(set) var sources: [String: String]

    public static let markdownFileName = "monthly.md.mustache"
    public static let htmlFileName = "monthly.html.mustache"
    /// How ``sources`` names the copy compiled into the binary.
    public static let builtIn = "built-in"

    /// The template file of a format, or `nil` for the fixed formats (CSV, JSON).
    public static func fileName(for format: ReportFormat) -> String? {
        switch format {
        case .md: markdownFileName
        case .html: htmlFileName
        case .csv, .json: nil
        }
    }

    static func embeddedText(for format: ReportFormat) -> String? {
        switch format {
        case .md: EmbeddedTemplates.markdown
        case .html: EmbeddedTemplates.html
        case .csv, .json: nil
        }
    }

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
        parsed = [.md: try Self.parse(markdown, name: Self.markdownFileName), .html: try Self.parse(html, name: Self.htmlFileName)]
        sources = [Self.markdownFileName: Self.builtIn, Self.htmlFileName: Self.builtIn]
    }

    private init(parsed: [ReportFormat: MustacheTemplate], sources: [String: String]) {
        self.parsed = parsed
        self.sources = sources
    }

    /// Loads the templates of `formats`: from `directory` (which must exist) when given, else from
    /// `./reports/` where it has the file, else the built-in copy — template by template.
    public static func load(
        directory: String?, formats: some Sequence<ReportFormat> = [ReportFormat.md, .html],
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ReportError) -> ReportTemplates {
        var isDirectory: ObjCBool = false
        if let directory, !(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw .invalidTemplate(name: directory, detail: "--templates must name a directory containing \(markdownFileName) and/or \(htmlFileName).")
        }
        registerContentTypes
        let searched = directory ?? URL(fileURLWithPath: currentDirectory).appendingPathComponent("reports").path
        var parsed: [ReportFormat: MustacheTemplate] = [:]
        var sources: [String: String] = [:]
        for format in Set(formats) {
            guard let name = fileName(for: format), let builtInText = embeddedText(for: format) else { continue }
            let path = URL(fileURLWithPath: searched).appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw .invalidTemplate(name: path, detail: "the file cannot be read.")
                }
                parsed[format] = try parse(String(decoding: data, as: UTF8.self), name: path)
                sources[name] = path
            } else {
                parsed[format] = try parse(builtInText, name: name)
                sources[name] = builtIn
            }
        }
        return ReportTemplates(parsed: parsed, sources: sources)
    }

    /// The parsed template of `format`.
    ///
    /// - Throws: `invalid_template` when it was not loaded (see ``load(directory:formats:currentDirectory:)``).
    public func template(for format: ReportFormat) throws(ReportError) -> MustacheTemplate {
        guard let template = parsed[format] else {
            throw .invalidTemplate(name: Self.fileName(for: format) ?? format.rawValue, detail: "it was not loaded for this report.")
        }
        return template
    }

    static func parse(_ text: String, name: String) throws(ReportError) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: text)
        } catch {
            throw .invalidTemplate(name: name, detail: "\(error)")
        }
    }

    /// `{{% CONTENT_TYPE: MARKDOWN}}` escapes what Markdown would otherwise interpret.
    static let registerContentTypes: Void = {
        MustacheContentTypes.register(MarkdownContentType(), named: "MARKDOWN")
    }()
}

/// Escapes text printed by a Markdown template, so that names chosen by users (teams, callers,
/// models) are shown as typed and cannot start a link, an image, emphasis, code, HTML or a new
/// table cell: Markdown's punctuation gets a backslash, `<`, `>` and `&` become entities, and line
/// breaks become spaces.
struct MarkdownContentType: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\", "|", "[", "]", "*", "_", "`", "~": escaped += "\\" + String(character)
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\n", "\r", "\r\n": escaped += " "
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

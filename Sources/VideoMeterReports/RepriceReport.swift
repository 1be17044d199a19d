import Foundation
import VideoMeter
import VideoMeterLedger

/// What a month's charged calls would have cost under another catalog (`videometer reprice`):
/// per team and model, the calls, what the ledger charged, what the other catalog prices them at,
/// and the difference; calls the other catalog cannot price are listed with the reason, never
/// counted as 0.
///
/// Every call is priced from its snapshot (provider, model, resolution, seconds charged, images)
/// through the exact fast path (``Catalog/repriceTotals(provider:model:seconds:resolution:imageCount:at:)``),
/// once per group of identical calls, and multiplied: exact to the micro-dollar at the settlement
/// scale. Amounts in the `difference` are repriced − charged (positive: the other catalog costs more).
public struct RepriceReport: Sendable, Equatable {
    public struct ModelLine: Sendable, Equatable {
        public var provider: String
        public var model: String
        public var calls: Int64
        public var chargedMicro: MicroUSD
        public var repricedMicro: MicroUSD
        public var differenceMicro: MicroUSD { repricedMicro - chargedMicro }
    }

    public struct TeamLine: Sendable, Equatable {
        public var team: String
        public var calls: Int64
        public var chargedMicro: MicroUSD
        public var repricedMicro: MicroUSD
        /// The same totals rounded as invoices round them: each price list's share to its display
        /// scale and rule (the old lists for `charged`, the new ones for `repriced`).
        public var chargedInvoiceMicro: MicroUSD
        public var repricedInvoiceMicro: MicroUSD
        public var models: [ModelLine]
        public var differenceMicro: MicroUSD { repricedMicro - chargedMicro }
    }

    /// Calls the other catalog does not price, with the pricing error's code and sentence.
    public struct Unpriced: Sendable, Equatable {
        public var team: String
        public var provider: String
        public var model: String
        public var resolution: String
        public var seconds: Int
        public var imageCount: Int
        public var calls: Int64
        public var chargedMicro: MicroUSD
        public var code: String
        public var reason: String
    }

    public var month: String
    /// The zone the month was taken in for every team (`--timezone`); nil: each team's own.
    public var timeZone: String?
    /// Where the other prices came from: a path, or `embedded catalog at <instant>`.
    public var pricing: String
    /// The price list each provider's calls were repriced with, by provider.
    public var catalogVersions: [String: String]
    public var teams: [TeamLine]
    public var unpriced: [Unpriced]

    public var calls: Int64 { teams.reduce(0) { $0 + $1.calls } }
    public var chargedMicro: MicroUSD { teams.reduce(0) { $0 + $1.chargedMicro } }
    public var repricedMicro: MicroUSD { teams.reduce(0) { $0 + $1.repricedMicro } }
    public var differenceMicro: MicroUSD { repricedMicro - chargedMicro }
    public var chargedInvoiceMicro: MicroUSD { teams.reduce(0) { $0 + $1.chargedInvoiceMicro } }
    public var repricedInvoiceMicro: MicroUSD { teams.reduce(0) { $0 + $1.repricedInvoiceMicro } }
    public var unpricedChargedMicro: MicroUSD { unpriced.reduce(0) { $0 + $1.chargedMicro } }

    /// Prices `calls` under `catalog` as in force at `date` (`Date.distantFuture`: each provider's
    /// newest price list). `chargedRoundings` rounds the charged side's invoice figures (the price
    /// lists that priced the calls).
    public init(
        month: String, timeZone: String?, pricing: String, calls groups: [ChargedCalls], catalog: Catalog, at date: Date,
        chargedRoundings: InvoiceRoundings
    ) {
        let newRoundings = InvoiceRoundings(catalog: catalog)
        struct TeamTotals {
            var models: [String: ModelLine] = [:]
            var chargedByVersion: [String: MicroUSD] = [:]
            var repricedByVersion: [String: MicroUSD] = [:]
        }
        var teams: [String: TeamTotals] = [:]
        var unpriced: [Unpriced] = []
        var versions: [String: String] = [:]
        for group in groups {
            let totals: QuoteTotals
            do {
                totals = try catalog.repriceTotals(
                    provider: group.provider, model: group.model, seconds: group.seconds, resolution: group.resolution,
                    imageCount: group.imageCount, at: date)
            } catch {
                unpriced.append(Unpriced(
                    team: group.team, provider: group.provider, model: group.model, resolution: group.resolution,
                    seconds: group.seconds, imageCount: group.imageCount, calls: group.calls, chargedMicro: group.chargedMicro,
                    code: error.code, reason: error.message))
                continue
            }
            versions[group.provider] = totals.catalogVersion
            let repriced = totals.totalMicro * group.calls
            var team = teams[group.team] ?? TeamTotals()
            let key = "\(group.provider)\u{1F}\(group.model)"
            var line = team.models[key] ?? ModelLine(provider: group.provider, model: group.model, calls: 0, chargedMicro: 0, repricedMicro: 0)
            line.calls += group.calls
            line.chargedMicro += group.chargedMicro
            line.repricedMicro += repriced
            team.models[key] = line
            team.chargedByVersion[group.catalogVersion, default: 0] += group.chargedMicro
            team.repricedByVersion[totals.catalogVersion, default: 0] += repriced
            teams[group.team] = team
        }
        func invoice(_ byVersion: [String: MicroUSD], _ roundings: InvoiceRoundings) -> MicroUSD {
            byVersion.reduce(0) { sum, entry in sum + (roundings.byVersion[entry.key] ?? .fallback).round(entry.value) }
        }
        self.month = month
        self.timeZone = timeZone
        self.pricing = pricing
        self.catalogVersions = versions
        self.teams = teams.keys.sorted().map { name in
            let totals = teams[name]!
            let models = totals.models.values.sorted { ($0.provider, $0.model) < ($1.provider, $1.model) }
            return TeamLine(
                team: name, calls: models.reduce(0) { $0 + $1.calls }, chargedMicro: models.reduce(0) { $0 + $1.chargedMicro },
                repricedMicro: models.reduce(0) { $0 + $1.repricedMicro },
                chargedInvoiceMicro: invoice(totals.chargedByVersion, chargedRoundings),
                repricedInvoiceMicro: invoice(totals.repricedByVersion, newRoundings), models: models)
        }
        self.unpriced = unpriced.sorted {
            ($0.team, $0.provider, $0.model, $0.resolution, $0.seconds) < ($1.team, $1.provider, $1.model, $1.resolution, $1.seconds)
        }
    }
}

// MARK: - Renderings

extension RepriceReport {
    /// The JSON document (`--json`, `--format json`): amounts are decimal strings of dollars.
    public struct Document: Encodable, Sendable {
        public struct Model: Encodable, Sendable {
            var provider, model: String
            var calls: Int64
            var charged, repriced, difference: String
        }

        public struct Team: Encodable, Sendable {
            var team: String
            var calls: Int64
            var charged, repriced, difference: String
            var chargedInvoice, repricedInvoice: String
            var models: [Model]
            enum CodingKeys: String, CodingKey {
                case team, calls, charged, repriced, difference, models
                case chargedInvoice = "charged_invoice"
                case repricedInvoice = "repriced_invoice"
            }
        }

        public struct Unpriced: Encodable, Sendable {
            var team, provider, model, resolution: String
            var seconds, imageCount: Int
            var calls: Int64
            var charged, code, reason: String
            enum CodingKeys: String, CodingKey {
                case team, provider, model, resolution, seconds, calls, charged, code, reason
                case imageCount = "image_count"
            }
        }

        var month: String
        var timeZone: String?
        var pricing: String
        var catalogVersion: String
        var catalogVersions: [String: String]
        var calls: Int64
        var charged, repriced, difference: String
        var chargedInvoice, repricedInvoice: String
        var unpricedCharged: String
        var teams: [Team]
        var unpriced: [Unpriced]

        enum CodingKeys: String, CodingKey {
            case month, pricing, calls, charged, repriced, difference, teams, unpriced
            case timeZone = "time_zone"
            case catalogVersion = "catalog_version"
            case catalogVersions = "catalog_versions"
            case chargedInvoice = "charged_invoice"
            case repricedInvoice = "repriced_invoice"
            case unpricedCharged = "unpriced_charged"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(month, forKey: .month)
            try container.encode(timeZone, forKey: .timeZone)
            try container.encode(pricing, forKey: .pricing)
            try container.encode(catalogVersion, forKey: .catalogVersion)
            try container.encode(catalogVersions, forKey: .catalogVersions)
            try container.encode(calls, forKey: .calls)
            try container.encode(charged, forKey: .charged)
            try container.encode(repriced, forKey: .repriced)
            try container.encode(difference, forKey: .difference)
            try container.encode(chargedInvoice, forKey: .chargedInvoice)
            try container.encode(repricedInvoice, forKey: .repricedInvoice)
            try container.encode(unpricedCharged, forKey: .unpricedCharged)
            try container.encode(teams, forKey: .teams)
            try container.encode(unpriced, forKey: .unpriced)
        }
    }

    /// The price lists used, one per provider, as one string: `blockrun-2026-12, worldrouter-2026-11`.
    public var catalogVersion: String {
        catalogVersions.keys.sorted().map { catalogVersions[$0]! }.joined(separator: ", ")
    }

    public var document: Document {
        let f = Money.format(micro:)
        return Document(
            month: month, timeZone: timeZone, pricing: pricing, catalogVersion: catalogVersion, catalogVersions: catalogVersions,
            calls: calls, charged: f(chargedMicro), repriced: f(repricedMicro), difference: f(differenceMicro),
            chargedInvoice: f(chargedInvoiceMicro), repricedInvoice: f(repricedInvoiceMicro), unpricedCharged: f(unpricedChargedMicro),
            teams: teams.map { team in
                Document.Team(
                    team: team.team, calls: team.calls, charged: f(team.chargedMicro), repriced: f(team.repricedMicro),
                    difference: f(team.differenceMicro), chargedInvoice: f(team.chargedInvoiceMicro),
                    repricedInvoice: f(team.repricedInvoiceMicro),
                    models: team.models.map {
                        Document.Model(
                            provider: $0.provider, model: $0.model, calls: $0.calls, charged: f($0.chargedMicro),
                            repriced: f($0.repricedMicro), difference: f($0.differenceMicro))
                    })
            },
            unpriced: unpriced.map {
                Document.Unpriced(
                    team: $0.team, provider: $0.provider, model: $0.model, resolution: $0.resolution, seconds: $0.seconds,
                    imageCount: $0.imageCount, calls: $0.calls, charged: f($0.chargedMicro), code: $0.code, reason: $0.reason)
            })
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }

    /// One CSV row per team and model (`status` priced), one per unpriced group (`status`
    /// unpriced, with code and reason), and a `TOTAL` row.
    public func csv() -> String {
        let f = Money.format(micro:)
        var writer = CSVWriter(header: [
            "month", "team", "provider", "model", "status", "calls", "charged", "repriced", "difference", "code", "reason",
        ])
        for team in teams {
            for line in team.models {
                writer.append([month, team.team, line.provider, line.model, "priced", String(line.calls), f(line.chargedMicro),
                               f(line.repricedMicro), f(line.differenceMicro), "", ""])
            }
        }
        for item in unpriced {
            writer.append([month, item.team, item.provider, item.model, "unpriced", String(item.calls), f(item.chargedMicro), "", "",
                           item.code, item.reason])
        }
        writer.append([month, "TOTAL", "", "", "priced", String(calls), f(chargedMicro), f(repricedMicro), f(differenceMicro), "", ""])
        return writer.text
    }

    /// Rows of the team x model table the text, Markdown and HTML forms share.
    public var tableRows: [[String]] {
        let f = Money.format(micro:)
        var rows: [[String]] = []
        for team in teams {
            for line in team.models {
                rows.append([team.team, "\(line.provider) \(line.model)", String(line.calls), f(line.chargedMicro), f(line.repricedMicro),
                             Self.signed(line.differenceMicro)])
            }
            rows.append(["\(team.team) total", "", String(team.calls), f(team.chargedMicro), f(team.repricedMicro), Self.signed(team.differenceMicro)])
        }
        rows.append(["all teams", "", String(calls), f(chargedMicro), f(repricedMicro), Self.signed(differenceMicro)])
        return rows
    }

    public static let tableHeader = ["team", "model", "calls", "charged USD", "repriced USD", "difference"]

    static func signed(_ micro: MicroUSD) -> String {
        micro > 0 ? "+" + Money.format(micro: micro) : Money.format(micro: micro)
    }

    public var summaryLines: [String] {
        let f = Money.format(micro:)
        var lines = [
            "Re-priced \(month) (\(timeZone.map { "in \($0)" } ?? "each team's own time zone")) under \(pricing)"
                + (catalogVersions.isEmpty ? "" : ": \(catalogVersion)") + ".",
            "Charged \(f(chargedMicro)) USD, repriced \(f(repricedMicro)) USD, difference \(Self.signed(differenceMicro)) USD "
                + "(invoiced: \(f(chargedInvoiceMicro)) -> \(f(repricedInvoiceMicro)) USD).",
        ]
        if !unpriced.isEmpty {
            lines.append("\(unpriced.reduce(0) { $0 + $1.calls }) calls (\(f(unpricedChargedMicro)) USD charged) are not priced by the other catalog and are left out of both totals; see unpriced.")
        }
        return lines
    }

    public var unpricedRows: [[String]] {
        unpriced.map {
            [$0.team, "\($0.provider) \($0.model)", "\($0.resolution), \($0.seconds) s, \($0.imageCount) images", String($0.calls),
             Money.format(micro: $0.chargedMicro), $0.code, $0.reason]
        }
    }

    public static let unpricedHeader = ["team", "model", "call", "calls", "charged USD", "code", "reason"]

    public func markdown() -> String {
        func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        var text = "# Re-priced usage, \(month)\n\n" + summaryLines.joined(separator: "\n") + "\n\n"
        text += row(Self.tableHeader) + "\n" + row(["---", "---", "---:", "---:", "---:", "---:"]) + "\n"
        text += tableRows.map(row).joined(separator: "\n") + "\n"
        if !unpriced.isEmpty {
            text += "\n## Unpriced\n\n" + row(Self.unpricedHeader) + "\n" + row(["---", "---", "---", "---:", "---:", "---", "---"]) + "\n"
            text += unpricedRows.map(row).joined(separator: "\n") + "\n"
        }
        return text
    }

    public func html() -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        func table(_ header: [String], _ rows: [[String]], numeric: Set<Int>) -> String {
            let head = header.enumerated().map { "<th\(numeric.contains($0.offset) ? " class=\"n\"" : "")>\(escape($0.element))</th>" }.joined()
            let body = rows.map { cells in
                "<tr>" + cells.enumerated().map { "<td\(numeric.contains($0.offset) ? " class=\"n\"" : "")>\(escape($0.element))</td>" }.joined() + "</tr>"
            }.joined(separator: "\n")
            return "<table>\n<tr>\(head)</tr>\n\(body)\n</table>"
        }
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Re-priced usage, \(escape(month))</title>
            <style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
            th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}.n{text-align:right;font-variant-numeric:tabular-nums}</style>
            </head><body>
            <h1>Re-priced usage, \(escape(month))</h1>

            """
        page += summaryLines.map { "<p>\(escape($0))</p>" }.joined(separator: "\n") + "\n"
        page += table(Self.tableHeader, tableRows, numeric: [2, 3, 4, 5]) + "\n"
        if !unpriced.isEmpty {
            page += "<h2>Unpriced</h2>\n" + table(Self.unpricedHeader, unpricedRows, numeric: [3, 4]) + "\n"
        }
        return page + "</body></html>\n"
    }
}

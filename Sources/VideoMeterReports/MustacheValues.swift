/// Turns a report view into the dictionaries and arrays that Mustache reads directly.
///
/// swift-mustache finds a variable in a struct by reflecting the struct (`Mirror`) at every lookup,
/// and a month of fifty teams makes tens of thousands of lookups. Reflecting each value once into
/// `[String: Any]` (which Mustache reads as a `MustacheParent`) renders the same text several times
/// faster. `nil` optionals are left out, which Mustache treats as it treats `nil`.
enum MustacheValues {
    /// A report's tree, shared by the templates rendered concurrently. It is never mutated after
    /// it is built and holds only strings, numbers, booleans, arrays and dictionaries of them.
    struct Tree: @unchecked Sendable {
        let fields: [String: Any]
        init(_ fields: [String: Any]) { self.fields = fields }
    }

    static func tree(_ value: Any) -> Any? {
        switch value {
        case is String, is Bool, is Int, is Int64:
            return value
        default:
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                return mirror.children.first.flatMap { tree($0.value) }
            case .collection, .set:
                return mirror.children.compactMap { tree($0.value) }
            case .struct, .class:
                var fields: [String: Any] = [:]
                for child in mirror.children {
                    if let label = child.label, let converted = tree(child.value) { fields[label] = converted }
                }
                return fields
            default:
                return value
            }
        }
    }

    /// The tree of a whole report: each team's section converted once, although the templates see
    /// it twice (in `teams` and in `sections`).
    static func tree(_ view: ReportView) -> [String: Any] {
        let shared: Set<String> = ["teams", "allTeams", "sections"]
        var fields: [String: Any] = [:]
        for child in Mirror(reflecting: view).children {
            if let label = child.label, !shared.contains(label), let converted = tree(child.value) { fields[label] = converted }
        }
        let teams = view.teams.map { tree($0) ?? [:] }
        let allTeams = tree(view.allTeams) ?? [:]
        fields["teams"] = teams
        fields["allTeams"] = allTeams
        fields["sections"] = view.showAllTeams ? teams + [allTeams] : teams
        return fields
    }
}

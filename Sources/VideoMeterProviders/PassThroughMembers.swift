/// A JSON object key chosen at run time: the pass-through members of a request body.
struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Encoder {
    /// Adds `options` (pass-through members) to the object being encoded, in name order, leaving
    /// out any name the body already has.
    func encodePassThrough(_ options: [String: String], except known: Set<String>) throws {
        var container = container(keyedBy: MemberKey.self)
        for (name, value) in options.sorted(by: { $0.key < $1.key }) where !known.contains(name) {
            try container.encode(value, forKey: MemberKey(name))
        }
    }
}

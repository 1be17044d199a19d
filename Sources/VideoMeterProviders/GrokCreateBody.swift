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

/// The create body of Grok's video API, as WorldRouter forwards it and xAI takes it:
/// `{model, prompt, duration?, resolution?, image: {url}?}` plus the pass-through members.
struct GrokCreateBody: Encodable {
    struct Image: Encodable { var url: String }
    var model: String
    var prompt: String
    var duration: Int?
    var resolution: String?
    var image: Image?
    /// Pass-through members (Grok's `aspect_ratio`).
    var options: [String: String]

    enum CodingKeys: String, CodingKey, CaseIterable { case model, prompt, duration, resolution, image }

    init(_ request: GenerationRequest) {
        model = request.model
        prompt = request.prompt
        duration = request.durationSeconds
        resolution = request.resolution
        image = request.imageURL.map(Image.init(url:))
        options = request.options
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(model, forKey: .model)
        try container.encode(prompt, forKey: .prompt)
        try container.encodeIfPresent(duration, forKey: .duration)
        try container.encodeIfPresent(resolution, forKey: .resolution)
        try container.encodeIfPresent(image, forKey: .image)
        try encoder.encodePassThrough(options, except: Set(CodingKeys.allCases.map(\.rawValue)))
    }
}

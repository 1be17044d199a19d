/// A problem in a catalog file: which file, which entry, and why.
public struct CatalogError: CodedError, Equatable {
    public let file: String
    /// A path inside the file, e.g. `versions[0] blockrun-2026-04 / models[1] bytedance/seedance-1.5-pro / per_second`.
    public let entry: String
    public let reason: String

    public init(file: String, entry: String, reason: String) {
        self.file = file
        self.entry = entry
        self.reason = reason
    }

    public var code: String { "invalid_catalog" }
    public var message: String { entry.isEmpty ? "\(file): \(reason)" : "\(file): \(entry): \(reason)" }
}

/// Every problem found in a set of catalog files.
public struct CatalogErrors: CodedError, Equatable {
    public let errors: [CatalogError]

    public init(errors: [CatalogError]) { self.errors = errors }

    public var code: String { "invalid_catalog" }
    public var message: String { errors.map(\.message).joined(separator: "\n") }
}

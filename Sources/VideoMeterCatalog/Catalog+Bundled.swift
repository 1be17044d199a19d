import Foundation
import VideoMeter

extension Catalog {
    /// The catalog compiled into this binary from the package's `pricing/` folder.
    public static func bundled() throws -> Catalog {
        try decode(files: bundledFiles())
    }

    /// The embedded catalog files, by name.
    public static func bundledFiles() -> [(name: String, data: Data)] {
        BundledCatalogFiles.files.map { ($0.name, Data(base64Encoded: $0.base64) ?? Data()) }
    }

    /// Reads every `*.json` file of `directory` as the catalog.
    public static func load(directory: URL) throws -> Catalog {
        try decode(files: readFiles(in: directory))
    }

    /// Reads the given files (or every `*.json` in a directory given among them).
    public static func readFiles(at paths: [String]) throws -> [(name: String, data: Data)] {
        var files: [(name: String, data: Data)] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CatalogErrors(errors: [CatalogError(file: path, entry: "", reason: "no such file or directory")])
            }
            if isDirectory.boolValue {
                files += try readFiles(in: URL(fileURLWithPath: path))
            } else {
                files.append((path, try Data(contentsOf: URL(fileURLWithPath: path))))
            }
        }
        return files
    }

    static func readFiles(in directory: URL) throws -> [(name: String, data: Data)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        return try names.map { name in
            let url = directory.appendingPathComponent(name)
            return (url.path, try Data(contentsOf: url))
        }
    }

    /// The catalog a command should use: `--pricing PATH`, else `VIDEOMETER_PRICING`, else the
    /// embedded default.
    public static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Catalog {
        if let path = flag ?? environment["VIDEOMETER_PRICING"], !path.isEmpty {
            return try decode(files: readFiles(at: [path]))
        }
        return try bundled()
    }
}

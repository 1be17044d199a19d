import Foundation
import PackagePlugin

/// Compiles the catalog files in the package's `pricing/` folder into the `VideoMeterCatalog`
/// module, so the `videometer` binary carries its embedded default prices wherever it runs.
@main
struct EmbedCatalog: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let pricing = context.package.directoryURL.appending(path: "pricing")
        let names = try FileManager.default.contentsOfDirectory(atPath: pricing.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        let inputs = names.map { pricing.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "BundledCatalogFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(names.count) catalog file(s) from pricing/",
                executable: try context.tool(named: "embed-catalog").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}

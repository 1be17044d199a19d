import VideoMeterEmulator
import VideoMeterGateway

/// The sellers VideoMeter speaks: the one registration of each (docs/ARCHITECTURE.md).
public enum Sellers {
    /// Every seller, in the order the CLI lists them. A new seller is one more entry here.
    public static let all: [Seller] = [.blockRun, .worldRouter, .xai]

    /// The seller with catalog provider id `id`.
    public static func seller(_ id: String) -> Seller? {
        all.first { $0.id == id }
    }

    /// Each seller's gateway dialect, by provider id: what a ``Gateway`` is built with.
    public static var dialects: [String: any SellerDialect] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.dialect) })
    }

    /// The emulator style named `name` (`videometer emulate --style`).
    public static func emulatorStyle(named name: String) -> EmulatorStyle? {
        all.first { $0.emulatorStyle.name == name }?.emulatorStyle
    }
}

// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "VideoMeter",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "VideoMeter", targets: ["VideoMeter"]),
        .library(name: "VideoMeterLedger", targets: ["VideoMeterLedger"]),
        .library(name: "VideoMeterLedgerPostgres", targets: ["VideoMeterLedgerPostgres"]),
        .library(name: "VideoMeterStores", targets: ["VideoMeterStores"]),
        .library(name: "VideoMeterProviders", targets: ["VideoMeterProviders"]),
        .library(name: "VideoMeterMetering", targets: ["VideoMeterMetering"]),
        .library(name: "VideoMeterEmulator", targets: ["VideoMeterEmulator"]),
        .library(name: "VideoMeterReports", targets: ["VideoMeterReports"]),
        .library(name: "VideoMeterGateway", targets: ["VideoMeterGateway"]),
        .library(name: "VideoMeterSellers", targets: ["VideoMeterSellers"]),
        .executable(name: "videometer", targets: ["videometer"]),
        .executable(name: "videometer-bench", targets: ["videometer-bench"]),
        .executable(name: "videometer-sim", targets: ["videometer-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Pricing core: money, catalog, quotes. Foundation only, no I/O.
        .target(name: "VideoMeter", swiftSettings: swiftSettings),
        // The catalog files in pricing/, compiled into the binary by the EmbedCatalog plugin.
        .target(
            name: "VideoMeterCatalog",
            dependencies: ["VideoMeter"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedCatalog"]
        ),
        .executableTarget(name: "embed-catalog", path: "Plugins/embed-catalog"),
        .plugin(name: "EmbedCatalog", capability: .buildTool(), dependencies: ["embed-catalog"]),
        .target(
            name: "VideoMeterLedger",
            dependencies: [
                "VideoMeter",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The same ledger contract on one PostgreSQL database shared by several processes.
        .target(
            name: "VideoMeterLedgerPostgres",
            dependencies: [
                "VideoMeter",
                "VideoMeterLedger",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Opens the ledger `--db` names, SQLite file or PostgreSQL URL, as the contract: the one
        // place that sees both stores.
        .target(
            name: "VideoMeterStores",
            dependencies: [
                "VideoMeter",
                "VideoMeterLedger",
                "VideoMeterLedgerPostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VideoMeterProviders",
            dependencies: [
                "VideoMeter",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VideoMeterEmulator",
            dependencies: [
                "VideoMeter",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VideoMeterMetering",
            dependencies: [
                "VideoMeter",
                "VideoMeterLedger",
                "VideoMeterProviders",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VideoMeterReports",
            dependencies: [
                "VideoMeter",
                "VideoMeterLedger",
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        // Every seller, registered once: its client, gateway dialect and emulator style.
        .target(
            name: "VideoMeterSellers",
            dependencies: [
                "VideoMeter", "VideoMeterProviders", "VideoMeterEmulator", "VideoMeterGateway",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VideoMeterGateway",
            dependencies: [
                "VideoMeter",
                "VideoMeterLedger",
                "VideoMeterProviders",
                "VideoMeterMetering",
                "VideoMeterReports",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "videometer",
            dependencies: [
                "VideoMeter",
                "VideoMeterCatalog",
                "VideoMeterLedger",
                "VideoMeterStores",
                "VideoMeterProviders",
                "VideoMeterMetering",
                "VideoMeterEmulator",
                "VideoMeterReports",
                "VideoMeterGateway",
                "VideoMeterSellers",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "videometer-bench",
            dependencies: [
                "VideoMeter",
                "VideoMeterCatalog",
                "VideoMeterLedger",
                "VideoMeterLedgerPostgres",
                "VideoMeterProviders",
                "VideoMeterMetering",
                "VideoMeterEmulator",
                "VideoMeterReports",
                "VideoMeterGateway",
                "VideoMeterSellers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // The deterministic simulation of the metering loop (docs/SIMULATION.md).
        .target(
            name: "VideoMeterSimulation",
            dependencies: [
                "VideoMeter", "VideoMeterCatalog", "VideoMeterLedger", "VideoMeterLedgerPostgres", "VideoMeterStores",
                "VideoMeterProviders", "VideoMeterMetering",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "videometer-sim",
            dependencies: [
                "VideoMeterSimulation", "VideoMeterLedger", "VideoMeterLedgerPostgres", "VideoMeterStores",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the test targets share: the suite's clock, a runner for the built binary and the
        // throwaway PostgreSQL server.
        .target(
            name: "VideoMeterTesting",
            dependencies: [
                "VideoMeter", "VideoMeterProviders", "VideoMeterEmulator", "VideoMeterLedgerPostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/VideoMeterTesting",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "VideoMeterTests", dependencies: ["VideoMeter", "VideoMeterCatalog"], swiftSettings: swiftSettings),
        .testTarget(
            name: "VideoMeterLedgerTests",
            dependencies: [
                "VideoMeterLedger", "VideoMeterLedgerPostgres", "VideoMeterReports", "VideoMeterCatalog", "VideoMeterTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VideoMeterProvidersTests",
            dependencies: ["VideoMeterProviders", "VideoMeterEmulator", "VideoMeterTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VideoMeterMeteringTests",
            dependencies: ["VideoMeterMetering", "VideoMeterEmulator", "VideoMeterCatalog", "VideoMeterTesting", "VideoMeterLedgerPostgres"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VideoMeterReportsTests",
            dependencies: ["VideoMeterReports", "VideoMeterLedger", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VideoMeterGatewayTests",
            dependencies: [
                "VideoMeterGateway", "VideoMeterEmulator", "VideoMeterCatalog", "VideoMeterSellers", "VideoMeterTesting", "videometer",
                "VideoMeterLedgerPostgres",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VideoMeterSimulationTests",
            dependencies: ["VideoMeterSimulation", "VideoMeterLedger", "VideoMeterTesting", "videometer-sim"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "videometerTests",
            dependencies: [
                "videometer", "VideoMeterEmulator", "VideoMeterLedger", "VideoMeterLedgerPostgres", "VideoMeterTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

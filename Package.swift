// swift-tools-version:6.1
import PackageDescription

/// The plugins: each protocol and each uplink profile beyond `mqtt` is one target, listed here
/// once; the Gateway target depends on all of them, and Sources/Gateway's registries
/// (`ProtocolRegistry.standard`, `UplinkProfiles.standard`) are the only code that names them.
let plugins: [Target] = [
    // Modbus TCP and RTU through libmodbus, on a small pool of poller threads; its simulator, its
    // demo and its commands (`modbus scan`, `sim modbus`).
    .target(
        name: "ModbusAdapter",
        dependencies: [
            "GatewayCore", "DeviceMaps", "CModbus", "CommandSupport", "MapReports",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        exclude: ["README.md"]
    ),
    // Philips Hue bridges, REST API v1 over HTTP (a small client of its own, no URLSession);
    // a bridge simulator (Hummingbird, the project's one HTTP server stack), its demo and its
    // commands (`hue pair`, `sim hue`).
    .target(
        name: "HueAdapter",
        dependencies: [
            "GatewayCore", "DeviceMaps", "CommandSupport", "Yams",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        exclude: ["README.md"]
    ),
    // Simulated door and contact sensors on a seeded schedule (`protocol: door-sim`), and
    // the same doors published over MQTT as zigbee2mqtt does (`sim doors`, the demo's doors).
    .target(
        name: "DoorSimAdapter",
        dependencies: [
            "GatewayCore", "DeviceMaps", "MQTTClient", "CommandSupport", "DevTools",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        exclude: ["README.md"]
    ),
    // Derived devices: points computed in the gateway from other devices' readings as they flow
    // (expressions, time windows, OEE), with their state kept across restarts.
    .target(
        name: "DerivedAdapter",
        dependencies: [
            "GatewayCore", "DeviceMaps", "ConfigSyntax", "Yams",
            .product(name: "Logging", package: "swift-log"),
        ],
        exclude: ["README.md"]
    ),
    // MQTT devices (zigbee2mqtt and the like) on a local or site broker, through MQTTClient.
    .target(
        name: "MQTTDevicesAdapter",
        dependencies: [
            "GatewayCore", "DeviceMaps", "MQTTClient",
            .product(name: "Logging", package: "swift-log"),
        ],
        exclude: ["README.md"]
    ),
    // The `sparkplug-b` uplink profile (Eclipse Sparkplug 3.0): births, deaths, aliases and
    // host commands; its protobuf code is generated once (scripts/generate-sparkplug-proto).
    .target(
        name: "SparkplugB",
        dependencies: [
            "GatewayCore", "MQTTClient", "Uplink", "ConfigSyntax",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ],
        exclude: ["README.md", "Protocol/sparkplug_b.proto"]
    ),
    // The `azure-iot-hub` uplink profile: IoT Hub's device protocol, SAS tokens, its settings.
    .target(
        name: "AzureIoTHub",
        dependencies: [
            "GatewayCore", "MQTTClient", "Uplink", "ConfigSyntax", "CCrypto", "Yams",
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
]

let package = Package(
    name: "edgegate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "edgegate", targets: ["edgegate"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own foundations, named where our code uses their types.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The runtime of Sparkplug B's generated protobuf code (the build plugin is not used).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries, found through pkg-config; the shims re-export what Swift cannot import.
        .systemLibrary(
            name: "CModbus",
            pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // glibc's mallopt, for the executable's allocator settings (no library to link).
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // The protocol-free model: values, readings, commands, the adapter contract, the router.
        .target(
            name: "GatewayCore",
            dependencies: [.product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // The YAML toolkit with diagnostics (file:line:column, hints, suggestions) that device maps
        // and every owner of a configuration section parse with.
        .target(
            name: "ConfigSyntax",
            dependencies: ["Yams"]
        ),
        // YAML device maps → typed, validated values.
        .target(
            name: "DeviceMaps",
            dependencies: ["ConfigSyntax", "GatewayCore", "MQTTClient", "Yams", .product(name: "Logging", package: "swift-log")]
        ),
        // What the command line's commands share, the protocols' own commands included: output,
        // failures and exit codes, logging options, running until a signal.
        .target(
            name: "CommandSupport",
            dependencies: [
                "DeviceMaps", "GatewayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // One libmosquitto wrapper with an async interface, shared by the uplink and MQTT devices.
        .target(
            name: "MQTTClient",
            dependencies: ["CMosquitto", .product(name: "Logging", package: "swift-log")]
        ),
        // Embedded SQLite: open with WAL, prepared statements, transactions, typed errors.
        .target(
            name: "Storage",
            dependencies: ["CSQLite"]
        ),
        // The northbound link: wire profiles, batching, the durable outbox, commands in and responses out.
        .target(
            name: "Uplink",
            dependencies: [
                "GatewayCore", "MQTTClient", "Storage", "ConfigSyntax", "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The operator's side of the uplink contract: commands and responses, the inventory, watching.
        .target(
            name: "HubClient",
            dependencies: ["GatewayCore", "MQTTClient", "Uplink", "ConfigSyntax", "Yams", .product(name: "Logging", package: "swift-log")]
        ),
        // Developer tooling shared by the CLI and the tests: child processes, dev PKI, local hub.
        .target(
            name: "DevTools",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        // What the `map` commands print (show, plan, new), through the protocols' plugins.
        .target(
            name: "MapReports",
            dependencies: ["DeviceMaps", "GatewayCore"]
        ),
        // The admin endpoint (Hummingbird): health, readiness, status, devices, events, commands,
        // the metrics text it is given; its `admin` configuration section, the live state it serves, and the web console.
        .target(
            name: "Admin",
            dependencies: [
                "GatewayCore", "Uplink", "ConfigSyntax",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The console's files, embedded by scripts/embed-console into ConsoleAssets.swift.
            exclude: ["Console"]
        ),
        // Composition: a configuration in, a running gateway out; the registries of protocols and uplink profiles.
        .target(
            name: "Gateway",
            dependencies: [
                "GatewayCore", "ConfigSyntax", "DeviceMaps",
                "Uplink", "MQTTClient", "Storage", "Yams", "Admin",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + plugins.map { .target(name: $0.name) }
        ),
        // The Prometheus side of the metrics: the registry, the factory the executable
        // bootstraps swift-metrics with, and the scrape the admin listener serves.
        .target(
            name: "MetricsExposition",
            dependencies: [
                "Gateway", "GatewayCore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "edgegate",
            dependencies: [
                "MetricsExposition", "Gateway", "GatewayCore", "DeviceMaps", "MapReports", "CommandSupport", "DevTools", "CMalloc",
                "MQTTClient", "Uplink", "HubClient", "Admin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        .executableTarget(
            name: "edgegate-bench",
            dependencies: [
                "DevTools", "DeviceMaps", "ModbusAdapter", "GatewayCore", "MQTTClient", "Uplink", "Storage", "MetricsExposition", "Admin",
                "SparkplugB", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ], path: "Benchmarks/EdgegateBench"),

        // Test helpers: free ports, a real mosquitto with mutual TLS, temporary folders.
        .target(
            name: "TestSupport",
            dependencies: ["DevTools", "MQTTClient", "GatewayCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        // The saved cases' expected output, rendered for the tests (which compare) and for
        // scripts/update-expected (which writes).
        .target(name: "SavedCases", dependencies: ["DeviceMaps", "Gateway", "ModbusAdapter"], path: "Tests/SavedCases"),
        .executableTarget(name: "update-expected", dependencies: ["SavedCases"], path: "Tests/UpdateExpected"),
        .testTarget(
            name: "GatewayCoreTests",
            dependencies: ["GatewayCore", "TestSupport", .product(name: "MetricsTestKit", package: "swift-metrics")]),
        .testTarget(
            name: "DeviceMapsTests",
            dependencies: [
                "DeviceMaps", "Gateway", "GatewayCore", "MQTTClient", "ModbusAdapter", "MQTTDevicesAdapter", "TestSupport",
                "SavedCases", .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["Cases"]),
        .testTarget(
            name: "ModbusAdapterTests",
            dependencies: ["ModbusAdapter", "DeviceMaps", "GatewayCore", "TestSupport", "DevTools", "SavedCases"],
            exclude: ["PlanCases"]),
        .testTarget(
            name: "DoorSimAdapterTests",
            dependencies: ["DoorSimAdapter", "DeviceMaps", "GatewayCore", "Gateway", "TestSupport"],
            exclude: ["Golden"]),
        .testTarget(
            name: "DerivedAdapterTests",
            dependencies: ["DerivedAdapter", "DeviceMaps", "GatewayCore", "Gateway", "MapReports", "TestSupport"],
            exclude: ["Peers"]),
        .testTarget(
            name: "MQTTDevicesAdapterTests",
            dependencies: ["MQTTDevicesAdapter", "DeviceMaps", "GatewayCore", "MQTTClient", "TestSupport", "DevTools"]),
        .testTarget(
            name: "HueAdapterTests",
            dependencies: ["HueAdapter", "DeviceMaps", "GatewayCore", "TestSupport", "DevTools"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(
            name: "CommandSupportTests",
            dependencies: [
                "CommandSupport", "DeviceMaps", "Gateway", "GatewayCore", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "DevToolsTests", dependencies: ["DevTools", "MQTTClient", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MapReportsTests", dependencies: ["MapReports", "DeviceMaps", "Gateway", "TestSupport"]),
        .testTarget(name: "MQTTClientTests", dependencies: ["MQTTClient", "TestSupport", "DevTools"]),
        .testTarget(
            name: "UplinkTests",
            dependencies: ["Uplink", "Storage", "MQTTClient", "GatewayCore", "TestSupport", "DevTools"]),
        .testTarget(
            name: "AzureIoTHubTests",
            dependencies: ["AzureIoTHub", "Uplink", "MQTTClient", "GatewayCore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "SparkplugBTests",
            dependencies: [
                "SparkplugB", "Gateway", "DeviceMaps", "Uplink", "MQTTClient", "GatewayCore", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"), .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "HubClientTests",
            dependencies: ["HubClient", "Uplink", "MQTTClient", "GatewayCore", "ConfigSyntax", "TestSupport"]),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "Admin", "DeviceMaps", "GatewayCore", "Uplink", "AzureIoTHub", "MQTTClient", "Storage", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "AdminTests",
            dependencies: [
                "Admin", "Gateway", "GatewayCore", "DeviceMaps", "DevTools", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Gateway", "GatewayCore", "DeviceMaps", "MapReports", "ModbusAdapter", "CModbus", "DoorSimAdapter", "HueAdapter",
                "MQTTClient", "MQTTDevicesAdapter", "Uplink", "AzureIoTHub", "SparkplugB", "HubClient", "Storage", "TestSupport", "DevTools",
                "MetricsExposition", .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            exclude: ["Peers"]),
    ] + plugins,
    swiftLanguageModes: [.v6]
)

// The upcoming features the Swift server projects build with, for every Swift target (sources,
// tests, benchmarks, test support; not the C system libraries): `any` spelled out for every
// existential, a member used only where the module that declares it is imported, and imports
// internal unless marked `public import` (or `package import`) because a module's API shows
// the imported module's types.
for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
        ]
}

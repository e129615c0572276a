// swift-tools-version:6.3
import PackageDescription

// One set of compiler settings for every target, so the whole package builds in
// the same language mode with the same strictness.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "insitu",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "insitu", targets: ["InsituCommand"]),
        .executable(name: "insitu-wasm-runner", targets: ["InsituWasmRunner"]),
        .executable(name: "insitu-sql-runner", targets: ["InsituSQLRunner"]),
        .executable(name: "insitu-bench", targets: ["InsituBench"]),
        .executable(name: "insitu-scheduler-bench", targets: ["InsituSchedulerBench"]),
        .executable(name: "insitu-engine-bench", targets: ["InsituEngineBench"]),
        .library(name: "InsituTestKit", targets: ["InsituTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Pinned exactly: the memory limiter is WasmKit SPI (`@_spi(Fuzzing)`), which may change
        // in any release.
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // MARK: Pure core: no NIO, no I/O, no clocks; time, IDs and randomness are inputs.
        .target(name: "InsituModel", swiftSettings: swiftSettings),
        .target(
            name: "InsituSpec",
            dependencies: ["InsituModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Who may call the API: tokens, scopes and namespaces, decided without I/O.
        .target(
            name: "InsituAuth",
            dependencies: ["InsituModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The data owner's node policy: evaluation, digest and module signatures (Crypto computes,
        // it does no I/O). Shared by the agent, which enforces it, and the scheduler.
        .target(
            name: "InsituPolicy",
            dependencies: ["InsituModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(name: "InsituScheduler", dependencies: ["InsituModel", "InsituPolicy"], swiftSettings: swiftSettings),
        // The audit log's entries, canonical form, hash chain and verifier (docs/AUDIT.md).
        .target(
            name: "InsituAudit",
            dependencies: ["InsituModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The orchestrator's decisions: inputs in, effects out (docs/ARCHITECTURE.md).
        .target(
            name: "InsituControlPlane",
            dependencies: ["InsituModel", "InsituScheduler", "InsituAPI", "InsituStore"],
            swiftSettings: swiftSettings
        ),

        // MARK: Contracts between the core and the shells.
        .target(name: "InsituAPI", dependencies: ["InsituModel"], swiftSettings: swiftSettings),
        .target(name: "InsituStore", dependencies: ["InsituModel", "InsituAuth"], swiftSettings: swiftSettings),
        .target(name: "InsituExecutor", dependencies: ["InsituModel"], swiftSettings: swiftSettings),

        // MARK: Implementations of the contracts.
        .target(
            name: "InsituStoreSQLite",
            dependencies: ["InsituStore", "InsituModel", "InsituAuth", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InsituWasm",
            dependencies: [
                "InsituExecutor", "InsituModel", "InsituProcess",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmKitWASI", package: "WasmKit"),
                .product(name: "WASI", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // wasmtime through its C API, opened with dlopen at run time: the build never needs the
        // library. The shim declares only the functions Insitu calls.
        .target(name: "CWasmtimeShim", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "InsituWasmtime",
            dependencies: [
                "CWasmtimeShim", "InsituWasm", "InsituExecutor", "InsituModel", "InsituProcess",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The audit log on disk: an append-only file written one entry per write, and its check.
        .target(name: "InsituAuditFile", dependencies: ["InsituAudit", "InsituModel"], swiftSettings: swiftSettings),
        // Where the running executable is (/proc/self/exe), to find the programs beside it.
        .target(name: "InsituOwnExecutable", swiftSettings: swiftSettings),
        .target(
            name: "InsituProcess",
            dependencies: ["InsituExecutor", "InsituModel"],
            swiftSettings: swiftSettings
        ),
        // OCI containers through the Docker Engine API on a unix socket (Docker or podman).
        .target(
            name: "InsituContainer",
            dependencies: [
                "InsituExecutor", "InsituModel", "InsituProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `sql` engine: SQLite through its C API (GRDB's system-library module), each
        // execution in an `insitu-sql-runner` process (docs/ENGINES.md, `## sql`).
        .target(
            name: "CInsituSQLite",
            dependencies: [.product(name: "GRDBSQLite", package: "GRDB.swift")]
        ),
        .target(
            name: "InsituSQL",
            dependencies: [
                "CInsituSQLite", "InsituExecutor", "InsituModel", "InsituProcess",
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),

        // The cluster CA and the certificates it issues, as files in a data directory.
        .target(
            name: "InsituTLS",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Shells: networking, storage and processes around the pure core.
        .target(
            name: "InsituOrchestrator",
            dependencies: [
                "InsituModel", "InsituSpec", "InsituScheduler", "InsituAPI", "InsituStore", "InsituControlPlane", "InsituAuth",
                "InsituAudit", "InsituAuditFile", "InsituTLS", "InsituDashboard",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The web dashboard's pages (`/ui`): view models built from the API's types and rendered
        // with Mustache templates held as string literals. No I/O: the orchestrator's router glue
        // (`DashboardRoutes`) reads the data and serves the HTML.
        .target(
            name: "InsituDashboard",
            dependencies: ["InsituAPI", "InsituModel", .product(name: "Mustache", package: "swift-mustache")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InsituAgent",
            dependencies: [
                "InsituModel", "InsituAPI", "InsituExecutor", "InsituWasm", "InsituWasmtime", "InsituProcess", "InsituSpec", "InsituOwnExecutable",
                "InsituContainer", "InsituPolicy",
                "InsituSQL", "InsituTLS",
                "InsituAudit", "InsituAuditFile",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InsituClient",
            dependencies: [
                "InsituAPI", "InsituModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InsituCLI",
            dependencies: [
                "InsituClient", "InsituAPI", "InsituModel", "InsituSpec",
                "InsituOrchestrator", "InsituStoreSQLite", "InsituAgent", "InsituWasm", "InsituLocalCluster", "InsituTLS", "InsituOwnExecutable",
                "InsituAudit", "InsituAuditFile",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        // A cluster of real processes on this machine, shared by the demo, the benchmark and the
        // end-to-end tests.
        .target(
            name: "InsituLocalCluster",
            dependencies: ["InsituClient", "InsituModel", "InsituAPI", "InsituOwnExecutable"],
            swiftSettings: swiftSettings
        ),

        // MARK: Thin executables.
        .executableTarget(name: "InsituCommand", dependencies: ["InsituCLI"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "InsituWasmRunner",
            dependencies: ["InsituWasm"],
            swiftSettings: swiftSettings,
            // One runner process starts per WebAssembly run: linking the Swift runtime statically
            // saves loading its shared libraries on every start (FoundationEssentials' static
            // archive needs its two helper archives named explicitly).
            linkerSettings: [
                .unsafeFlags(["-static-stdlib", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-l_FoundationCShims"])
            ]
        ),
        // insitu-sql-runner: runs one SQL execution for an agent (see `SQLRunnerCommand`).
        .executableTarget(name: "InsituSQLRunner", dependencies: ["InsituSQL"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "InsituBench",
            dependencies: [
                "InsituClient", "InsituAPI", "InsituModel", "InsituLocalCluster", "InsituSQL", "InsituExecutor",
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: swiftSettings
        ),

        // The engines on one data scan, side by side with native code.
        .executableTarget(
            name: "InsituEngineBench",
            dependencies: [
                "InsituExecutor", "InsituModel", "InsituLocalCluster", "InsituWasm", "InsituWasmtime",
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: swiftSettings
        ),

        // Pure CPU: plans against a synthetic cluster, no processes or sockets.
        .executableTarget(
            name: "InsituSchedulerBench", dependencies: ["InsituScheduler", "InsituModel", "InsituSimulation"], swiftSettings: swiftSettings),

        // MARK: Test kit: manual clock, seeded IDs, fakes, cluster launcher.
        // The deterministic simulator: the control plane with simulated agents, store, network
        // and time, and the history checker. Pure, like the core it drives.
        .target(
            name: "InsituSimulation",
            dependencies: ["InsituControlPlane", "InsituModel", "InsituAPI", "InsituStore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "InsituTestKit",
            dependencies: [
                "InsituModel", "InsituScheduler", "InsituExecutor", "InsituClient", "InsituLocalCluster", "InsituAPI",
                "InsituSimulation", "InsituContainer",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests.
        .testTarget(name: "InsituModelTests", dependencies: ["InsituModel", "InsituTestKit"], swiftSettings: swiftSettings),
        .testTarget(
            name: "InsituTLSTests",
            dependencies: [
                "InsituTLS", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "InsituAuthTests", dependencies: ["InsituAuth", "InsituModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "InsituPolicyTests",
            dependencies: ["InsituPolicy", "InsituModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "InsituAuditTests", dependencies: ["InsituAudit", "InsituAuditFile", "InsituModel"], swiftSettings: swiftSettings),
        .testTarget(name: "InsituDashboardTests", dependencies: ["InsituDashboard", "InsituAPI", "InsituModel"], swiftSettings: swiftSettings),
        .testTarget(name: "InsituSpecTests", dependencies: ["InsituSpec", "InsituModel", "InsituSimulation"], swiftSettings: swiftSettings),
        .testTarget(
            name: "InsituSchedulerTests",
            dependencies: ["InsituScheduler", "InsituModel", "InsituTestKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituControlPlaneTests",
            dependencies: ["InsituControlPlane", "InsituSimulation", "InsituModel", "InsituAPI", "InsituStore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituAgentTests",
            dependencies: [
                "InsituAgent", "InsituAPI", "InsituModel", "InsituExecutor", "InsituTestKit", "InsituPolicy", "InsituAudit",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituOrchestratorTests",
            dependencies: [
                "InsituOrchestrator", "InsituControlPlane", "InsituStoreSQLite", "InsituStore", "InsituAPI", "InsituModel", "InsituTestKit",
                "InsituClient", "InsituLocalCluster",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command line's own logic: config files, log lines.
        .testTarget(
            name: "InsituCLITests",
            dependencies: ["InsituCLI", "InsituAgent", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituStoreSQLiteTests",
            dependencies: [
                "InsituStoreSQLite", "InsituStore", "InsituModel", "InsituAuth", "InsituTestKit",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituWasmTests",
            dependencies: ["InsituWasm", "InsituWasmtime", "InsituExecutor", "InsituModel", "InsituProcess", "InsituLocalCluster"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituContainerTests",
            dependencies: ["InsituContainer", "InsituExecutor", "InsituModel", "InsituTestKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituSQLTests",
            dependencies: [
                "InsituSQL", "InsituExecutor", "InsituModel", "InsituLocalCluster", "InsituProcess",
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InsituEndToEndTests",
            dependencies: [
                "InsituTestKit", "InsituClient", "InsituAPI", "InsituModel", "InsituLocalCluster", "InsituSimulation",
                "InsituContainer", "InsituPolicy", "InsituTLS", "InsituAudit", "InsituAuditFile",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "WAT", package: "WasmKit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FlipSync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flipsyncctl", targets: ["flipsyncctl"]),
        .executable(name: "flipsyncd", targets: ["flipsyncd"]),
        .executable(name: "flipsync-sandbox", targets: ["flipsync-sandbox"]),
        .executable(name: "flipsync-bench", targets: ["flipsync-bench"]),
        .library(name: "FlipSyncCore", targets: ["FlipSyncCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
    ],
    targets: [
        // A TOML 1.0 parser that keeps the line of every key and value, so job files
        // can be validated with `PATH:LINE: error: message`.
        .target(name: "FlipSyncTOML"),
        // Swift concurrency's global-enqueue hook, declared in C so that it also resolves with the
        // runtime linked statically (FlipSyncRuntime's GlobalExecutor, flipsyncd's executor).
        .target(name: "CConcurrencyHook"),
        // glibc's mallopt, to cap malloc's arenas first thing in every executable (FlipSyncRuntime's ProcessMemory).
        .target(name: "CMalloc"),
        // Pure domain logic: job files, schedules, money, the scheduler, the agent pool, workflows.
        // No I/O beyond protocols (and reading the system's zoneinfo). The system clock sleeps
        // on a SwiftNIO event loop's timer (one wake-up when due, none while idle).
        .target(name: "FlipSyncCore", dependencies: [
            "FlipSyncTOML",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The run ledger: SQLite through GRDB. The only module that knows SQL.
        .target(name: "FlipSyncStore", dependencies: [
            "FlipSyncCore",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "GRDB", package: "GRDB.swift"),
            // SQLite's C API itself, for the one call GRDB has no Swift for (`sqlite3_wal_hook`).
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Several nodes on one PostgreSQL (postgres-nio): the node registry, the scheduler lease
        // with its fencing token, and fires unique on (job, scheduled_at) across nodes.
        .target(name: "FlipSyncCluster", dependencies: [
            "FlipSyncCore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The run ledger in PostgreSQL (issue 16): the same schema steps as SQLite's, `PostgresLedger`
        // behind Core's ledger protocols (synchronous, on an event loop of its own), and the copy
        // of an SQLite ledger into PostgreSQL (`flipsyncctl migrate-store`).
        .target(name: "FlipSyncPostgres", dependencies: [
            "FlipSyncCore",
            "FlipSyncCluster",
            "FlipSyncStore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libsystemd, through pkg-config (Debian: libsystemd-dev).
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // zlib, for Amazon's GZIP feed documents (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The journal log handler, sd_notify and the watchdog, credentials.
        .target(name: "FlipSyncSystemd", dependencies: [
            "CSystemd",
            "FlipSyncCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The control socket: a Unix socket with peer-credential checks, its wire format and client.
        .target(name: "FlipSyncControl", dependencies: [
            "FlipSyncCore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Marketplace, carrier and LLM clients over one HTTP transport protocol: AsyncHTTPClient on SwiftNIO
        // (the default) or URLSession (libcurl through FoundationNetworking; the test harnesses use it).
        .target(name: "FlipSyncMarketplaces", dependencies: [
            "CZlib",
            "FlipSyncCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The local sandbox marketplace: the real APIs' shapes on loopback, with seeded data and faults.
        .target(name: "FlipSyncSandbox", dependencies: [
            "CZlib",
            "FlipSyncCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "flipsync-sandbox", dependencies: [
            "FlipSyncCore",
            "FlipSyncSandbox",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Assembles a run's world from the config (ledger, spend ledger, channel clients, plans),
        // starts one run (`runOnce`), and holds the daemon's decisions and services: the scheduler
        // service, reload on SIGHUP, resuming interrupted runs.
        .target(name: "FlipSyncRuntime", dependencies: ["FlipSyncCore", "FlipSyncStore", "FlipSyncPostgres", "FlipSyncMarketplaces", "FlipSyncSystemd", "CMalloc", "CConcurrencyHook",
                                                        .product(name: "Hummingbird", package: "hummingbird"),
                                                        .product(name: "Prometheus", package: "swift-prometheus"),
                                                        .product(name: "Logging", package: "swift-log"),
                                                        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                                                        .product(name: "NIOCore", package: "swift-nio"),
                                                        .product(name: "NIOPosix", package: "swift-nio")]),
        // Helpers for tests (and the bench): a clock tests move by hand, a NOTIFY_SOCKET listener, the
        // sandbox's [marketplaces.*] config text.
        .target(name: "FlipSyncTestKit", dependencies: ["FlipSyncCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .executableTarget(
            name: "flipsyncctl",
            dependencies: [
                "FlipSyncCore",
                "FlipSyncStore",
                "FlipSyncPostgres",
                "FlipSyncSystemd",
                "FlipSyncControl",
                "FlipSyncRuntime",
                "FlipSyncMarketplaces",
                "FlipSyncSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "flipsyncd",
            dependencies: [
                "FlipSyncCluster",
                "FlipSyncCore",
                "FlipSyncStore",
                "FlipSyncSystemd",
                "FlipSyncControl",
                "FlipSyncRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "flipsync-bench", dependencies: ["FlipSyncCore", "FlipSyncStore", "FlipSyncMarketplaces", "FlipSyncSandbox", "FlipSyncRuntime", "FlipSyncCluster", "FlipSyncTestKit", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")], path: "Benchmarks/flipsync-bench"),
        .testTarget(name: "FlipSyncTOMLTests", dependencies: ["FlipSyncTOML"], exclude: ["Vectors"]),
        .testTarget(name: "FlipSyncCoreTests", dependencies: ["FlipSyncCore", "FlipSyncStore", "FlipSyncTestKit",
                                                              .product(name: "GRDB", package: "GRDB.swift"),
                                                              .product(name: "NIOCore", package: "swift-nio"),
                                                              .product(name: "NIOEmbedded", package: "swift-nio")],
                    exclude: ["Vectors"]),
        .testTarget(name: "FlipSyncSystemdTests", dependencies: ["FlipSyncSystemd", "FlipSyncCore", "FlipSyncRuntime", "FlipSyncTestKit",
                                                                 .product(name: "Logging", package: "swift-log"),
                                                                 .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "FlipSyncControlTests", dependencies: ["FlipSyncControl", "FlipSyncCore"]),
        .testTarget(name: "FlipSyncRuntimeTests", dependencies: ["FlipSyncRuntime", "FlipSyncCore", "FlipSyncStore", "FlipSyncSystemd",
                                                                 "FlipSyncTestKit", "FlipSyncSandbox", "FlipSyncMarketplaces",
                                                                 .product(name: "InMemoryLogging", package: "swift-log"),
                                                                 .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                                 .product(name: "NIOCore", package: "swift-nio"),
                                                                 .product(name: "NIOPosix", package: "swift-nio")]),
        // Workflows end to end: the daemon's plans over the real clients, against the sandbox, into SQLite.
        .testTarget(name: "FlipSyncWorkflowTests", dependencies: ["FlipSyncCore", "FlipSyncStore", "FlipSyncMarketplaces",
                                                                  "FlipSyncSandbox", "FlipSyncTestKit"]),
        // Several nodes on one real PostgreSQL (started by the tests in a temporary directory), and the
        // run ledger's contract suite over both stores (LedgerContractTests).
        .testTarget(name: "FlipSyncClusterTests", dependencies: ["FlipSyncCluster", "FlipSyncCore", "FlipSyncStore", "FlipSyncTestKit", "FlipSyncRuntime",
                                                                 "FlipSyncPostgres", .product(name: "GRDB", package: "GRDB.swift"),
                                                                 "FlipSyncMarketplaces", "FlipSyncSandbox",
                                                                 .product(name: "PostgresNIO", package: "postgres-nio"),
                                                                 .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "FlipSyncMarketplacesTests", dependencies: ["FlipSyncMarketplaces", "FlipSyncSandbox", "FlipSyncCore", "FlipSyncTestKit"]),
    ],
    swiftLanguageModes: [.v6]
)

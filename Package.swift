// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FlipSync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flipsyncctl", targets: ["flipsyncctl"]),
        .executable(name: "flipsyncd", targets: ["flipsyncd"]),
        .library(name: "FlipSyncCore", targets: ["FlipSyncCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // A TOML 1.0 parser that keeps the line of every key and value, so job files
        // can be validated with `PATH:LINE: error: message`.
        .target(name: "FlipSyncTOML"),
        // Pure domain logic: job files, schedules, money. No I/O beyond protocols
        // (and reading the system's zoneinfo).
        .target(name: "FlipSyncCore", dependencies: ["FlipSyncTOML"]),
        .executableTarget(
            name: "flipsyncctl",
            dependencies: [
                "FlipSyncCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "flipsyncd",
            dependencies: [
                "FlipSyncCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "FlipSyncTOMLTests", dependencies: ["FlipSyncTOML"], exclude: ["Vectors"]),
        .testTarget(name: "FlipSyncCoreTests", dependencies: ["FlipSyncCore"], exclude: ["Vectors"]),
    ],
    swiftLanguageModes: [.v6]
)

import Foundation

/// The package's root directory (where Package.swift and README.md are), from this file's own
/// path: for tests that read the repository's files or run the binaries `swift build` made.
public let packageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

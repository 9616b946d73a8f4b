import Foundation
#if canImport(Glibc)
import Glibc
import FlipSyncTestKit
#endif

/// A fresh directory under the system temp directory, removed with everything in it by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flipsync-systemd-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    /// Writes `bytes` to `name` with permissions `mode`; returns the path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        guard chmod(file, mode) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return file
    }

    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        try write(name, Array(text.utf8), mode: mode)
    }

    /// Copies `source` to `relativePath` below this directory, as if installed in a root file
    /// system, creating the parent directories and the directories `alsoCreating`.
    func install(_ source: String, at relativePath: String, alsoCreating: [String] = []) throws {
        let target = path + "/" + relativePath
        for directory in [(target as NSString).deletingLastPathComponent] + alsoCreating.map({ path + "/" + $0 }) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: source, toPath: target)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}


struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CommandError: Error, CustomStringConvertible {
    case notFound(String)
    var description: String {
        switch self {
        case .notFound(let name): return "\(name) is not on PATH (install systemd: apt-get install systemd)"
        }
    }
}

/// Runs `name` (looked up on PATH unless it is a path) with `arguments` and waits for it. Output goes through temp
/// files, so a chatty command cannot fill a pipe and block.
func runCommand(_ name: String, _ arguments: [String]) throws -> CommandResult {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    let candidates = name.contains("/") ? [name] : directories.map { String($0) + "/" + name }
    guard let executable = candidates.first(where: { access($0, X_OK) == 0 }) else {
        throw CommandError.notFound(name)
    }
    let scratch = try TemporaryDirectory()
    defer { scratch.remove() }
    let outPath = try scratch.write("stdout", "")
    let errPath = try scratch.write("stderr", "")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    try process.run()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                         stderr: try String(contentsOfFile: errPath, encoding: .utf8))
}

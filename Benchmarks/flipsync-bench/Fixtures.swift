import FlipSyncCore
import Foundation

/// Config and job files for the benchmarks that load jobs the way the daemon does: the shipped
/// config with its paths pointed into a scratch directory, and generated copies of a shipped job.
enum Fixtures {
    /// The package root: the nearest directory above the executable (or the working directory)
    /// that holds Package.swift.
    static let packageRoot: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        for start in [exe, FileManager.default.currentDirectoryPath] {
            var dir = (start as NSString).deletingLastPathComponent
            if start == FileManager.default.currentDirectoryPath { dir = start }
            while dir != "/" && !dir.isEmpty {
                if FileManager.default.fileExists(atPath: dir + "/Package.swift") { return dir }
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// Writes `config/flipsync.toml` with database, jobs directory, control socket and
    /// credentials under `scratch`; returns the config path. `jobs/` is created empty.
    static func writeConfig(in scratch: ScratchDirectory) throws -> String {
        let shipped = try String(contentsOfFile: packageRoot + "/config/flipsync.toml", encoding: .utf8)
        let replacements = [
            "database": scratch.file("flipsync.sqlite"),
            "jobs_directory": scratch.file("jobs"),
            "control_socket": scratch.file("control.sock"),
            "credentials_directory": scratch.file("credentials"),
        ]
        let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            for (key, value) in replacements where line.hasPrefix(key + " ") || line.hasPrefix(key + "=") {
                return "\(key) = \"\(value)\""
            }
            return String(line)
        }
        try FileManager.default.createDirectory(atPath: scratch.file("jobs"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.file("credentials"), withIntermediateDirectories: true)
        try scratch.write("flipsync.toml", lines.joined(separator: "\n"))
        return scratch.file("flipsync.toml")
    }

    /// Copies the four shipped job files into the scratch jobs directory.
    static func copyShippedJobs(into scratch: ScratchDirectory) throws -> Int {
        let names = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/jobs").filter { $0.hasSuffix(".toml") }
        for name in names {
            try FileManager.default.copyItem(atPath: packageRoot + "/jobs/" + name, toPath: scratch.file("jobs/" + name))
        }
        return names.count
    }

    /// Writes `count` job files: the shipped readiness scan under new names, with `schedule`.
    static func writeGeneratedJobs(into scratch: ScratchDirectory, count: Int, schedule: String, timezone: String = "UTC") throws {
        let template = try String(contentsOfFile: packageRoot + "/jobs/readiness-scan.toml", encoding: .utf8)
        for i in 0..<count {
            let name = "bench-\(String(format: "%04d", i))"
            let text = template.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                if line.hasPrefix("name ") { return "name = \"\(name)\"" }
                if line.hasPrefix("schedule ") { return "schedule = \"\(schedule)\"" }
                if line.hasPrefix("timezone ") { return "timezone = \"\(timezone)\"" }
                return String(line)
            }.joined(separator: "\n")
            try scratch.write("jobs/\(name).toml", text)
        }
    }

    /// Loads config and jobs as the daemon does.
    static func load(configPath: String) throws -> DaemonSetup.Loaded {
        let setup = DaemonSetup(configPath: configPath, environment: .init(workingDirectory: FileManager.default.currentDirectoryPath))
        let loaded = setup.load(now: SystemSchedulerClock().now())
        guard loaded.configIsValid, loaded.errors.isEmpty else {
            throw BenchError.setup("fixture config or jobs invalid: \(loaded.errors.prefix(3).map { "\($0)" })")
        }
        return loaded
    }
}

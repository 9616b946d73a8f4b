import NIOCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Results

/// One line of the final table: what was measured, its value, what it is compared with
/// (measured in the same invocation), the ratio, the goal and where the figure stands.
struct ResultRow {
    var benchmark: String
    var metric: String
    var value: String
    var reference: String = ""
    var ratio: String = ""
    var goal: String = ""
    var verdict: String = ""
}

/// Collects rows as benchmarks finish, and prints them as one table at the end.
final class ResultTable {
    private(set) var rows: [ResultRow] = []
    var notes: [String] = []

    func add(_ row: ResultRow) {
        rows.append(row)
        // Progress as it goes: a full run takes minutes.
        log("  \(row.metric): \(row.value)\(row.reference.isEmpty ? "" : "  vs \(row.reference)")\(row.ratio.isEmpty ? "" : "  ratio \(row.ratio)")")
    }

    func render() -> String {
        let header = ResultRow(benchmark: "benchmark", metric: "metric", value: "value", reference: "side by side",
                               ratio: "ratio", goal: "goal", verdict: "stands")
        let all = [header] + rows
        let columns: [(ResultRow) -> String] = [\.benchmark, \.metric, \.value, \.reference, \.ratio, \.goal, \.verdict]
        let widths = columns.map { column in all.map { column($0).count }.max() ?? 0 }
        func line(_ row: ResultRow) -> String {
            "| " + zip(columns, widths).map { column, width in column(row).padding(toLength: width, withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        var out = [line(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

// MARK: - Time

/// Monotonic nanoseconds.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func wallMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Keeps the optimizer from deleting work whose result is otherwise unused.
nonisolated(unsafe) var blackHole: Int64 = 0

func percentile(_ sorted: [Int64], _ p: Double) -> Int64 {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
    return sorted[index]
}

func format(_ value: Double, digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

func formatCount(_ value: Double) -> String {
    let whole = Int(value.rounded())
    var digits = Array(String(whole))
    var out: [Character] = []
    while digits.count > 3 {
        out = [","] + digits.suffix(3) + out
        digits.removeLast(3)
    }
    return String(digits + out)
}

func ratioText(_ ours: Double, _ theirs: Double) -> String {
    guard theirs > 0 else { return "n/a" }
    return format(ours / theirs, digits: 2) + "×"
}

// MARK: - Temporary files

/// A directory from `mkdtemp`, removed with everything in it by `remove()`.
final class ScratchDirectory {
    let path: String

    init(_ label: String) throws {
        var template = Array("\(NSTemporaryDirectory())/flipsync-bench-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw BenchError.setup("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum BenchError: Error, CustomStringConvertible {
    case setup(String)
    var description: String {
        switch self {
        case .setup(let message): return message
        }
    }
}

// MARK: - Processes

/// Runs a command to its end (bounded by `timeout`), returning its exit status, its stdout and
/// the wall time from spawn to exit in nanoseconds. A command that overruns is killed.
func runCommand(_ arguments: [String], stdin: String? = nil, timeout: Double = 300) throws -> (status: Int32, output: String, nanoseconds: UInt64) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    let start = nowNanoseconds()
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try? input.fileHandleForWriting.close()
    }
    let pid = process.processIdentifier
    let killer = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let elapsed = nowNanoseconds() - start
    killer.cancel()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self), elapsed)
}

func commandExists(_ name: String) -> Bool {
    (try? runCommand(["sh", "-c", "command -v \(name)"], timeout: 10).status) == 0
}

// MARK: - /proc

/// `key:   value kB` lines of a /proc status file.
func procStatusValue(_ path: String, _ key: String) -> Int64? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        // "VmRSS:\t   12345 kB", "voluntary_ctxt_switches:\t42"
        let number = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
        return number.flatMap { Int64($0) }
    }
    return nil
}

/// Voluntary context switches of this process: per live thread from /proc/self/task/*/status
/// (`/proc/self/status` alone counts only the main thread), and process-wide from
/// `getrusage(RUSAGE_SELF)`, which also keeps the counts of threads that have exited.
struct SwitchSample {
    var perThread: [String: Int64]
    var processWide: Int64

    static func now() -> SwitchSample {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var perThread: [String: Int64] = [:]
        for task in tasks {
            perThread[task] = procStatusValue("/proc/self/task/\(task)/status", "voluntary_ctxt_switches") ?? 0
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return SwitchSample(perThread: perThread, processWide: Int64(usage.ru_nvcsw))
    }

    /// Switches since `earlier`: threads alive in both samples by their delta, new threads whole.
    func threadDelta(since earlier: SwitchSample) -> Int64 {
        perThread.reduce(0) { sum, entry in sum + entry.value - (earlier.perThread[entry.key] ?? 0) }
    }
}

/// A few lines about the machine, for BENCHMARKS.md.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?" } ?? "?"
    let memKB = procStatusValue("/proc/meminfo", "MemTotal") ?? 0
    let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    let executor = switch benchExecutor {
    case "daemon": "executor: as flipsyncd (NIO, \(NIOSingletons.groupLoopCountSuggestion) event loop(s))"
    case "nio": "executor: NIO (\(NIOSingletons.groupLoopCountSuggestion) event loops)"
    default: "executor: Swift's pool"
    }
    return "\(ProcessInfo.processInfo.activeProcessorCount) CPUs (nproc), \(model), \(memKB / 1024 / 1024) GiB RAM, load average \(load), \(executor)"
}

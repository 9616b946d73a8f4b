import FlipSyncCore
import FlipSyncTOML
import Foundation

/// Item 4 of issue 14: the TOML parser on adversarial documents of 1 MiB (four times the 256 KiB
/// a job, config or rate-card file may have). The goal: each is parsed in under 1 s or refused
/// with a clear error. Best of three; Python's tomllib runs the same files side by side.
/// Then a whole job file of 256 KiB through validation, did-you-mean included.
enum TOMLBench {
    static let size = 1 << 20

    /// Repeats `unit` (with `head` before and `tail` after) to about `size` bytes.
    static func filled(_ head: String, _ unit: String, _ tail: String, separator: String = "") -> String {
        let count = max(1, (size - head.utf8.count - tail.utf8.count) / (unit.utf8.count + separator.utf8.count))
        return head + Array(repeating: unit, count: count).joined(separator: separator) + tail
    }

    static let inputs: [(name: String, text: String)] = {
        let deepKey = Array(repeating: "p", count: 31).joined(separator: ".")
        var dotted = ""
        var i = 0
        while dotted.utf8.count < size {
            dotted += "\(deepKey).k\(i) = \(i)\n"
            i += 1
        }
        var inline = "a = {"
        i = 0
        while inline.utf8.count < size {
            inline += (i == 0 ? "" : ", ") + "k\(i) = 1"
            i += 1
        }
        var keys = ""
        i = 0
        while keys.utf8.count < size {
            keys += "key_\(i) = \(i)\n"
            i += 1
        }
        return [
            ("one-line array of integers", filled("a = [", "1", "]\n", separator: ",")),
            ("one-line array of \"é\" strings", filled("a = [", "\"é\"", "]\n", separator: ",")),
            ("one-line inline table", inline + "}\n"),
            ("1 MiB string", filled("a = \"", "x", "\"\n")),
            ("multi-line string", filled("a = \"\"\"\n", "line\\\n", "\"\"\"\n")),
            ("comments", filled("", "# a comment\n", "")),
            ("keys, one per line", keys),
            ("31-part dotted keys, one per line", dotted),
            ("[[x]] headers", filled("", "[[x]]\n", "")),
            ("header of 500,000 parts (refused)", filled("[", "a", "]\n", separator: ".")),
            ("dotted key of 500,000 parts (refused)", filled("", "a", " = 1\n", separator: ".")),
            ("nested arrays (refused)", filled("a = ", "[", "")),
            ("nested inline tables (refused)", filled("a = ", "{b = ", "")),
        ]
    }()

    static let python = #"""
import json, sys, time, tomllib
out = []
for path in json.loads(sys.stdin.read()):
    data = open(path, "rb").read().decode()
    best = None
    for _ in range(3):
        t = time.perf_counter()
        try:
            tomllib.loads(data)
        except Exception:
            pass
        d = time.perf_counter() - t
        best = d if best is None or d < best else best
    out.append(best * 1000)
print(json.dumps(out))
"""#

    static func run(quick: Bool, table: ResultTable) throws {
        let scratch = try ScratchDirectory("toml")
        defer { scratch.remove() }
        let documents = inputs
        var paths: [String] = []
        for (n, document) in documents.enumerated() {
            try scratch.write("input-\(n).toml", document.text)
            paths.append(scratch.file("input-\(n).toml"))
        }
        // tomllib only gets the documents we parse: on the ones we refuse it recurses or, on a
        // 500,000-part key, takes quadratic time (minutes).
        let compared = documents.indices.filter { !documents[$0].name.hasSuffix("(refused)") }
        var pythonMilliseconds: [Int: Double] = [:]
        if commandExists("python3") {
            let list = String(decoding: try JSONEncoder().encode(compared.map { paths[$0] }), as: UTF8.self)
            let result = try runCommand(["python3", "-c", python], stdin: list, timeout: 300)
            if let times = try? JSONDecoder().decode([Double].self, from: Data(result.output.utf8)), times.count == compared.count {
                pythonMilliseconds = Dictionary(uniqueKeysWithValues: zip(compared, times))
            }
        }
        for (n, document) in documents.enumerated() {
            let bytes = Array(document.text.utf8)
            var best = UInt64.max
            var outcome = ""
            for _ in 0..<(quick ? 1 : 3) {
                let start = nowNanoseconds()
                do {
                    let parsed = try TOML.parse(bytes: bytes)
                    blackHole &+= Int64(parsed.entries.count)
                    outcome = "parsed"
                } catch {
                    outcome = "refused: \(error.message.prefix(40))…"
                }
                best = min(best, nowNanoseconds() - start)
            }
            let ours = Double(best) / 1e6
            let theirs = pythonMilliseconds[n]
            table.add(ResultRow(
                benchmark: "toml", metric: "\(document.name), \(bytes.count / 1024) KiB",
                value: "\(format(ours)) ms (\(outcome))",
                reference: theirs.map { "tomllib \(format($0)) ms" } ?? "",
                ratio: theirs.map { ratioText(ours, $0) } ?? "",
                goal: "< 1000 ms", verdict: ours < 1000 ? "yes" : "NO"))
        }
        try validation(scratch: scratch, quick: quick, table: table)
    }

    /// Whole job files at the 256 KiB limit, read, parsed and validated as `flipsyncctl validate` does.
    static func validation(scratch: ScratchDirectory, quick: Bool, table: ResultTable) throws {
        let limit = 256 * 1024 - 200
        let job = "name = \"n\"\nkind = \"repricing-sweep\"\nschedule = \"daily\"\n[params]\nmarketplaces = [\"ebay\"]\n"
        let cases: [(String, String)] = [
            ("250 KB zone name (did-you-mean)", "timezone = \"" + String(repeating: "America/New_Yrok", count: limit / 16) + "\"\n" + job),
            ("250 KB unknown key", String(repeating: "k", count: limit) + " = 1\n" + job),
            ("250 KB schedule", job.replacingOccurrences(of: "\"daily\"", with: "\"" + String(repeating: "1,", count: limit / 2) + "1 * * * *\"")),
            ("schedule list of 25,000 items", job.replacingOccurrences(of: "\"daily\"", with: "[" + Array(repeating: "\"daily\"", count: 25_000).joined(separator: ",") + "]")),
            ("10,000 unknown keys", (0..<10_000).map { "unknown_key_\($0) = 1\n" }.joined() + job),
        ]
        try scratch.write("flipsync.toml", "[daemon]\njobs_directory = \"jobs\"\n")
        let loaded = ConfigLocator.load(explicit: scratch.file("flipsync.toml"), environment: .init(workingDirectory: scratch.path))
        for (name, text) in cases {
            try scratch.write("job.toml", text)
            var best = UInt64.max
            var errors = 0
            for _ in 0..<(quick ? 1 : 3) {
                let start = nowNanoseconds()
                let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.file("job.toml")], defaults: loaded.jobDefaults, now: SystemClock.now())
                best = min(best, nowNanoseconds() - start)
                blackHole &+= Int64(catalog.jobs.count)
                errors = diagnostics.count
            }
            let ours = Double(best) / 1e6
            table.add(ResultRow(benchmark: "toml", metric: "validate: \(name), \(text.utf8.count / 1024) KiB",
                                value: "\(format(ours)) ms (\(errors) diagnostics)", goal: "< 1000 ms", verdict: ours < 1000 ? "yes" : "NO"))
        }
    }
}

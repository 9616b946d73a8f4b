import Foundation
import Testing
@testable import FlipSyncCore
import FlipSyncTOML
import FlipSyncTestKit

/// 5 minutes for the CI run; a soak (`FLIPSYNC_FUZZ_CASES`) gets a minute per 10,000 cases more.
let fuzzTimeLimit: TimeLimitTrait.Duration = .minutes(5 + (ProcessInfo.processInfo.environment["FLIPSYNC_FUZZ_CASES"].flatMap(Int.init) ?? 0) / 10_000)

/// Mutates the shipped job and config files at random (a fixed seed, so a failure reproduces)
/// and checks what an operator relies on: never a crash or a hang, and every problem reported
/// at a line inside the file.
@Suite("Job and config files under random mutation", .timeLimit(fuzzTimeLimit))
struct JobFileFuzzTests {
    static let repo = URL(fileURLWithPath: packageRoot)

    static func shipped() throws -> [(name: String, bytes: [UInt8], isConfig: Bool)] {
        var files: [(String, [UInt8], Bool)] = []
        let jobs = repo.appendingPathComponent("jobs")
        for name in try FileManager.default.contentsOfDirectory(atPath: jobs.path).sorted() where name.hasSuffix(".toml") {
            files.append((name, Array(try Data(contentsOf: jobs.appendingPathComponent(name))), false))
        }
        files.append(("flipsync.toml", Array(try Data(contentsOf: repo.appendingPathComponent("config/flipsync.toml"))), true))
        return files
    }

    /// Mutations that keep the file mostly TOML, so validation (not only parsing) is exercised:
    /// swapped values, dropped and repeated lines, edited keys, stray bytes, odd encodings.
    static func mutate(_ bytes: [UInt8], random: inout some RandomNumberGenerator) -> [UInt8] {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        let fragments: [[UInt8]] = ["\"", "=", "[", "]", "{", "}", "\"\"\"", "0", "-1", "99999999999999999999", "1e400",
                                    "\"1h\"", "\"-5m\"", "\"0.50 EUR\"", "\"150%\"", "\"* * * *\"", "\"*-02-30\"", "true",
                                    "[[x]]", "\u{FEFF}", "\u{0}", "é", "\\u0000", "\r", "#", "schedule", "timezone",
                                    "\"Mars/Olympus\"", "[params]", "[retry]", "[daemon]", "a.b.c"].map { Array($0.utf8) }
        for _ in 0...Int.random(in: 0...3, using: &random) where !lines.isEmpty {
            let i = Int.random(in: 0..<lines.count, using: &random)
            switch Int.random(in: 0..<10, using: &random) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[Int.random(in: 0..<lines.count, using: &random)], at: i)
            case 2:  // replace the value of a key = value line
                if let eq = lines[i].firstIndex(of: 0x3D) {
                    lines[i] = Array(lines[i][...eq]) + [0x20] + fragments.randomElement(using: &random)!
                }
            case 3:  // edit the key
                if let eq = lines[i].firstIndex(of: 0x3D), eq > 1 {
                    lines[i].remove(at: Int.random(in: 0..<(eq - 1), using: &random))
                }
            case 4:
                let at = Int.random(in: 0...lines[i].count, using: &random)
                lines[i].insert(contentsOf: fragments.randomElement(using: &random)!, at: at)
            case 5:  // deep nesting: arrays, inline tables
                let depth = Int.random(in: 1...5000, using: &random)
                let opener = ["[", "{a = ", "[{b.c = "].randomElement(using: &random)!
                lines.insert(Array(("x = " + String(repeating: opener, count: depth)).utf8), at: i)
            case 7:  // deep table headers and dotted keys, around the 32-level limit or far past it
                let parts = Bool.random(using: &random) ? Int.random(in: 28...36, using: &random) : Int.random(in: 1...8000, using: &random)
                let key = Array(repeating: ["a", "params", "\"q\""].randomElement(using: &random)!, count: parts).joined(separator: ".")
                lines.insert(Array((Bool.random(using: &random) ? "[\(key)]" : "\(key) = 1").utf8), at: i)
            case 8:  // a long line: a one-line array, or a long value
                let items = Int.random(in: 1...2000, using: &random)
                let line = Bool.random(using: &random)
                    ? "x = [" + Array(repeating: ["1", "\"é\"", "{}", "[]"].randomElement(using: &random)!, count: items).joined(separator: ",") + "]"
                    : "timezone = \"" + String(repeating: "America/New_York", count: items) + "\""
                lines.insert(Array(line.utf8), at: i)
            case 9:  // control characters and separators inside a value (they must not break a diagnostic's line)
                if let eq = lines[i].firstIndex(of: 0x3D) {
                    let nasty = ["\\n", "\\r", "\\u2028", "\\u0085", "\\u001b[2J", "\\t"].randomElement(using: &random)!
                    lines[i] = Array(lines[i][...eq]) + Array(" \"x\(nasty)other.toml:1: error: y\"".utf8)
                }
            default:
                if !lines[i].isEmpty { lines[i][Int.random(in: 0..<lines[i].count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
            }
        }
        return Array(lines.joined(separator: [0x0A]))
    }

    /// 10,000 cases from a fixed seed in CI; a longer soak sets `FLIPSYNC_FUZZ_CASES` and
    /// `FLIPSYNC_FUZZ_SEED` (printed on failure, so it reproduces).
    static let cases = ProcessInfo.processInfo.environment["FLIPSYNC_FUZZ_CASES"].flatMap(Int.init) ?? 10_000
    static let seed = ProcessInfo.processInfo.environment["FLIPSYNC_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0xF11B5

    @Test("10,000 mutated files: no crash, and every error names a line inside its file")
    func mutatedFiles() throws {
        var random = SplitMix64(seed: Self.seed)  // fixed seed: a failure reproduces
        let seeds = try Self.shipped()
        let defaults = JobDefaults(timezone: .utc, currency: .usd, configuredMarketplaces: Set(MarketplaceName.allCases),
                                   configFile: "config/flipsync.toml")
        let environment = FlipSyncConfig.Environment(workingDirectory: "/tmp")
        var valid = 0, refused = 0
        for _ in 0..<Self.cases {
            let seed = seeds.randomElement(using: &random)!
            let bytes = Self.mutate(seed.bytes, random: &random)
            let lineCount = bytes.filter { $0 == 0x0A }.count + 1
            let log = DiagnosticLog()
            do {
                let table = try TOML.parse(bytes: bytes)
                if seed.isConfig {
                    _ = FlipSyncConfig.read(file: seed.name, directory: "/tmp", table: table, environment: environment, log: log)
                } else {
                    _ = JobFileReader.read(file: seed.name, table: table, defaults: defaults, now: validationNow, log: log)
                }
            } catch {
                log.error(seed.name, error.position.line, error.message)
            }
            for entry in log.entries {
                #expect(entry.file == seed.name)
                // Printed, every diagnostic is one line starting with FILE:LINE:.
                let printed = entry.description
                #expect(printed.hasPrefix("\(seed.name):\(entry.line): ") && !printed.contains(where: \.isNewline), "\(printed)")
                #expect(entry.line >= 1 && entry.line <= lineCount, "seed \(Self.seed): \(entry) in \(String(decoding: bytes, as: UTF8.self))")
                #expect(!entry.message.isEmpty)
            }
            if log.hasErrors { refused += 1 } else { valid += 1 }
        }
        // Both outcomes occur: the mutations are neither all harmless nor all fatal.
        #expect(refused > Self.cases / 10)
        #expect(valid > Self.cases / 100)
    }
}

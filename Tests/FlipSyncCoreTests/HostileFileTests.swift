import Foundation
import Testing
@testable import FlipSyncCore

/// Job and config files written to hurt: nesting deep enough to overflow a recursive reader,
/// values with newlines that would fake diagnostics, names long enough to make did-you-mean slow.
@Suite("Job files: hostile input", .timeLimit(.minutes(2)))
struct HostileFileTests {
    static let limitMessage = "nested deeper than 32 levels (the limit; each part of a key and each array element is one level)"

    /// The shapes that crashed the parser (issue 14, item 3): each is one small file.
    static let crashShaped: [(name: String, text: String)] = [
        ("header.toml", "[" + Array(repeating: "a", count: 8_000).joined(separator: ".") + "]\n"),
        ("dotted.toml", Array(repeating: "a", count: 10_000).joined(separator: ".") + " = 1\n"),
        ("arrays.toml", "x = " + String(repeating: "[", count: 8_000) + String(repeating: "]", count: 8_000) + "\n"),
        ("inline.toml", "x = " + String(repeating: "{a = ", count: 8_000) + "1" + String(repeating: "}", count: 8_000) + "\n"),
    ]

    @Test("a directory with crash-shaped files still loads the other files' jobs; each bad file gets one error at line 1")
    func crashShapedFilesAreIsolated() {
        let scratch = Scratch()
        scratch.write("good.toml", minimalRepricing)
        for file in Self.crashShaped { scratch.write(file.name, file.text) }
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.map(\.name) == ["reprice"])
        #expect(diagnostics.map { ($0.file as NSString).lastPathComponent }.sorted() == Self.crashShaped.map(\.name).sorted())
        for d in diagnostics {
            #expect(d.line == 1 && d.severity == .error && d.message == Self.limitMessage, "\(d)")
        }
    }

    @Test("a config file nested too deep is refused with the limit, not a crash")
    func deepConfig() {
        let scratch = Scratch()
        let path = scratch.write("flipsync.toml", "[daemon]\n[" + Array(repeating: "d", count: 8_000).joined(separator: ".") + "]\n")
        let log = DiagnosticLog()
        #expect(FlipSyncConfig.load(path: path, environment: .init(workingDirectory: scratch.path), log: log) == nil)
        #expect(log.entries.map(\.description) == ["\(path):2: error: \(Self.limitMessage)"])
    }

    @Test("a value with a newline stays on its diagnostic's line, which starts with FILE:LINE:")
    func newlineInValue() throws {
        let scratch = Scratch()
        let file = scratch.write("job.toml", minimalRepricing.replacingOccurrences(of: "\"repricing-sweep\"", with: #""marketplace-sync\n""#))
        // A value that tries to forge a diagnostic for another file.
        let forged = scratch.write("forged.toml", minimalRepricing.replacingOccurrences(
            of: "\"*-*-* 02:00:00\"", with: #""x\n/etc/flipsync/jobs/other.toml:1: error: forged\r\u2028""#))
        let (_, diagnostics) = JobCatalog.load(paths: [file, forged], defaults: testDefaults, now: validationNow)
        #expect(diagnostics.count == 2)
        // The message keeps the raw value; the printed line escapes it.
        #expect(diagnostics.contains { $0.message.contains("marketplace-sync\n") })
        for d in diagnostics {
            let printed = d.description
            #expect(!printed.contains("\n") && !printed.contains("\r") && !printed.unicodeScalars.contains("\u{2028}"), "\(printed)")
            #expect(printed.hasPrefix("\(d.file):\(d.line): error: "), "\(printed)")
        }
        let kind = try #require(diagnostics.first { $0.file == file })
        #expect(kind.description.hasPrefix(#"\#(file):2: error: "kind" is "marketplace-sync\n"; expected one of: "#))
        let schedule = try #require(diagnostics.first { $0.file == forged })
        #expect(schedule.description.contains(#"x\n/etc/flipsync/jobs/other.toml:1: error: forged\r\u{2028}"#))
    }

    @Test("every control character, the line separators and the bidi controls are escaped; other text is not")
    func escaping() {
        #expect(Diagnostic.escaped("a\nb\rc\td") == #"a\nb\rc\td"#)
        #expect(Diagnostic.escaped("\u{0}\u{1B}\u{7F}\u{85}\u{9F}") == #"\u{0}\u{1B}\u{7F}\u{85}\u{9F}"#)
        #expect(Diagnostic.escaped("\u{2028}\u{2029}\u{202E}\u{2066}\u{200F}") == #"\u{2028}\u{2029}\u{202E}\u{2066}\u{200F}"#)
        #expect(Diagnostic.escaped("é 東京 \"q\" \\ ~ \u{A0}") == "é 東京 \"q\" \\ ~ \u{A0}")
        // The file name is escaped too: a path with a newline cannot start a line of its own.
        let d = Diagnostic(file: "jobs/a\nb.toml", line: 3, message: "bad\n")
        #expect(d.description == #"jobs/a\nb.toml:3: error: bad\n"#)
    }

    @Test("did-you-mean skips words longer than 64 characters and still suggests near misses")
    func boundedSuggestions() {
        #expect(Suggestion.maxSuggestedLength == 64)
        #expect(Suggestion.closest(to: "America/New_Yrok", in: CommonZones.names) == "America/New_York")
        #expect(Suggestion.closest(to: String(repeating: "a", count: 65), in: [String(repeating: "a", count: 64)]) == nil)
        #expect(Suggestion.closest(to: String(repeating: "a", count: 63), in: [String(repeating: "a", count: 64)]) == String(repeating: "a", count: 64))
        // A 250 KB zone name is reported (without a suggestion), not pondered over.
        let zone = String(repeating: "America/New_York", count: 16_000)
        let (jobs, errors) = check("timezone = \"\(zone)\"\n" + minimalRepricing)
        #expect(jobs.isEmpty && errors.count == 1)
        #expect(errors.first?.hasPrefix("1: \"timezone\": unknown time zone") == true)
        #expect(errors.first?.contains("did you mean") == false)
    }
}

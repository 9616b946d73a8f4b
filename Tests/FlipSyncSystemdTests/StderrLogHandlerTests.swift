import FlipSyncCore
import Logging
import Testing
@testable import FlipSyncSystemd

private let at = Timestamp(parsing: "2026-11-25T22:10:00Z")!

private func line(_ level: Logger.Level = .info, _ message: Logger.Message, _ metadata: Logger.Metadata = [:],
                  error: (any Error)? = nil) -> String {
    let event = LogEvent(level: level, message: message, error: error, metadata: nil, source: nil,
                         file: "f.swift", function: "f()", line: 1)
    return StderrLogHandler.line(for: event, metadata: metadata, at: at)
}

@Suite("Stderr log lines", .timeLimit(.minutes(2)))
struct StderrLogHandlerTests {
    @Test("a line is time, padded level, message, then metadata sorted by key")
    func layout() {
        #expect(line(.info, "run finished: 40 repriced", ["run": "12", "job": "nightly-repricing"])
                == "2026-11-25T22:10:00Z info  run finished: 40 repriced job=nightly-repricing run=12\n")
    }

    @Test("levels are padded to five columns", arguments: [
        (Logger.Level.trace, "trace "), (.debug, "debug "), (.info, "info  "), (.notice, "notice "),
        (.warning, "warning "), (.error, "error "), (.critical, "critical "),
    ])
    func levelPadding(level: Logger.Level, expected: String) {
        #expect(line(level, "m") == "2026-11-25T22:10:00Z \(expected)m\n")
    }

    @Test("values that are not one plain word are quoted and escaped", arguments: [
        ("plain", "k=plain"),
        ("two words", "k=\"two words\""),
        ("", "k=\"\""),
        ("a=b", "k=\"a=b\""),
        ("say \"hi\"", "k=\"say \\\"hi\\\"\""),
        ("C:\\dir", "k=\"C:\\\\dir\""),
        ("a\nb", "k=\"a\\nb\""),
        ("tab\there", "k=\"tab\\there\""),
        ("bell\u{7}", "k=\"bell\\u{7}\""),
    ])
    func quoting(value: String, expected: String) {
        #expect(line(.info, "m", ["k": .string(value)]) == "2026-11-25T22:10:00Z info  m \(expected)\n")
    }

    @Test("one entry is always exactly one line", arguments: [
        "multi\nline\nmessage", "carriage\rreturn", "\n", "unicode line\u{2028}separator", "esc \u{1B}[31m red",
    ])
    func oneLine(text: String) {
        let written = line(.error, "\(text)", ["error": .string(text), text: "v"])
        #expect(written.filter { $0 == "\n" || $0 == "\r" || $0 == "\u{2028}" }.count == 1)
        #expect(written.hasSuffix("\n"))
    }

    @Test("an error attached to the event is shown unless metadata has one")
    func error() {
        struct Refused: Error, CustomStringConvertible { var description: String { "HTTP 429" } }
        #expect(line(.error, "call failed", error: Refused()) == "2026-11-25T22:10:00Z error call failed error=\"HTTP 429\"\n")
        #expect(line(.error, "call failed", ["error": "budget"], error: Refused())
                == "2026-11-25T22:10:00Z error call failed error=budget\n")
    }
}

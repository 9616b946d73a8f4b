import FlipSyncCore
import Logging

/// A swift-log handler that writes one readable line per entry to standard error, for running
/// outside systemd (a terminal, a container log):
///
///     2026-11-25T22:10:00Z info  run finished: 40 repriced job=nightly-repricing run=12
///
/// Time is UTC to the second, the level is padded to five columns, metadata follows the message
/// sorted by key. Invariant: one entry is always exactly one line — control characters in the
/// message are escaped (`\n`, `\r`, `\t`, `\u{1B}`), and a metadata value that is empty or holds
/// a space, `"`, `=`, `\` or a control character is quoted with those escaped.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(logLevel: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = Logger.Metadata.merged(handler: metadata, provider: metadataProvider, event: event.metadata)
        // One write per line, so lines from concurrent tasks do not interleave.
        FileSystem.writeToStandardError(Self.line(for: event, metadata: merged, at: SystemClock.now()))
    }

    /// The line for one entry, newline included. An error attached to the event is shown as
    /// `error=…` unless the metadata already has an `error`.
    static func line(for event: LogEvent, metadata: Logger.Metadata, at time: Timestamp) -> String {
        var line = time.iso8601UTC
        line += " "
        let level = event.level.rawValue
        line += level
        line += String(repeating: " ", count: max(1, 6 - level.count))
        appendEscaped(event.message.description, to: &line, quoting: false)
        var entries = metadata.map { ($0.key, $0.value.description) }
        if let error = event.error, metadata["error"] == nil { entries.append(("error", String(describing: error))) }
        for (key, value) in entries.sorted(by: { $0.0 < $1.0 }) {
            line += " "
            appendEscaped(key, to: &line, quoting: false)
            line += "="
            appendEscaped(value, to: &line, quoting: true)
        }
        line += "\n"
        return line
    }

    /// Appends `text` with control characters escaped; with `quoting`, text that could not be read
    /// back unambiguously as one `key=value` word is wrapped in quotes, `"` and `\` escaped.
    static func appendEscaped(_ text: String, to line: inout String, quoting: Bool) {
        let needsQuotes = quoting && (text.isEmpty || text.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
        })
        if needsQuotes { line += "\"" }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case "\"" where needsQuotes: line += "\\\""
            case "\\" where needsQuotes: line += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}":
                line += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: line.unicodeScalars.append(scalar)
            }
        }
        if needsQuotes { line += "\"" }
    }
}

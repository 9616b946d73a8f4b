import CSystemd
import FlipSyncCore
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes every entry to the systemd journal as one structured entry,
/// with `sd_journal_sendv`.
///
/// Each entry carries `MESSAGE`, `PRIORITY` (trace/debug 7, info 6, notice 5, warning 4, error 3,
/// critical 2), `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and one field per
/// metadata entry. The daemon's metadata keys get fixed names — `job` → `JOB_NAME`, `kind` →
/// `JOB_KIND`, `run` → `RUN_ID`, `task` → `TASK_KEY`, `marketplace` → `MARKETPLACE`,
/// `spend_micros` → `SPEND_MICROS`, `status` → `RUN_STATUS`, `error` → `ERROR_TEXT`, `event` →
/// `FLIPSYNC_EVENT` (plus `MESSAGE_ID` for a ``JournalEvent``) — so operators can filter with
/// `journalctl JOB_NAME=nightly-repricing`. Other keys are uppercased, characters outside
/// `[A-Z0-9_]` become `_`, a leading `_` or digit gets an `F` prefix, and names are cut to 64.
///
/// Values are never parsed: each field is its own iovec, so a value containing a newline (say an
/// error text `"a\nPRIORITY=0"`) stays one field and cannot forge another.
///
/// If the journal cannot be reached (`sd_journal_sendv` fails), the entry is written to standard
/// error as a ``StderrLogHandler`` line instead, so it is not lost silently.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// `SYSLOG_IDENTIFIER` of every entry: what `journalctl -t` selects.
    public let identifier: String

    public init(identifier: String = "flipsyncd", logLevel: Logger.Level = .info,
                metadataProvider: Logger.MetadataProvider? = nil) {
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = Logger.Metadata.merged(handler: metadata, provider: metadataProvider, event: event.metadata)
        let entry = JournalEntry(fields: JournalFields.fields(for: event, metadata: merged, identifier: identifier))
        if entry.send() < 0 {
            FileSystem.writeToStandardError(StderrLogHandler.line(for: event, metadata: merged, at: SystemClock.now()))
        }
    }

    /// Whether standard error is connected to the journal: systemd sets `JOURNAL_STREAM` to
    /// `DEVICE:INODE` of the stream it connects to stdout/stderr, and that matches `fstat(2)` of
    /// stderr only if stderr was not redirected since. The daemon logs natively to the journal
    /// when this is true, and readable lines to stderr otherwise.
    public static func journalIsStderr() -> Bool {
        journalStream(FileSystem.environment("JOURNAL_STREAM"), matchesDescriptor: 2)
    }

    /// Whether `value` (a `JOURNAL_STREAM` value, `DEVICE:INODE` in decimal) names the file open as `descriptor`.
    static func journalStream(_ value: String?, matchesDescriptor descriptor: Int32) -> Bool {
        guard let value, let colon = value.firstIndex(of: ":"),
              let device = UInt64(value[..<colon]),
              let inode = UInt64(value[value.index(after: colon)...]) else { return false }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }
}

/// The fields of one journal entry packed into one buffer, sent as one iovec per field.
struct JournalEntry {
    private var bytes: [UInt8] = []
    /// The end offset of each field in `bytes`.
    private var ends: [Int] = []

    init(fields: [String]) {
        bytes.reserveCapacity(fields.reduce(0) { $0 + $1.utf8.count })
        ends.reserveCapacity(fields.count)
        for field in fields {
            bytes.append(contentsOf: field.utf8)
            ends.append(bytes.count)
        }
    }

    /// Calls `body` with one iovec per field, each pointing at exactly that field's bytes.
    func withIOVecs<R>(_ body: (UnsafeBufferPointer<iovec>) -> R) -> R {
        bytes.withUnsafeBytes { raw in
            var vectors: [iovec] = []
            vectors.reserveCapacity(ends.count)
            var start = 0
            for end in ends {
                vectors.append(iovec(iov_base: raw.baseAddress.map { UnsafeMutableRawPointer(mutating: $0 + start) },
                                     iov_len: end - start))
                start = end
            }
            return vectors.withUnsafeBufferPointer(body)
        }
    }

    /// Sends the entry to the journal; returns `sd_journal_sendv`'s result (negative errno on failure).
    func send() -> Int32 {
        withIOVecs { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}

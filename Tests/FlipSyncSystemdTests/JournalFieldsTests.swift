import Foundation
import Logging
import Testing
@testable import FlipSyncSystemd
#if canImport(Glibc)
import Glibc
#endif

private func event(_ level: Logger.Level = .info, _ message: Logger.Message, error: (any Error)? = nil) -> LogEvent {
    LogEvent(level: level, message: message, error: error, metadata: nil, source: nil,
             file: "FlipSyncCore/Workflows/RunCoordinator.swift", function: "execute(run:job:)", line: 90)
}

@Suite("Journal fields", .timeLimit(.minutes(2)))
struct JournalFieldsTests {
    @Test("swift-log levels map to syslog priorities", arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priority(level: Logger.Level, expected: Int) {
        #expect(JournalFields.priority(level) == expected)
    }

    @Test("metadata keys map to journal field names", arguments: [
        ("job", "JOB_NAME"), ("kind", "JOB_KIND"), ("run", "RUN_ID"), ("task", "TASK_KEY"),
        ("marketplace", "MARKETPLACE"), ("spend_micros", "SPEND_MICROS"), ("status", "RUN_STATUS"),
        ("error", "ERROR_TEXT"), ("event", "FLIPSYNC_EVENT"),
        ("http.status", "HTTP_STATUS"), ("retryAfter", "RETRYAFTER"), ("a-b c", "A_B_C"),
        ("_private", "F_PRIVATE"), ("2fa", "F2FA"), ("", "F"), ("café", "CAF_"), ("日本", "F__"),
        ("message", "F_MESSAGE"), ("priority", "F_PRIORITY"), ("message_id", "F_MESSAGE_ID"),
        ("code_line", "F_CODE_LINE"), ("syslog_identifier", "F_SYSLOG_IDENTIFIER"), ("job_name", "F_JOB_NAME"),
        (String(repeating: "a", count: 100), String(repeating: "A", count: 64)),
        ("_" + String(repeating: "b", count: 70), "F_" + String(repeating: "B", count: 62)),
    ])
    func fieldName(key: String, expected: String) {
        #expect(JournalFields.name(forMetadataKey: key) == expected)
    }

    @Test("every mapped name is a valid, untrusted journal field name", arguments: [
        "x", "_", "__x", "9", "ü", "a=b", "a\nb", "MESSAGE", "_SYSTEMD_UNIT", String(repeating: "é", count: 80),
    ])
    func validFieldName(key: String) {
        let name = JournalFields.name(forMetadataKey: key)
        #expect(!name.isEmpty && name.utf8.count <= 64)
        #expect(name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
        #expect(name.first != "_" && !(name.first?.isNumber ?? true))
    }

    @Test("a run-finished entry has exactly the expected fields, metadata sorted by key")
    func runFinishedFields() {
        let metadata: Logger.Metadata = [
            "job": "nightly-repricing", "kind": "repricing-sweep", "run": "12", "event": "run-finished",
            "status": "succeeded", "spend_micros": "1500", "http.status": "200",
        ]
        let fields = JournalFields.fields(for: event(.info, "run finished: 40 repriced"), metadata: metadata, identifier: "flipsyncd")
        #expect(fields == [
            "MESSAGE=run finished: 40 repriced",
            "PRIORITY=6",
            "MESSAGE_ID=55822404374b4de49654cfbb59ea2956",
            "SYSLOG_IDENTIFIER=flipsyncd",
            "CODE_FILE=FlipSyncCore/Workflows/RunCoordinator.swift",
            "CODE_LINE=90",
            "CODE_FUNC=execute(run:job:)",
            "FLIPSYNC_EVENT=run-finished",
            "HTTP_STATUS=200",
            "JOB_NAME=nightly-repricing",
            "JOB_KIND=repricing-sweep",
            "RUN_ID=12",
            "SPEND_MICROS=1500",
            "RUN_STATUS=succeeded",
        ])
    }

    @Test("each known event gets its MESSAGE_ID", arguments: JournalEvent.allCases)
    func knownEvent(_ known: JournalEvent) {
        let fields = JournalFields.fields(for: event(.info, "x"), metadata: ["event": .string(known.rawValue)], identifier: "flipsyncd")
        #expect(fields.filter { $0.hasPrefix("MESSAGE_ID=") } == ["MESSAGE_ID=" + known.messageID])
        #expect(fields.contains("FLIPSYNC_EVENT=" + known.rawValue))
    }

    @Test("an unknown event is written as FLIPSYNC_EVENT without a MESSAGE_ID")
    func unknownEvent() {
        let fields = JournalFields.fields(for: event(.info, "x"), metadata: ["event": "clock-jump"], identifier: "flipsyncd")
        #expect(fields.contains("FLIPSYNC_EVENT=clock-jump"))
        #expect(!fields.contains { $0.hasPrefix("MESSAGE_ID=") })
    }

    @Test("message ids are 128-bit lowercase hex and distinct")
    func messageIDsAreWellFormed() {
        let ids = JournalEvent.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }, "\(id)")
        }
    }

    @Test("a newline in a value stays inside its field: no PRIORITY can be forged")
    func newlineCannotForgeFields() {
        let forged = "a\nPRIORITY=0\nMESSAGE_ID=55822404374b4de49654cfbb59ea2956"
        let fields = JournalFields.fields(for: event(.error, "run failed\nPRIORITY=0"), metadata: ["error": .string(forged)],
                                          identifier: "flipsyncd")
        #expect(fields.contains("ERROR_TEXT=" + forged))
        #expect(fields.filter { $0.hasPrefix("PRIORITY=") } == ["PRIORITY=3"])
        #expect(!fields.contains { $0.hasPrefix("MESSAGE_ID=") })

        // What sd_journal_sendv receives: one iovec per field, each exactly that field's bytes.
        let sent = JournalEntry(fields: fields).withIOVecs { vectors in
            vectors.map { String(decoding: UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len), as: UTF8.self) }
        }
        #expect(sent == fields)
        #expect(sent.filter { $0.hasPrefix("PRIORITY=") } == ["PRIORITY=3"])
        #expect(sent.contains("MESSAGE=run failed\nPRIORITY=0"))
    }

    @Test("an error attached to the event becomes ERROR_TEXT unless metadata has one")
    func errorText() {
        struct Refused: Error, CustomStringConvertible { var description: String { "HTTP 429 from ebay" } }
        let fromEvent = JournalFields.fields(for: event(.error, "x", error: Refused()), metadata: [:], identifier: "f")
        #expect(fromEvent.last == "ERROR_TEXT=HTTP 429 from ebay")
        let fromMetadata = JournalFields.fields(for: event(.error, "x", error: Refused()), metadata: ["error": "budget"], identifier: "f")
        #expect(fromMetadata.filter { $0.hasPrefix("ERROR_TEXT=") } == ["ERROR_TEXT=budget"])
    }

    @Test("statement metadata wins over the provider's, which wins over the handler's")
    func metadataPrecedence() {
        let provider = Logger.MetadataProvider { ["run": "from-provider", "task": "from-provider"] }
        let merged = Logger.Metadata.merged(handler: ["job": "handler", "run": "handler", "task": "handler"],
                                            provider: provider, event: ["task": "statement"])
        #expect(merged == ["job": "handler", "run": "from-provider", "task": "statement"])
    }

    @Test("JOURNAL_STREAM matches only the device and inode of the descriptor")
    func journalStream() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("stream", "")
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        #expect(JournalLogHandler.journalStream("\(st.st_dev):\(st.st_ino)", matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream("\(st.st_dev):\(st.st_ino + 1)", matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream("\(st.st_dev + 1):\(st.st_ino)", matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream("\(st.st_dev)", matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream("x:y", matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream(nil, matchesDescriptor: fd))
        #expect(!JournalLogHandler.journalStream("\(st.st_dev):\(st.st_ino)", matchesDescriptor: -1))
    }
}

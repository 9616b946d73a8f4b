import Logging

/// How log entries become journal fields: one `KEY=value` string per field.
///
/// Field names follow journald's rules — `[A-Z0-9_]`, not starting with `_` (reserved for fields
/// journald adds itself) or a digit, at most 64 characters — so no metadata key can produce a
/// field journald would drop or a trusted field. Values are written as they are: each field is
/// sent as its own iovec, so a newline in a value stays inside that value and cannot start a
/// new field.
enum JournalFields {
    /// The metadata keys the daemon uses, and their journal field names.
    static let knownKeys: [String: String] = [
        "job": "JOB_NAME",
        "kind": "JOB_KIND",
        "run": "RUN_ID",
        "task": "TASK_KEY",
        "marketplace": "MARKETPLACE",
        "spend_micros": "SPEND_MICROS",
        "status": "RUN_STATUS",
        "error": "ERROR_TEXT",
        "event": "FLIPSYNC_EVENT",
    ]

    /// Names the handler writes itself, or that journald gives a meaning; an unknown metadata key
    /// that maps to one of these is prefixed with `F_` instead of overriding or doubling it.
    static let reservedNames: Set<String> = Set(knownKeys.values).union([
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO",
        "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "SYSLOG_TIMESTAMP", "SYSLOG_RAW",
        "TID", "DOCUMENTATION", "INVOCATION_ID", "USER_INVOCATION_ID", "UNIT", "USER_UNIT",
        "OBJECT_PID", "COREDUMP_UNIT", "COREDUMP_USER_UNIT",
    ])

    static let maximumNameLength = 64

    /// The syslog priority of a swift-log level (`PRIORITY=`): 7 debug … 2 critical.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The journal field name for a metadata key: the known name for the daemon's keys, else the
    /// key uppercased with every character outside `[A-Z0-9_]` replaced by `_`, prefixed with `F`
    /// if it would start with `_` or a digit (or be empty), with `F_` if it would be a reserved
    /// name, and cut to 64 characters.
    static func name(forMetadataKey key: String) -> String {
        if let known = knownKeys[key] { return known }
        var name = ""
        name.reserveCapacity(key.utf8.count)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): name.unicodeScalars.append(Unicode.Scalar(byte - 32))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x80...0xBF:
                continue  // a UTF-8 continuation byte: the whole character became one `_` at its lead byte
            default:
                name.append("_")
            }
        }
        if name.isEmpty || name.utf8.first == UInt8(ascii: "_") || name.utf8.first!.isASCIIDigit {
            name = "F" + name
        } else if reservedNames.contains(name) {
            name = "F_" + name
        }
        return name.utf8.count > maximumNameLength ? String(name.prefix(maximumNameLength)) : name
    }

    /// Every field of one entry, in order: MESSAGE, PRIORITY, MESSAGE_ID (for known events),
    /// SYSLOG_IDENTIFIER, CODE_FILE, CODE_LINE, CODE_FUNC, then the metadata sorted by key, then
    /// ERROR_TEXT from the event's error if no `error` metadata gave one.
    static func fields(for event: LogEvent, metadata: Logger.Metadata, identifier: String) -> [String] {
        var fields: [String] = []
        fields.reserveCapacity(8 + metadata.count)
        fields.append("MESSAGE=" + event.message.description)
        fields.append("PRIORITY=" + String(priority(event.level)))
        if let name = metadata["event"]?.description, let known = JournalEvent(rawValue: name) {
            fields.append("MESSAGE_ID=" + known.messageID)
        }
        fields.append("SYSLOG_IDENTIFIER=" + identifier)
        fields.append("CODE_FILE=" + event.file)
        fields.append("CODE_LINE=" + String(event.line))
        fields.append("CODE_FUNC=" + event.function)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append(name(forMetadataKey: key) + "=" + value.description)
        }
        if let error = event.error, metadata["error"] == nil {
            fields.append("ERROR_TEXT=" + String(describing: error))
        }
        return fields
    }
}

extension UInt8 {
    var isASCIIDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}

extension Logger.Metadata {
    /// The metadata of one entry: the handler's, then the provider's, then the statement's;
    /// later ones win.
    static func merged(handler: Logger.Metadata, provider: Logger.MetadataProvider?, event: Logger.Metadata?) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let event, !event.isEmpty {
            merged.merge(event) { _, new in new }
        }
        return merged
    }
}

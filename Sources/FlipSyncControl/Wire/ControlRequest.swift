/// One thing `flipsyncctl` asks the running daemon to do.
///
/// On the wire a request is one JSON object on one line, keyed by `command`, with keys in sorted
/// order — stable enough to type by hand (`socat - UNIX-CONNECT:/run/flipsync/control.sock`):
///
///     {"command":"list"}
///     {"command":"status"}
///     {"command":"run","job":"nightly-repricing","wait":true}
///     {"command":"pause","job":"nightly-repricing"}
///     {"command":"resume","job":"nightly-repricing"}
///     {"command":"nodes"}
///
/// `wait` may be left out (it means `false`); unknown keys are ignored; a line longer than
/// ``maxLineBytes`` is refused.
public enum ControlRequest: Codable, Sendable, Hashable {
    /// Every job with its schedule state. Answered with ``ControlResponse/jobs``.
    case list
    /// The daemon's one-line status. Answered with ``ControlResponse/status``.
    case status
    /// Starts a run of `job` now. Answered with the recorded run (``ControlResponse/run``); with
    /// `wait`, that line comes first and a final line with ``ControlResponse/finalStatus`` follows
    /// when the run ends.
    case run(job: String, wait: Bool)
    /// Fires of `job` are skipped (and recorded as skipped) until it is resumed.
    case pause(job: String)
    /// Undoes ``pause(job:)``.
    case resume(job: String)
    /// The cluster's nodes (`[daemon] cluster`). Answered with ``ControlResponse/nodes``.
    case nodes

    /// The longest request line the daemon reads, newline excluded: 64 KiB.
    public static let maxLineBytes = 64 * 1024

    private enum CodingKeys: String, CodingKey {
        case command, job, wait
    }

    private static let commands = "list, status, run, pause, resume or nodes"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let command = try container.decode(String.self, forKey: .command)
        switch command {
        case "list": self = .list
        case "status": self = .status
        case "run":
            self = .run(job: try container.decode(String.self, forKey: .job),
                        wait: try container.decodeIfPresent(Bool.self, forKey: .wait) ?? false)
        case "pause": self = .pause(job: try container.decode(String.self, forKey: .job))
        case "resume": self = .resume(job: try container.decode(String.self, forKey: .job))
        case "nodes": self = .nodes
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .command, in: container,
                debugDescription: "unknown command \"\(command)\" (expected \(Self.commands))")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .list:
            try container.encode("list", forKey: .command)
        case .status:
            try container.encode("status", forKey: .command)
        case .run(let job, let wait):
            try container.encode("run", forKey: .command)
            try container.encode(job, forKey: .job)
            try container.encode(wait, forKey: .wait)
        case .pause(let job):
            try container.encode("pause", forKey: .command)
            try container.encode(job, forKey: .job)
        case .resume(let job):
            try container.encode("resume", forKey: .command)
            try container.encode(job, forKey: .job)
        case .nodes:
            try container.encode("nodes", forKey: .command)
        }
    }
}

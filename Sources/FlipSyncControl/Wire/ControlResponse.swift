import FlipSyncCore

/// One line the daemon sends back for a request.
///
/// A connection carries one request and then one or more response lines; the last one has
/// `final` set, and the daemon closes the connection after it. Only `run` with `wait` sends more
/// than one line: first the started run (`final: false`), then, when the run ends, the run again
/// with ``finalStatus`` (`final: true`).
///
/// On the wire a response is one JSON object on one line with keys sorted and `nil` fields left
/// out, e.g. `{"error":"no job \"x\"","final":true,"ok":false}`. `ok: false` means the request
/// was not carried out and ``error`` says why, in words for the operator.
public struct ControlResponse: Codable, Sendable, Hashable {
    public var ok: Bool
    public var error: String?
    /// For `list`.
    public var jobs: [Scheduler.JobStatus]?
    /// For `run`: the run as recorded when it was requested.
    public var run: RunInfo?
    /// For `run` with `wait`, on the final line: how the run ended.
    public var finalStatus: RunStatus?
    /// For `status`: the daemon's status line, as `sd_notify` shows it.
    public var status: String?
    /// For `nodes`: the cluster's nodes.
    public var nodes: [ClusterNodeStatus]?
    /// The last line of this response stream.
    public var final: Bool

    public init(ok: Bool = true, error: String? = nil, jobs: [Scheduler.JobStatus]? = nil, run: RunInfo? = nil,
                finalStatus: RunStatus? = nil, status: String? = nil, nodes: [ClusterNodeStatus]? = nil, final: Bool = true) {
        self.ok = ok
        self.error = error
        self.jobs = jobs
        self.run = run
        self.finalStatus = finalStatus
        self.status = status
        self.nodes = nodes
        self.final = final
    }

    /// The request was not carried out, for the reason `message` gives the operator.
    public static func failure(_ message: String) -> ControlResponse {
        ControlResponse(ok: false, error: message)
    }
}

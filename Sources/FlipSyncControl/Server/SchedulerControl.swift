import FlipSyncCore

/// The daemon's answers to control requests: each request is one call into the `Scheduler`.
///
/// Manual runs are recorded with the caller's uid (from `SO_PEERCRED`, not from anything the
/// client says). `run` with `wait` sends the started run first, then ends with its final status.
public struct SchedulerControl: ControlHandler {
    let scheduler: Scheduler
    /// Extra words for `status` (e.g. that the last reload failed and why).
    let statusNote: @Sendable () -> String?
    /// The cluster's nodes; `nil` when the daemon is not in a cluster.
    let nodes: (@Sendable () async throws -> [ClusterNodeStatus])?

    public init(scheduler: Scheduler, statusNote: @escaping @Sendable () -> String? = { nil },
                nodes: (@Sendable () async throws -> [ClusterNodeStatus])? = nil) {
        self.scheduler = scheduler
        self.statusNote = statusNote
        self.nodes = nodes
    }

    public func handle(_ request: ControlRequest, from peer: PeerCredentials,
                       progress: @Sendable (ControlResponse) -> Void) async -> ControlResponse {
        do {
            switch request {
            case .list:
                return ControlResponse(jobs: await scheduler.jobs())
            case .status:
                var line = await scheduler.statusLine()
                if let note = statusNote() { line += "; " + note }
                return ControlResponse(jobs: await scheduler.jobs(), status: line)
            case .run(let job, let wait):
                let run = try await scheduler.trigger(job: job, requestedBy: peer.uid)
                guard wait else { return ControlResponse(run: run) }
                progress(ControlResponse(run: run))
                let status = await scheduler.waitForRun(run.id)
                return ControlResponse(run: run, finalStatus: status)
            case .pause(let job):
                try await scheduler.setPaused(true, job: job)
                return ControlResponse(jobs: await scheduler.jobs().filter { $0.name == job })
            case .resume(let job):
                try await scheduler.setPaused(false, job: job)
                return ControlResponse(jobs: await scheduler.jobs().filter { $0.name == job })
            case .nodes:
                guard let nodes else { return .failure("this daemon is not in a cluster ([daemon] cluster is not set)") }
                do {
                    return ControlResponse(nodes: try await nodes())
                } catch let error {
                    return .failure("cannot read the cluster's nodes: \(error)")
                }
            }
        } catch {
            return .failure(error.description)
        }
    }
}

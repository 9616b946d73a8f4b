import ServiceLifecycle

/// The ledger's group-commit drainer (`GroupCommit`) as a service of the daemon's service group.
///
/// The drainer itself starts on the first write and stops when the queue is empty, so writes
/// need no running service (`flipsyncctl run --local` and the tests write without one). What the
/// service adds is the end of its life: on graceful shutdown it returns only once every write
/// queued by then — and any queued while it waits — is committed. It is the group's first
/// service, so it is shut down last, after the scheduler has drained its runs and the control
/// socket is closed: nothing a run wrote is left in the queue when the process exits.
public struct GroupCommitService: Service, CustomStringConvertible {
    let store: RunStore

    public init(store: RunStore) {
        self.store = store
    }

    public var description: String { "group-commit" }

    public func run() async throws {
        // Cancellation (the group failing) ends the wait too; the flush still happens.
        try? await gracefulShutdown()
        await store.group.flushed()
    }
}

/// A run ledger a starting daemon resumes from: its own leftovers (`interruptLeftovers`) and the
/// interrupted runs no run resumes yet. On a ledger several nodes share (PostgreSQL), both are
/// limited to the runs of the ledger's own node, so a node never interrupts or resumes another
/// node's runs; on SQLite (one node) every run is the node's.
public protocol ResumableRunLedger: RunLedger {
    /// Interrupted runs created at or after `since` that no run resumes, oldest first.
    func unresumedInterruptions(createdSince since: Int64) throws(LedgerError) -> [RunInfo]
}

/// A run ledger several nodes share (PostgreSQL), from which one node takes over the runs
/// another left going when it died: the cluster's scheduler node marks them interrupted, then
/// resumes them itself (`ClusterRunAdopter`), instead of their waiting for that node's restart.
public protocol RunAdopting: Sendable {
    /// The largest run id so far (0: none). Run ids are one sequence the nodes share, so a run
    /// recorded after this was read has a larger one, whatever the nodes' clocks say.
    func lastRunID() throws(LedgerError) -> Int64
    /// In one transaction: the `queued` and `running` runs of `nodes` with an id up to
    /// `lastRunID` become `interrupted` (finished `at`, the error naming their node and this
    /// one), their `running` tasks `pending` again; returns them, oldest first. Their `node`
    /// stays the one that ran them. A run already interrupted or ended (its node's restart got
    /// there first) is not returned.
    func adoptRuns(of nodes: [String], upTo lastRunID: Int64, at: Int64) throws(LedgerError) -> [RunInfo]
}

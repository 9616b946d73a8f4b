/// A run ledger a starting daemon resumes from: its own leftovers (`interruptLeftovers`) and the
/// interrupted runs no run resumes yet. On a ledger several nodes share (PostgreSQL), both are
/// limited to the runs of the ledger's own node, so a node never interrupts or resumes another
/// node's runs; on SQLite (one node) every run is the node's.
public protocol ResumableRunLedger: RunLedger {
    /// Interrupted runs created at or after `since` that no run resumes, oldest first.
    func unresumedInterruptions(createdSince since: Int64) throws(LedgerError) -> [RunInfo]
}

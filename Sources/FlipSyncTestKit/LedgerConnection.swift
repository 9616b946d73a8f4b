import GRDB

/// A connection of the test's own to the SQLite ledger at `path`, to read what a store wrote or
/// tamper with it (a row the store would never write). It waits (up to 10 s) for a lock rather
/// than failing at once: a `RunStore` just released may still be closing its pool on another
/// thread, and the last connection to close checkpoints the WAL under an exclusive lock.
public func ledgerConnection(_ path: String) throws -> DatabaseQueue {
    var config = Configuration()
    config.busyMode = .timeout(10)
    return try DatabaseQueue(path: path, configuration: config)
}

import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the ledger's write-ahead log back into the database file on a thread of its own, so
/// that no commit waits for the bulk of it.
///
/// SQLite's automatic checkpoint (`wal_autocheckpoint`) runs inside the commit that finds the
/// WAL past its limit: that commit (the scheduler's fires of one second, or a group commit of a
/// sweep's rows) then waits while thousands of pages are copied and the file is synced, 40–60 ms
/// at 10,000 pages (BENCHMARKS.md). Here the writer's WAL hook only notes the WAL's length after
/// each commit, and:
/// - past `pages`, starts a PASSIVE checkpoint (it never waits for, nor blocks, a writer or a
///   reader) on this object's queue, on a connection of its own;
/// - at the first commit after that checkpoint succeeded, copies inline the few pages written
///   while it ran. SQLite starts the WAL over only once every page in it is copied, which a
///   checkpoint beside a busy writer never sees; without this step the WAL would only grow;
/// - at `4 × pages` (the queue far behind, or failing: a full disk) checkpoints inline, as
///   SQLite would have, so the WAL stays bounded either way.
final class WALCheckpointer: Sendable {
    struct Counts: Sendable, Equatable {
        /// Checkpoints made on the checkpointer's own connection.
        var background = 0
        /// The pages written during a background checkpoint, copied by the writer after it.
        var tail = 0
        /// Checkpoints the writer made at `4 × pages`, the background ones being too far behind.
        var overdue = 0
        /// Background checkpoints that failed (each retried after a later commit).
        var failed = 0
    }

    let path: String
    /// The WAL's length, in pages, past which a commit starts a background checkpoint.
    let pages: Int
    private let id: Int
    private let queue = DispatchQueue(label: "flipsync.ledger.checkpoint")
    /// A background checkpoint is queued or running.
    private let scheduled = Atomic(false)
    /// A background checkpoint succeeded since the WAL last started over: its tail is the writer's.
    private let caughtUp = Atomic(false)
    /// The WAL's length after the writer's last commit, in pages.
    private let lastWALPages = Atomic(0)
    private let counts = Mutex(Counts())
    /// The checkpointer's own connection, opened at its first checkpoint; used only on `queue`.
    private let connection = Mutex<OpaquePointer?>(nil)

    init(path: String, pages: Int) {
        self.path = path
        self.pages = pages
        id = Self.nextID.add(1, ordering: .relaxed).newValue
        Self.live.withLock { $0[id] = Weak(checkpointer: self) }
    }

    deinit {
        Self.live.withLock { _ = $0.removeValue(forKey: id) }
        connection.withLock { connection in
            if let connection { sqlite3_close_v2(connection) }
        }
    }

    /// Takes over the writer's checkpoints (SQLite's own automatic checkpoint is replaced by
    /// this hook). Call once, with the writer's connection.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, walCommitted, UnsafeMutableRawPointer(bitPattern: id))
    }

    var checkpoints: Counts { counts.withLock { $0 } }

    /// The WAL's length after the writer's last commit, in pages (it falls back to the pages of
    /// one transaction when the WAL starts over).
    var walPages: Int { lastWALPages.load(ordering: .relaxed) }

    /// Returns once the queued or running background checkpoint, if any, has ended.
    func settled() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { continuation.resume() }
        }
    }

    /// Holds the background checkpoints back until `resume` (for tests: the writer must then
    /// checkpoint inline).
    func suspend() { queue.suspend() }
    func resume() { queue.resume() }

    /// After each commit of the writer, with the WAL's length in pages (on the writer's thread).
    fileprivate func committed(_ db: OpaquePointer?, walPages: Int) {
        lastWALPages.store(walPages, ordering: .relaxed)
        guard walPages >= pages else {
            // The WAL started over (or never grew): a later checkpoint's tail is a new one.
            if caughtUp.load(ordering: .relaxed) { caughtUp.store(false, ordering: .relaxed) }
            return
        }
        let tail = caughtUp.exchange(false, ordering: .acquiringAndReleasing)
        if tail || walPages >= 4 * pages {
            if Self.copyBack(db) {
                counts.withLock { tail ? ($0.tail += 1) : ($0.overdue += 1) }
            }
            return
        }
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { self.checkpoint() }
    }

    private func checkpoint() {
        defer { scheduled.store(false, ordering: .releasing) }
        let done = connection.withLock { connection -> Bool in
            if connection == nil {
                var opened: OpaquePointer?
                // Read-write, never create: the ledger exists, its writer just committed to it.
                // Then one read: a connection learns that the file is in WAL mode only when it
                // first reads it, and until then a checkpoint on it copies nothing and still
                // answers SQLITE_OK (with -1 frames logged and copied).
                guard sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
                      sqlite3_exec(opened, "PRAGMA schema_version", nil, nil, nil) == SQLITE_OK else {
                    sqlite3_close_v2(opened)
                    return false
                }
                connection = opened
            }
            return Self.copyBack(connection)
        }
        counts.withLock { done ? ($0.background += 1) : ($0.failed += 1) }
        if done { caughtUp.store(true, ordering: .releasing) }
    }

    /// A PASSIVE checkpoint on `db`; whether it ran. SQLite answers SQLITE_OK with -1 frames
    /// logged when it did not (a connection not in WAL mode), which counts as not done here.
    private static func copyBack(_ db: OpaquePointer?) -> Bool {
        var logged: Int32 = -1, copied: Int32 = -1
        return sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied) == SQLITE_OK && logged >= 0
    }

    // MARK: - The hook's way back to its checkpointer

    /// SQLite's hook gets a C pointer: it carries the checkpointer's number, looked up here, so
    /// that a commit after the store is gone finds nothing rather than freed memory.
    private struct Weak: Sendable {
        weak let checkpointer: WALCheckpointer?
    }

    private static let live = Mutex<[Int: Weak]>([:])
    private static let nextID = Atomic(0)

    fileprivate static func checkpointer(_ context: UnsafeMutableRawPointer?) -> WALCheckpointer? {
        let id = Int(bitPattern: context)
        return live.withLock { $0[id]?.checkpointer }
    }
}

/// `sqlite3_wal_hook`'s callback.
private func walCommitted(_ context: UnsafeMutableRawPointer?, _ db: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                          _ walPages: Int32) -> Int32 {
    WALCheckpointer.checkpointer(context)?.committed(db, walPages: Int(walPages))
    return SQLITE_OK
}

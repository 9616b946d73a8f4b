import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// The ledger's WAL is copied back beside the writer, not inside its commits (`WALCheckpointer`).
@Suite("WAL checkpoints off the writer's commits", .timeLimit(.minutes(3)))
struct WALCheckpointerTests {
    /// A WAL frame: a page and its 24-byte header; the file has a 32-byte header.
    static func walFrames(_ path: String) throws -> Int {
        let size = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        return max(0, size - 32) / (4096 + 24)
    }

    /// The database file's length in pages (what checkpoints have copied into it).
    static func databasePages(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) / 4096
    }

    /// The table `writePage` fills.
    static func createFiller(_ store: RunStore) async throws {
        try await store.writer.write { db in try db.execute(sql: "CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)") }
    }

    /// One group transaction of a fresh page (a 4,000-byte blob).
    static func writePage(_ store: RunStore, id: Int) async throws {
        try await store.groupWrite { db in
            try db.execute(sql: "INSERT INTO filler (id, data) VALUES (?, zeroblob(4000))", arguments: [id])
        }
    }

    /// `count` transactions of a fresh page each, one after the other, into a new `filler`.
    static func writePages(_ store: RunStore, count: Int) async throws {
        try await createFiller(store)
        for i in 0..<count { try await writePage(store, id: i) }
    }

    /// A new ledger whose WAL is checkpointed past `pages`, and its checkpointer.
    static func ledger(pages: Int, in scratch: Scratch) throws -> (path: String, store: RunStore, checkpointer: WALCheckpointer) {
        let path = scratch.path + "/ledger.sqlite"
        let store = try RunStore(path: path, walCheckpointPages: pages)
        return (path, store, try #require(store.checkpointer))
    }

    @Test("past its pages the WAL is copied back on the checkpointer's thread; the next commit copies the pages it could not, and the WAL starts over at the one after")
    func backgroundThenTail() async throws {
        let scratch = Scratch()
        let (path, store, checkpointer) = try Self.ledger(pages: 200, in: scratch)
        try await Self.createFiller(store)
        await checkpointer.settled()  // creating the schema may have written 200 pages already
        let before = checkpointer.checkpoints
        var id = 0
        func write(until pages: Int) async throws {
            repeat {
                try await Self.writePage(store, id: id)
                id += 1
            } while checkpointer.walPages < pages && id < 700
        }
        // A reader's snapshot from the first half of the WAL: the background checkpoint can copy
        // only up to it, as when pages are written while it runs.
        checkpointer.suspend()
        try await write(until: 100)
        var held = Configuration()
        held.allowsUnsafeTransactions = true  // the read transaction stays open between two calls
        let reader = try DatabaseQueue(path: path, configuration: held)
        try await reader.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN DEFERRED")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM filler")
        }
        try await write(until: 200 + 20)
        #expect(checkpointer.checkpoints == before, "held back: \(checkpointer.checkpoints)")
        let fileBefore = try Self.databasePages(path)
        checkpointer.resume()
        await checkpointer.settled()
        #expect(checkpointer.checkpoints.background == before.background + 1)
        // It copied the WAL up to the reader's snapshot into the database file, not merely
        // answered: a checkpoint on a connection that has not read the file yet copies nothing
        // and still succeeds (the file stayed at 1 page). Those 100 frames are about 50 pages:
        // each commit writes its fresh page and the table's root again.
        let fileAfter = try Self.databasePages(path)
        #expect(fileAfter >= fileBefore + 30, "the database file grew from \(fileBefore) to \(fileAfter) pages")
        try await reader.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
        let grown = checkpointer.walPages
        try await write(until: 0)  // one commit: it copies the rest
        #expect(checkpointer.checkpoints.tail == before.tail + 1, "\(checkpointer.checkpoints)")
        try await write(until: 0)  // so this one starts the WAL over
        #expect(checkpointer.walPages < 10, "the WAL holds \(checkpointer.walPages) pages (\(grown) before the tail)")
        #expect(checkpointer.checkpoints.overdue == before.overdue && checkpointer.checkpoints.failed == 0)
    }

    @Test("3,000 commits one after the other: checkpoints on the checkpointer's thread, none failed, the WAL bounded and every row kept")
    func background() async throws {
        let scratch = Scratch()
        let (path, store, checkpointer) = try Self.ledger(pages: 200, in: scratch)
        try await Self.writePages(store, count: 3_000)
        await checkpointer.settled()
        let counts = checkpointer.checkpoints
        #expect(counts.background >= 1 && counts.failed == 0, "\(counts)")
        let frames = try Self.walFrames(path)
        #expect(frames <= 4 * 200 + 10, "the WAL grew to \(frames) frames (\(counts))")
        #expect(try store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM filler") } == 3_000)
    }

    @Test("with the checkpointer's thread held back, the writer checkpoints itself at 4 × pages, as SQLite would: the WAL stays bounded")
    func overdue() async throws {
        let scratch = Scratch()
        let (path, store, checkpointer) = try Self.ledger(pages: 100, in: scratch)
        await checkpointer.settled()  // creating the schema may have written 100 pages already
        let before = checkpointer.checkpoints
        checkpointer.suspend()
        try await Self.writePages(store, count: 1_500)
        let held = checkpointer.checkpoints
        checkpointer.resume()
        await checkpointer.settled()
        #expect(held.background == before.background && held.overdue > before.overdue, "\(before) → \(held)")
        let frames = try Self.walFrames(path)
        #expect(frames <= 4 * 100 + 10, "the WAL grew to \(frames) frames (\(held))")
    }

    @Test("a ledger opened read-only has no checkpointer (it never writes)")
    func readOnly() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        _ = try RunStore(path: path)
        #expect(try RunStore(path: path, mode: .readOnly).checkpointer == nil)
    }
}

import Foundation
import Glibc
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

@Suite("The run ledger's file mode", .timeLimit(.minutes(1)))
struct LedgerModeTests {
    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    // The umask is the process's and tests run in parallel, so it is left as it is (022: a
    // file created without care would be 0644).
    @Test("a fresh ledger, its -wal and -shm are 0600")
    func freshLedgerIsPrivate() throws {
        let scratch = Scratch()
        let path = scratch.path + "/flipsync.sqlite"
        let store = try RunStore(path: path)
        _ = try store.recordFire(job: "j", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                 status: .queued, skipReason: nil, summary: nil, at: 0, resumes: nil)
        #expect(Self.mode(path) == 0o600)
        #expect(Self.mode(path + "-wal") == 0o600)
        #expect(Self.mode(path + "-shm") == 0o600)
    }

    @Test("a symbolic link in the ledger's place is not followed to create a file")
    func symlinkNotFollowed() throws {
        let scratch = Scratch()
        let path = scratch.path + "/flipsync.sqlite"
        let target = scratch.path + "/elsewhere.sqlite"
        #expect(symlink(target, path) == 0)
        try RunStore.createPrivately(path)
        #expect(Self.mode(target) == nil)
    }
}

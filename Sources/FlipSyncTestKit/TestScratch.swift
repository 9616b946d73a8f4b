import Foundation

/// Scratch paths for tests, all inside one directory of this test process that is removed when
/// the process exits (`atexit`): a test that keeps a ledger open until it ends, or fails half
/// way, still leaves nothing in the temporary directory (SQLite's `-wal` and `-shm` files
/// included). A process killed by a signal leaves that one directory, `flipsync-tests-XXXXXX`.
public enum TestScratch {
    /// This process's scratch directory, made on first use.
    public static let root: String = {
        var template = Array((NSTemporaryDirectory() + "flipsync-tests-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            fatalError("cannot make a scratch directory in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        atexit { TestScratch.removeRoot() }
        return String(cString: made)
    }()

    /// A new, empty directory named after `prefix` (and a unique suffix), inside `root`.
    public static func directory(_ prefix: String) -> String {
        let path = root + "/\(prefix)-\(UUID().uuidString)"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            fatalError("cannot make \(path): \(error)")
        }
        return path
    }

    /// A path named `name` in a new directory of its own (nothing there yet).
    public static func file(_ name: String) -> String {
        directory((name as NSString).deletingPathExtension) + "/" + name
    }

    private static func removeRoot() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

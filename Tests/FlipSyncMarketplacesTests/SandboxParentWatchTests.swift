import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import FlipSyncTestKit
#endif

/// The built sandbox (`.build/debug/flipsync-sandbox`, from this file's path).
private let sandboxPath = packageRoot + "/.build/debug/flipsync-sandbox"

@Suite("flipsync-sandbox --exit-with-parent", .timeLimit(.minutes(1)))
struct SandboxParentWatchTests {
    /// A shell starts the sandbox in the background, writes its pid to a file, waits (at most
    /// 30 s) for it to listen, then exits: the sandbox's parent is gone while it serves. Nothing
    /// of ours is the sandbox's output (a pipe it inherited would never reach its end).
    private func orphan(_ flags: [String]) throws -> (pid: pid_t, log: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-sandbox-\(UUID().uuidString)").path
        let log = base + ".log", pidFile = base + ".pid"
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        // posix_spawn and waitpid, not Foundation's `Process`: its wait also waits for a
        // descriptor the sandbox would inherit, so it would outlast the shell as long as the
        // sandbox lives.
        let script = """
            "$0" --port 0 --listings 1 "$@" > "$LOG" 2>&1 < /dev/null &
            echo $! > "$PIDFILE"
            i=0
            while [ $i -lt 600 ] && ! grep -q 'listening on' "$LOG"; do sleep 0.05; i=$((i + 1)); done
            """
        let argv = ["/bin/sh", "-c", script, sandboxPath] + flags
        let env = ["LOG=\(log)", "PIDFILE=\(pidFile)", "PATH=/usr/bin:/bin"]
        var cArgv = argv.map { strdup($0) } + [nil], cEnv = env.map { strdup($0) } + [nil]
        defer { for p in cArgv + cEnv { free(p) } }
        var shell: pid_t = 0
        let spawned = posix_spawn(&shell, "/bin/sh", nil, nil, &cArgv, &cEnv)
        try #require(spawned == 0, "posix_spawn /bin/sh: \(spawned)")
        var status: Int32 = 0
        while waitpid(shell, &status, 0) < 0, errno == EINTR {}
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), "no pid from the shell: \(text)")
        return (pid, log)
    }

    /// Whether `pid` is still a running process (a zombie nobody reaped counts as ended).
    private func running(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Polls `running(pid)` every 50 ms, at most `seconds`: whether it ended in time.
    private func ends(_ pid: pid_t, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !running(pid) { return true }
            usleep(50_000)
        }
        return !running(pid)
    }

    @Test("an orphaned sandbox with --exit-with-parent stops by itself and says why")
    func stopsWhenItsParentEnds() throws {
        try #require(FileManager.default.isExecutableFile(atPath: sandboxPath), "build first: swift build")
        let (pid, log) = try orphan(["--exit-with-parent"])
        defer {
            if running(pid) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: log)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("listening on"), "\(text)")
        #expect(ends(pid, within: 10), "the sandbox (pid \(pid)) outlived its parent")
        let after = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(after.contains("has ended; stopping"), "\(after)")
    }

    @Test("without the flag an orphaned sandbox keeps serving (the flag is what stops it)")
    func keepsServingWithoutTheFlag() throws {
        try #require(FileManager.default.isExecutableFile(atPath: sandboxPath), "build first: swift build")
        let (pid, log) = try orphan([])
        defer {
            kill(pid, SIGKILL)
            try? FileManager.default.removeItem(atPath: log)
        }
        #expect(!ends(pid, within: 2), "the sandbox (pid \(pid)) stopped without --exit-with-parent")
    }
}

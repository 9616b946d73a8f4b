import FlipSyncCore
import Foundation
import Testing
@testable import FlipSyncSystemd
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with the given environment variables set (nil: unset), then restores them.
/// Only for tests in `ProcessEnvironmentTests`, which run one at a time.
private func withEnvironment<R>(_ values: [String: String?], _ body: () throws -> R) rethrows -> R {
    let saved = values.keys.map { ($0, getenv($0).map { String(cString: $0) }) }
    for (name, value) in values {
        if let value { setenv(name, value, 1) } else { unsetenv(name) }
    }
    defer {
        for (name, value) in saved {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
    }
    return try body()
}

/// A real AF_UNIX datagram socket to stand in for systemd's notification socket.
private final class NotifySocket {
    let fd: Int32
    /// The NOTIFY_SOCKET value: a path, or `@name` for the abstract namespace.
    let address: String
    private let directory: TemporaryDirectory?

    init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var name: [UInt8]
        if abstract {
            directory = nil
            address = "@flipsync-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
            name = [0] + Array(address.utf8.dropFirst())
        } else {
            directory = try TemporaryDirectory()
            address = directory!.path + "/notify.sock"
            name = Array(address.utf8)
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// Every datagram queued so far. sd_notify sends synchronously, so nothing is in flight.
    func received() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 { break }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        return messages
    }

    deinit {
        close(fd)
        directory?.remove()
    }
}

private func monotonicMicroseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
}

/// Everything that reads or changes the process environment. Tests share one process, so these
/// run one at a time and restore what they change.
@Suite("Process environment", .serialized, .timeLimit(.minutes(2)))
struct ProcessEnvironmentTests {
    /// A notifier talking to a fresh socket, with the watchdog variables unset.
    private func withNotifier(abstract: Bool = false, _ body: (Notifier, NotifySocket) throws -> Void) throws {
        let socket = try NotifySocket(abstract: abstract)
        try withEnvironment(["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
            try body(Notifier.fromEnvironment(), socket)
        }
    }

    @Test("ready sends READY=1 and the status in one datagram")
    func ready() throws {
        try withNotifier { notifier, socket in
            #expect(notifier.isActive)
            notifier.ready(status: "scheduling 4 jobs")
            notifier.ready()
            #expect(socket.received() == ["READY=1\nSTATUS=scheduling 4 jobs", "READY=1"])
        }
    }

    @Test("reloading sends RELOADING=1 and MONOTONIC_USEC=now in one datagram")
    func reloading() throws {
        try withNotifier { notifier, socket in
            let before = monotonicMicroseconds()
            notifier.reloading()
            let after = monotonicMicroseconds()
            let messages = socket.received()
            #expect(messages.count == 1)
            let lines = messages.first?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
            #expect(lines.count == 2)
            #expect(lines.first == "RELOADING=1")
            let usec = lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil }
            #expect(usec.map { before <= $0 && $0 <= after } == true, "\(messages)")
        }
    }

    @Test("stopping, extendTimeout and watchdog send their exact messages")
    func otherMessages() throws {
        try withNotifier { notifier, socket in
            notifier.stopping(status: "draining 2 runs")
            notifier.stopping()
            notifier.extendTimeout(microseconds: 45_000_000)
            notifier.watchdog()
            #expect(socket.received() == ["STOPPING=1\nSTATUS=draining 2 runs", "STOPPING=1", "EXTEND_TIMEOUT_USEC=45000000", "WATCHDOG=1"])
        }
    }

    @Test("status is one line, and an unchanged status is not sent again")
    func statusLines() throws {
        try withNotifier { notifier, socket in
            notifier.status("2 running\nnext: nightly-repricing\r\tat 02:30")
            notifier.status("2 running\nnext: nightly-repricing\r\tat 02:30")
            notifier.status("idle")
            notifier.ready(status: "idle")
            notifier.status("2 running")
            #expect(socket.received() == ["STATUS=2 running next: nightly-repricing  at 02:30", "STATUS=idle", "READY=1",
                                          "STATUS=2 running"])
        }
    }

    @Test("an abstract NOTIFY_SOCKET (@name) works too")
    func abstractSocket() throws {
        try withNotifier(abstract: true) { notifier, socket in
            notifier.watchdog()
            #expect(socket.received() == ["WATCHDOG=1"])
        }
    }

    @Test("without NOTIFY_SOCKET at creation the notifier is inactive and sends nothing")
    func inactive() throws {
        let socket = try NotifySocket()
        let notifier = withEnvironment(["NOTIFY_SOCKET": nil]) { Notifier.fromEnvironment() }
        #expect(!notifier.isActive)
        withEnvironment(["NOTIFY_SOCKET": socket.address]) {
            notifier.ready(status: "x")
            notifier.watchdog()
        }
        #expect(socket.received().isEmpty)
    }

    @Test("the watchdog interval is half of WATCHDOG_USEC, and the environment is left alone")
    func watchdogFromEnvironment() {
        withEnvironment(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())", "NOTIFY_SOCKET": "/nonexistent"]) {
            #expect(Notifier.fromEnvironment().watchdogInterval == .seconds(15))
            #expect(FileSystem.environment("WATCHDOG_USEC") == "30000000")
            #expect(FileSystem.environment("NOTIFY_SOCKET") == "/nonexistent")
        }
        withEnvironment(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"]) {
            #expect(Notifier.fromEnvironment().watchdogInterval == nil)
        }
    }

    @Test("Credentials.read prefers $CREDENTIALS_DIRECTORY over the development directory")
    func credentialsDirectoryVariable() throws {
        let systemd = try TemporaryDirectory()
        let development = try TemporaryDirectory()
        defer { systemd.remove(); development.remove() }
        try systemd.write("ebay-client-id", "from-systemd\n", mode: 0o400)
        try development.write("ebay-client-id", "from-development\n")
        let underSystemd = try withEnvironment(["CREDENTIALS_DIRECTORY": systemd.path]) {
            try Credentials.read("ebay-client-id", credentialsDirectory: development.path).reveal()
        }
        let inDevelopment = try withEnvironment(["CREDENTIALS_DIRECTORY": nil]) {
            try Credentials.read("ebay-client-id", credentialsDirectory: development.path).reveal()
        }
        #expect(underSystemd == "from-systemd")
        #expect(inDevelopment == "from-development")
    }

    @Test("journalIsStderr follows JOURNAL_STREAM against fstat of stderr")
    func journalIsStderr() {
        var st = stat()
        guard fstat(2, &st) == 0 else {
            Issue.record("stderr is closed")
            return
        }
        withEnvironment(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]) {
            #expect(JournalLogHandler.journalIsStderr())
        }
        withEnvironment(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino &+ 1)"]) {
            #expect(!JournalLogHandler.journalIsStderr())
        }
        withEnvironment(["JOURNAL_STREAM": nil]) {
            #expect(!JournalLogHandler.journalIsStderr())
        }
    }
}

@Suite("Watchdog interval", .timeLimit(.minutes(2)))
struct WatchdogIntervalTests {
    @Test("half of WATCHDOG_USEC when the watchdog is meant for this process", arguments: [
        ("30000000", nil, TimeSpan.seconds(15)),
        ("30000000", "4242", TimeSpan.seconds(15)),
        ("1000", nil, TimeSpan(milliseconds: 1)),
        ("500", nil, TimeSpan(milliseconds: 1)),
        ("30000000", "1", nil),
        ("0", nil, nil),
        ("soon", nil, nil),
        ("-5", nil, nil),
        (nil, "4242", nil),
    ] as [(String?, String?, TimeSpan?)])
    func interval(microseconds: String?, pid: String?, expected: TimeSpan?) {
        #expect(Notifier.watchdogInterval(microseconds: microseconds, pid: pid, ownPID: 4242) == expected)
    }
}

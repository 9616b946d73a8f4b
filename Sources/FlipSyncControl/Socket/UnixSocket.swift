import Glibc

/// The few system calls the control socket needs, on file descriptors of Unix stream sockets.
/// Linux only: it relies on `SO_PEERCRED`, `MSG_NOSIGNAL` and on `POLLHUP` meaning that both
/// directions of a Unix socket are shut down.
enum UnixSocket {
    /// The longest path `sockaddr_un` holds, its terminating zero excluded (107 on Linux).
    static let maxPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// A new stream socket, closed on exec; -1 with `errno` set on failure.
    static func make() -> Int32 {
        socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    /// Calls `body` with the address of `path`, or returns nil if the path does not fit.
    static func withAddress<R>(of path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R? {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maxPathBytes, !bytes.contains(0) else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Connects `fd` to `path`: 0, or the `errno` of the failure (`ENAMETOOLONG` if the path does not fit).
    static func connect(_ fd: Int32, to path: String) -> Int32 {
        withAddress(of: path) { address, length in
            while Glibc.connect(fd, address, length) != 0 {
                if errno != EINTR { return errno }
            }
            return 0
        } ?? ENAMETOOLONG
    }

    /// Writes all of `bytes`: nil, or the `errno` of the failure. Never raises SIGPIPE: a peer
    /// that left gives `EPIPE`.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], flags: Int32 = 0) -> Int32? {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, flags | Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                return errno
            }
            sent += count
        }
        return nil
    }

    /// Makes `send` on `fd` give up with `EAGAIN` after `timeout`, so a peer that stops reading
    /// cannot hold a thread.
    static func setSendTimeout(_ fd: Int32, _ timeout: Duration) {
        let milliseconds = timeout.millisecondsRoundedUp
        var value = timeval(tv_sec: Int(milliseconds / 1000), tv_usec: Int(milliseconds % 1000) * 1000)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Waits until one of `fds` has one of its events (or `POLLHUP`/`POLLERR`), up to `timeout`
    /// (nil: no limit). Returns false on timeout.
    static func wait(_ fds: inout [pollfd], timeout: Duration?) -> Bool {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let milliseconds = deadline.map { Int32(clamping: (($0 - .now).millisecondsRoundedUp)) } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready > 0 { return true }
            if ready == 0 { return false }
            // EINTR: wait again for what is left. Other errors (ENOMEM) cannot be waited out;
            // report readiness so the caller's next call sees the error itself.
            if errno != EINTR { return true }
        }
    }
}

/// Reads newline-terminated lines from a socket, keeping what follows a line for the next call.
struct LineReader {
    enum Failure: Error {
        case tooLong
        case timedOut
        case system(Int32)
    }

    let fd: Int32
    private var buffer: [UInt8] = []
    /// How much of `buffer` is known to hold no newline.
    private var scanned = 0

    init(fd: Int32) {
        self.fd = fd
    }

    /// The next line without its newline; at the end of the stream, what is left (a last line
    /// without a newline), or nil if nothing is. A line longer than `limit` bytes is refused
    /// without reading all of it; with a `deadline`, a line must be complete by then.
    mutating func nextLine(limit: Int, deadline: ContinuousClock.Instant?) throws(Failure) -> [UInt8]? {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                guard newline <= limit else { throw .tooLong }
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                scanned = 0
                return line
            }
            scanned = buffer.count
            guard buffer.count <= limit else { throw .tooLong }
            if let deadline {
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                guard UnixSocket.wait(&fds, timeout: deadline - .now) else { throw .timedOut }
            }
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            let count = recv(fd, &chunk, chunk.count, 0)
            if count > 0 {
                buffer += chunk[..<count]
            } else if count == 0 {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = []; scanned = 0 }
                return buffer
            } else if errno != EINTR {
                throw .system(errno)
            }
        }
    }
}

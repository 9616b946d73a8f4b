import Dispatch
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's end of the control socket: a Unix stream socket through which `flipsyncctl`
/// lists jobs, triggers runs, pauses and resumes jobs and asks for the daemon's status.
///
/// Protocol: a client connects, writes one ``ControlRequest`` line and reads ``ControlResponse``
/// lines until one has `final` set; then the server closes the connection. Peers are checked
/// with the kernel's credentials (``PeerCredentials``) against ``ControlAccess`` before their
/// request is read; a refused peer gets one `ok: false` line. Every request is answered, badly
/// formed ones included, and the refusal reasons come from ``ControlError``.
///
/// Threads: `accept` and socket reads block, and the cooperative pool has only one thread per
/// core, so the accept loop and each connection run on threads of their own — at most
/// `maxConnections` connections, plus `reservedConnections` kept for short requests; further
/// clients are told the daemon is busy. Only the handler
/// runs on the pool, in a task per request, and hands its lines back to the connection's thread
/// without blocking. A connection waits at most `requestTimeout` for its request line and gives
/// up writing to a client that does not read for as long.
///
/// Reserve: when the `maxConnections` general slots are all held (by `run --wait` clients, or by
/// clients that say nothing), a connection still gets one of `reservedConnections` reserve
/// slots. There it has at most one second to send its request, and only short requests are
/// served (`list`, `status`, `pause`, `resume`, `run` without `wait`); a `run --wait` there is
/// told the daemon is busy. One uid holds at most half the reserve (at least one slot), so one
/// user cannot take it all. `status` therefore answers however many runs are being waited for.
///
/// Life: ``start()`` returns once the socket listens, so clients can connect at once; ``stop()``
/// ends everything. A server is started at most once.
public final class ControlServer: Sendable {
    public static let defaultMaxConnections = 32
    public static let defaultReservedConnections = 4

    /// Where the socket lives.
    public let path: String
    private let access: ControlAccess
    private let handler: any ControlHandler
    private let logger: Logger
    private let maxConnections: Int
    private let reservedConnections: Int
    private let requestTimeout: Duration
    private let state = Mutex(State())
    /// Every thread the server started — the accept loop and each connection; `stop` waits for all.
    private let threads = DispatchGroup()

    private struct Listener: Sendable {
        var fd: Int32
        /// The accept loop polls this; `stop` closes its peer, `signalFD`, to wake it.
        var wakeFD: Int32
        var signalFD: Int32
        /// The socket file we created, so `stop` never unlinks a newer daemon's socket.
        var device: UInt64
        var inode: UInt64
    }

    private enum Phase {
        case idle
        case listening(Listener)
        case stopped
    }

    private struct State {
        var phase = Phase.idle
        /// The open client connections: whether each holds a reserve slot, and its peer's uid. A
        /// connection's thread closes its descriptor under the lock, so `stop` never shuts down a
        /// descriptor number that was closed and reused.
        var connections: [Int32: Slot] = [:]
    }

    private struct Slot {
        var reserve: Bool
        var uid: UInt32?
    }

    /// - Parameters:
    ///   - path: the socket's path, at most 107 bytes (`sun_path`).
    ///   - handler: answers the requests of allowed peers.
    ///   - maxConnections: connections served at once; more are told the daemon is busy.
    ///   - reservedConnections: further connections admitted when those are all held, for short
    ///     requests only.
    ///   - requestTimeout: how long a client may take to send its request line, and to read a
    ///     response line once it is sent.
    public init(path: String, access: ControlAccess, handler: any ControlHandler, logger: Logger,
                maxConnections: Int = ControlServer.defaultMaxConnections,
                reservedConnections: Int = ControlServer.defaultReservedConnections, requestTimeout: Duration = .seconds(5)) {
        self.path = path
        self.access = access
        self.handler = handler
        self.logger = logger
        self.maxConnections = max(1, maxConnections)
        self.reservedConnections = max(0, reservedConnections)
        self.requestTimeout = requestTimeout
    }

    // MARK: - Starting and stopping

    /// Creates the socket and starts accepting connections.
    ///
    /// A socket file left at `path` by a daemon that died is removed first; one a live daemon
    /// still answers on is an error, and so is any other kind of file — it is never removed. The
    /// socket gets mode 0660 and, if ``ControlAccess/allowedGroup`` is set and the daemon may,
    /// that group (if it may not, a warning is logged and only the daemon's user can connect).
    /// Returns once the socket listens.
    public func start() throws(ControlError) {
        guard case .idle = state.withLock({ $0.phase }) else { throw .alreadyStarted(path: path) }
        guard UnixSocket.withAddress(of: path, { _, _ in () }) != nil else {
            throw .pathTooLong(path: path, limit: UnixSocket.maxPathBytes)
        }
        try removeStaleSocket()
        let listener = try listen()
        let started = state.withLock { state in
            guard case .idle = state.phase else { return false }
            state.phase = .listening(listener)
            return true
        }
        guard started else {
            // `stop` (or another `start`) came first.
            close(listener)
            throw .alreadyStarted(path: path)
        }
        threads.enter()
        let thread = Thread { [self] in
            acceptLoop(listener)
            threads.leave()
        }
        thread.name = "flipsync-control-accept"
        thread.start()
        logger.info("control socket listening on \(path)", metadata: ["event": "control-listening"])
    }

    /// Stops accepting, unlinks the socket, disconnects every client (their handler tasks are
    /// cancelled) and waits for the server's threads to end, which they do promptly — the call
    /// blocks its caller for that moment. Safe to call more than once, and before `start`; each
    /// call returns once the threads have ended.
    public func stop() {
        let listener: Listener? = state.withLock { state in
            defer { state.phase = .stopped }
            guard case .listening(let listener) = state.phase else { return nil }
            // Wakes each connection's thread wherever it waits: reading the request, waiting for
            // its handler (as POLLHUP), or writing to a client that does not read.
            for fd in state.connections.keys { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            return listener
        }
        if let listener {
            unlinkSocket(of: listener)
            _ = Glibc.close(listener.signalFD)
        }
        threads.wait()
        if let listener {
            _ = Glibc.close(listener.fd)
            _ = Glibc.close(listener.wakeFD)
            logger.info("control socket closed", metadata: ["event": "control-closed"])
        }
    }

    private func removeStaleSocket() throws(ControlError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw .system(operation: "inspect", path: path, errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        // A socket file outlives a daemon that crashed; a live daemon still accepts on it. Probe
        // without blocking: a live daemon with a full backlog answers EAGAIN.
        let probe = UnixSocket.make()
        guard probe >= 0 else { throw .system(operation: "create a socket to probe", path: path, errno: errno) }
        UnixSocket.setNonBlocking(probe)
        let result = UnixSocket.connect(probe, to: path)
        _ = Glibc.close(probe)
        switch result {
        case ECONNREFUSED: break
        case 0, EAGAIN: throw .alreadyListening(path: path)
        default: throw .system(operation: "probe the existing socket", path: path, errno: result)
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .system(operation: "remove the stale socket", path: path, errno: errno)
        }
        logger.notice("removed stale control socket \(path)", metadata: ["event": "control-stale-socket"])
    }

    private func listen() throws(ControlError) -> Listener {
        let fd = UnixSocket.make()
        guard fd >= 0 else { throw .system(operation: "create a socket for", path: path, errno: errno) }
        var bound = false
        do throws(ControlError) {
            // On Linux the socket file bind creates takes the socket's own mode (less the umask):
            // set before bind, the file is never wider than 0660, even for a moment.
            _ = fchmod(fd, 0o660)
            guard UnixSocket.withAddress(of: path, { bind(fd, $0, $1) }) == 0 else {
                throw .system(operation: "bind", path: path, errno: errno)
            }
            bound = true
            // The kernel checks write permission on the socket file at connect; the umask may
            // have taken the group's bits. Set mode and group through a handle on the file bind
            // made, never by path: a link swapped in meanwhile is not followed.
            let info = try Self.setModeAndGroup(path: path, group: access.allowedGroup) { group, code in
                logger.warning("cannot give \(path) to group \(group): \(String(cString: strerror(code))); only the daemon's user can connect",
                               metadata: ["event": "control-chown-failed"])
            }
            guard Glibc.listen(fd, 64) == 0 else { throw .system(operation: "listen on", path: path, errno: errno) }
            // Non-blocking, so a client that vanishes between poll and accept cannot block the loop.
            UnixSocket.setNonBlocking(fd)
            var wake: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &wake) == 0 else {
                throw .system(operation: "create a wake-up socket pair for", path: path, errno: errno)
            }
            return Listener(fd: fd, wakeFD: wake[0], signalFD: wake[1], device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        } catch {
            _ = Glibc.close(fd)
            if bound { _ = unlink(path) }
            throw error
        }
    }

    /// `O_PATH` and `AT_EMPTY_PATH` (Linux), which Swift's Glibc module does not export.
    private static let openPath: Int32 = 0o10000000
    private static let atEmptyPath: Int32 = 0x1000

    /// Gives the socket file at `path` mode 0660 and (if set and different) `group`, through an
    /// `O_PATH | O_NOFOLLOW` handle: if `path` is not a socket owned by this user — a symbolic
    /// link, say — nothing is changed and `notASocket` is thrown. Returns the file's `stat`.
    /// A failed chown is reported to `chownFailed` (under systemd the unit's syscall filter
    /// refuses chown; the runtime directory's group is usually right already).
    static func setModeAndGroup(path: String, group: UInt32?,
                                chownFailed: (UInt32, Int32) -> Void) throws(ControlError) -> stat {
        let handle = open(path, openPath | O_NOFOLLOW | O_CLOEXEC)
        guard handle >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        defer { _ = Glibc.close(handle) }
        var info = stat()
        guard fstat(handle, &info) == 0 else { throw .system(operation: "inspect", path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == geteuid() else { throw .notASocket(path: path) }
        // chmod of /proc/self/fd/N reaches the very file the handle holds (fchmod refuses O_PATH).
        if info.st_mode & 0o7777 != 0o660 {
            guard chmod("/proc/self/fd/\(handle)", 0o660) == 0 else { throw .system(operation: "set the mode of", path: path, errno: errno) }
        }
        if let group, info.st_gid != group {
            if fchownat(handle, "", uid_t.max, group, atEmptyPath) != 0 { chownFailed(group, errno) }
        }
        guard fstat(handle, &info) == 0 else { throw .system(operation: "inspect", path: path, errno: errno) }
        return info
    }

    private func close(_ listener: Listener) {
        unlinkSocket(of: listener)
        for fd in [listener.fd, listener.wakeFD, listener.signalFD] { _ = Glibc.close(fd) }
    }

    private func unlinkSocket(of listener: Listener) {
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == listener.device, UInt64(info.st_ino) == listener.inode {
            _ = unlink(path)
        }
    }

    // MARK: - Accepting

    private func acceptLoop(_ listener: Listener) {
        while true {
            var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listener.wakeFD, events: Int16(POLLIN), revents: 0)]
            _ = UnixSocket.wait(&fds, timeout: nil)
            if fds[1].revents != 0 { return }  // `stop` closed the other end of the wake pair.
            let client = accept(listener.fd, nil, nil)
            guard client >= 0 else {
                switch errno {
                case EAGAIN, EINTR, ECONNABORTED:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    logger.error("cannot accept a control connection: \(String(cString: strerror(errno))); retrying",
                                 metadata: ["event": "control-accept-failed"])
                    // The listener stays readable: back off instead of spinning. `stop` still wakes us.
                    var wake = [pollfd(fd: listener.wakeFD, events: Int16(POLLIN), revents: 0)]
                    if UnixSocket.wait(&wake, timeout: .milliseconds(100)) { return }
                    continue
                default:
                    logger.critical("control socket stopped accepting: \(String(cString: strerror(errno)))",
                                    metadata: ["event": "control-accept-failed"])
                    return
                }
            }
            // accept4(SOCK_CLOEXEC) is not in Swift's Glibc module.
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            admit(client)
        }
    }

    /// The uid the kernel vouches for on `client`, without the groups (cheap, for admission).
    private static func peerUID(_ client: Int32) -> UInt32? {
        var ucred = [UInt32](repeating: 0, count: 3)
        var length = socklen_t(12)
        let result = ucred.withUnsafeMutableBytes { getsockopt(client, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        return result == 0 ? ucred[1] : nil
    }

    private func admit(_ client: Int32) {
        let uid = Self.peerUID(client)
        let perUserReserve = max(1, reservedConnections / 2)
        let slot: Slot? = state.withLock { state in
            guard case .listening = state.phase else { return nil }
            let reserved = state.connections.values.filter(\.reserve)
            if state.connections.count - reserved.count < maxConnections {
                state.connections[client] = Slot(reserve: false, uid: uid)
            } else if reserved.count < reservedConnections, let uid,
                      reserved.filter({ $0.uid == uid }).count < perUserReserve {
                state.connections[client] = Slot(reserve: true, uid: uid)
            } else {
                return nil
            }
            return state.connections[client]
        }
        guard let slot else {
            logger.warning("refused a control connection: \(maxConnections) are open and the reserve is held",
                           metadata: ["event": "control-busy"])
            // Never block the accept loop on a client: one whose buffer is full misses the reason.
            let line = ControlWire.line(ControlResponse.failure(ControlError.busy(limit: maxConnections).description))
            _ = UnixSocket.sendAll(client, line, flags: Int32(MSG_DONTWAIT))
            _ = Glibc.close(client)
            return
        }
        threads.enter()
        let thread = Thread { [self] in
            serve(client, reserve: slot.reserve)
            state.withLock { state in
                state.connections[client] = nil
                _ = Glibc.close(client)
            }
            threads.leave()
        }
        thread.name = "flipsync-control-connection"
        thread.start()
    }

    // MARK: - One connection

    private func serve(_ client: Int32, reserve: Bool) {
        UnixSocket.setSendTimeout(client, requestTimeout)
        let peer: PeerCredentials
        do {
            peer = try PeerCredentials(socket: client)
        } catch {
            logger.error("\(error)", metadata: ["event": "control-refused"])
            write(.failure("cannot identify the peer"), to: client)
            return
        }
        guard access.allows(peer) else {
            logger.warning("refused control connection from uid \(peer.uid) (pid \(peer.pid))",
                           metadata: ["event": "control-refused", "uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            write(.failure(ControlError.notAllowed(uid: peer.uid).description), to: client)
            return
        }
        let request: ControlRequest
        do {
            let timeout = reserve ? min(requestTimeout, .seconds(1)) : requestTimeout
            guard let received = try readRequest(from: client, timeout: timeout) else { return }  // It left without asking.
            request = received
        } catch {
            logger.notice("bad control request from uid \(peer.uid): \(error)",
                          metadata: ["event": "control-bad-request", "uid": "\(peer.uid)"])
            write(.failure(error.description), to: client)
            return
        }
        if reserve, case .run(_, wait: true) = request {
            logger.notice("refused run --wait from uid \(peer.uid) in a reserve slot", metadata: ["event": "control-busy"])
            write(.failure(ControlError.busy(limit: maxConnections).description), to: client)
            return
        }
        answer(request, from: peer, on: client)
    }

    private func readRequest(from client: Int32, timeout: Duration) throws(ControlError) -> ControlRequest? {
        var reader = LineReader(fd: client)
        let line: [UInt8]?
        do throws(LineReader.Failure) {
            line = try reader.nextLine(limit: ControlRequest.maxLineBytes, deadline: .now + timeout)
        } catch {
            switch error {
            case .tooLong: throw .requestTooLong(limit: ControlRequest.maxLineBytes)
            case .timedOut: throw .requestTimedOut(after: timeout)
            case .system(let code): throw .system(operation: "read a request from", path: path, errno: code)
            }
        }
        guard let line else { return nil }
        return try ControlWire.request(from: line)
    }

    /// Runs the handler in a task and writes its lines from this thread until the final one —
    /// or until the client hangs up or `stop` shuts the connection down, which cancels the task.
    private func answer(_ request: ControlRequest, from peer: PeerCredentials, on client: Int32) {
        let queue: ResponseQueue
        do {
            queue = try ResponseQueue()
        } catch {
            logger.error("\(error)")
            write(.failure("the daemon cannot answer: \(error)"), to: client)
            return
        }
        let task = Task { [handler] in
            let last = await handler.handle(request, from: peer) { queue.post($0, final: false) }
            queue.post(last, final: true)
        }
        defer {
            task.cancel()
            queue.close()
        }
        while true {
            // The client's events are 0: POLLHUP and POLLERR are always reported, and POLLHUP on
            // a Unix socket means both directions are shut — the client closed, or `stop` shut it
            // down. A client that only shut down its writing side is still reading.
            var fds = [pollfd(fd: queue.wakeFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: client, events: 0, revents: 0)]
            _ = UnixSocket.wait(&fds, timeout: nil)
            for response in queue.take() {
                guard write(response, to: client), !response.final else { return }
            }
            if fds[1].revents != 0 {
                logger.debug("control client left before the final response", metadata: ["event": "control-client-left"])
                return
            }
        }
    }

    /// Writes one response line; false if the client is gone (EPIPE) or stopped reading.
    @discardableResult
    private func write(_ response: ControlResponse, to client: Int32) -> Bool {
        guard let code = UnixSocket.sendAll(client, ControlWire.line(response)) else { return true }
        logger.debug("cannot write a control response: \(String(cString: strerror(code)))",
                     metadata: ["event": "control-client-left"])
        return false
    }
}

/// The control server as a service of the daemon's service group. The daemon starts it before
/// `READY=1` (so a socket that cannot be opened stops the start with exit status 1, and clients
/// can connect as soon as systemd says the daemon is up); `run` starts it only if nobody has. It
/// serves until the group shuts down gracefully, then ``stop()``s. In the group it comes after
/// the group-commit service and before the scheduler service, so it is stopped after the
/// scheduler has drained: `run --wait` clients get their runs' final statuses.
extension ControlServer: Service {
    public func run() async throws {
        switch state.withLock({ $0.phase }) {
        case .idle: try start()
        case .listening: break
        case .stopped: return
        }
        // Cancellation (the group failing) ends the wait too; the server stops either way.
        try? await gracefulShutdown()
        stop()
    }
}

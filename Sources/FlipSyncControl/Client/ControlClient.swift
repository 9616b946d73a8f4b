import Glibc

/// `flipsyncctl`'s end of the control socket: sends one request and hands each response line
/// to the caller as it arrives. Blocking — meant for the command line, not for async code.
///
/// A connection failure becomes an error an operator can act on (``ControlError/notRunning(path:)``,
/// ``ControlError/permissionDenied(path:)``). Refusals and failures the daemon answers with
/// (`ok: false`) are response lines like any other: they reach `onResponse`, not `throw`.
public struct ControlClient: Sendable {
    public let path: String
    /// How long to wait for the daemon's first response line. The daemon answers every request
    /// at once; after a non-final line (a waited run has started) there is no limit, since a run
    /// may take hours.
    public var timeout: Duration

    public init(path: String, timeout: Duration = .seconds(30)) {
        self.path = path
        self.timeout = timeout
    }

    /// Sends `request` and calls `onResponse` with each response line, in order, returning after
    /// the final one. If `onResponse` throws, the connection is closed and the error is rethrown
    /// as ``ControlError/responseHandler(_:)``.
    public func send(_ request: ControlRequest, onResponse: (ControlResponse) throws -> Void) throws(ControlError) {
        let fd = UnixSocket.make()
        guard fd >= 0 else { throw .system(operation: "create a socket to reach", path: path, errno: errno) }
        defer { _ = close(fd) }
        switch UnixSocket.connect(fd, to: path) {
        case 0: break
        case ENAMETOOLONG: throw .pathTooLong(path: path, limit: UnixSocket.maxPathBytes)
        case let code: throw .connecting(to: path, errno: code)
        }
        // The daemon may answer before reading everything — a refusal, a request too long — and
        // close: its answer is then waiting to be read even though writing failed.
        let sendFailure = UnixSocket.sendAll(fd, ControlWire.line(request))
        if let sendFailure, sendFailure != EPIPE, sendFailure != ECONNRESET {
            throw .system(operation: "send a request to", path: path, errno: sendFailure)
        }
        var reader = LineReader(fd: fd)
        var deadline: ContinuousClock.Instant? = .now + timeout
        while true {
            let line: [UInt8]?
            do throws(LineReader.Failure) {
                line = try reader.nextLine(limit: ControlWire.maxResponseBytes, deadline: deadline)
            } catch {
                switch error {
                case .timedOut: throw .timedOut(path: path, after: timeout)
                case .tooLong: throw .malformedResponse("a line longer than \(ControlWire.maxResponseBytes) bytes")
                // A daemon that closes with our request unread resets the connection.
                case .system(ECONNRESET): line = nil
                case .system(let code): throw .system(operation: "read a response from", path: path, errno: code)
                }
            }
            guard let line else { throw .connectionClosed(path: path) }
            let response = try ControlWire.response(from: line)
            do {
                try onResponse(response)
            } catch {
                throw .responseHandler(error)
            }
            if response.final { return }
            deadline = nil
        }
    }
}

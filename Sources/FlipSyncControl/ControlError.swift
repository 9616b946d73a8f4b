import Glibc

/// What can go wrong on the control socket, with what the operator needs to act on it.
///
/// Three groups: setting up the socket (the daemon's `start`), talking to the daemon (the
/// client's `send`), and requests the daemon refuses — those travel as the `error` text of an
/// `ok: false` response line, and ``description`` is that text.
public enum ControlError: Error, Sendable, CustomStringConvertible {
    // Setting up the socket.
    /// A Unix socket path holds at most `limit` bytes (`sun_path`).
    case pathTooLong(path: String, limit: Int)
    /// Something other than a socket is at the path; it is left alone.
    case notASocket(path: String)
    /// A live daemon answers on the path.
    case alreadyListening(path: String)
    /// `start` was called on a server that was started or stopped before.
    case alreadyStarted(path: String)
    /// A system call failed; `operation` reads as "cannot <operation> <path>".
    case system(operation: String, path: String, errno: Int32)

    // Talking to the daemon.
    /// No socket at the path, or nobody listening on it.
    case notRunning(path: String)
    /// The socket file's permissions do not let this user connect.
    case permissionDenied(path: String)
    /// The daemon closed the connection before its final response line.
    case connectionClosed(path: String)
    /// No response line came within `after`.
    case timedOut(path: String, after: Duration)
    /// The daemon sent a line that is not a response.
    case malformedResponse(String)
    /// The caller's `onResponse` threw `error`; nothing more was read.
    case responseHandler(any Error)

    // Requests the daemon refuses.
    /// The peer's uid is neither allowed nor in the allowed group.
    case notAllowed(uid: UInt32)
    /// All `limit` connection slots are taken.
    case busy(limit: Int)
    /// The request line was longer than `limit` bytes.
    case requestTooLong(limit: Int)
    /// No complete request line came within `after`.
    case requestTimedOut(after: Duration)
    /// The request line is not a request.
    case malformedRequest(String)

    public var description: String {
        switch self {
        case .pathTooLong(let path, let limit):
            return "control socket path \(path) is longer than \(limit) bytes"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; refusing to remove it"
        case .alreadyListening(let path):
            return "another flipsyncd is already listening on \(path)"
        case .alreadyStarted(let path):
            return "the control socket at \(path) was already started"
        case .system(let operation, let path, let code):
            return "cannot \(operation) \(path): \(String(cString: strerror(code)))"
        case .notRunning(let path):
            return "flipsyncd is not running (no control socket at \(path))"
        case .permissionDenied(let path):
            return "permission denied on \(path) (are you in the flipsync group?)"
        case .connectionClosed(let path):
            return "flipsyncd closed the connection on \(path) before answering (is it stopping?)"
        case .timedOut(let path, let after):
            return "flipsyncd did not answer on \(path) within \(after.forHumans)"
        case .malformedResponse(let reason):
            return "flipsyncd sent a malformed response: \(reason)"
        case .responseHandler(let error):
            return "\(error)"
        case .notAllowed(let uid):
            return "permission denied: uid \(uid) is not allowed to control flipsyncd"
        case .busy(let limit):
            return "flipsyncd is busy: all \(limit) control connections are in use; try again"
        case .requestTooLong(let limit):
            return "request line is longer than \(limit) bytes"
        case .requestTimedOut(let after):
            return "no request line within \(after.forHumans)"
        case .malformedRequest(let reason):
            return "malformed request: \(reason)"
        }
    }

    /// A failed `connect` to the daemon, in the words an operator can act on.
    static func connecting(to path: String, errno code: Int32) -> ControlError {
        switch code {
        case ENOENT, ECONNREFUSED, ENOTDIR: return .notRunning(path: path)
        case EACCES, EPERM: return .permissionDenied(path: path)
        default: return .system(operation: "connect to", path: path, errno: code)
        }
    }
}

extension Duration {
    /// `5s`, `250ms`.
    var forHumans: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// Whole milliseconds, rounded up so a wait never ends before its deadline; zero if not positive.
    var millisecondsRoundedUp: Int64 {
        guard self > .zero else { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        return components.seconds * 1000 + (components.attoseconds + perMillisecond - 1) / perMillisecond
    }
}

import Glibc
import Synchronization

/// Carries response lines from a handler's task to its connection's thread, which alone writes
/// to the client socket: a client that reads slowly then blocks that thread, never a thread of
/// the cooperative pool.
///
/// `post` never blocks. Each post also makes ``wakeFD`` readable, so the connection thread can
/// wait for lines and for the client's hang-up in one `poll`.
final class ResponseQueue: Sendable {
    /// Readable when lines may be waiting; the connection thread polls it.
    let wakeFD: Int32
    private let signalFD: Int32
    private let state = Mutex<(lines: [ControlResponse], closed: Bool)>(([], false))

    init() throws(ControlError) {
        // A socket pair rather than a pipe: it is created close-on-exec in one call.
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw .system(operation: "create a wake-up socket pair for", path: "a control connection", errno: errno)
        }
        (wakeFD, signalFD) = (pair[0], pair[1])
        UnixSocket.setNonBlocking(wakeFD)
        UnixSocket.setNonBlocking(signalFD)
    }

    /// Queues `response`, marked `final` or not. Does nothing once the queue is closed.
    func post(_ response: ControlResponse, final: Bool) {
        state.withLock { state in
            guard !state.closed else { return }
            var response = response
            response.final = final
            state.lines.append(response)
            // If the wake socket's buffer is full the reader is already woken: EAGAIN is fine.
            var byte: UInt8 = 1
            _ = send(signalFD, &byte, 1, Int32(MSG_NOSIGNAL))
        }
    }

    /// The lines posted so far, oldest first; empties the queue.
    func take() -> [ControlResponse] {
        // Drain wake-ups before taking, so a line posted meanwhile leaves a wake-up behind.
        var bytes = [UInt8](repeating: 0, count: 256)
        while recv(wakeFD, &bytes, bytes.count, 0) > 0 {}
        return state.withLock { state in
            defer { state.lines = [] }
            return state.lines
        }
    }

    /// Closes the wake sockets; later posts are dropped. Under the lock, so a late post never
    /// writes to a descriptor number that was closed and reused.
    func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            _ = Glibc.close(wakeFD)
            _ = Glibc.close(signalFD)
        }
    }
}

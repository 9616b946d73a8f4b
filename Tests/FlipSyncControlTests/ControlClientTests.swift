import Foundation
import Glibc
import Testing
@testable import FlipSyncControl

@Suite("Control client: reaching the daemon", .timeLimit(.minutes(2)))
struct ControlClientTests {
    @Test("no socket file means the daemon is not running")
    func noSocket() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect { try ControlClient(path: directory.socketPath).responses(to: .status) } throws: { error in
            (error as? ControlError)?.description == "flipsyncd is not running (no control socket at \(directory.socketPath))"
        }
    }

    @Test("a socket nobody listens on means the daemon is not running")
    func nobodyListening() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let stale = UnixSocket.make()
        #expect(UnixSocket.withAddress(of: directory.socketPath, { bind(stale, $0, $1) }) == 0)
        _ = close(stale)
        #expect { try ControlClient(path: directory.socketPath).responses(to: .status) } throws: { error in
            guard case .notRunning = error as? ControlError else { return false }
            return true
        }
    }

    @Test("connect errors read as what the operator can do", arguments: [
        (ENOENT, "flipsyncd is not running (no control socket at /run/flipsync/control.sock)"),
        (ECONNREFUSED, "flipsyncd is not running (no control socket at /run/flipsync/control.sock)"),
        (EACCES, "permission denied on /run/flipsync/control.sock (are you in the flipsync group?)"),
    ])
    func connectErrors(code: Int32, message: String) {
        #expect(ControlError.connecting(to: "/run/flipsync/control.sock", errno: code).description == message)
    }
}

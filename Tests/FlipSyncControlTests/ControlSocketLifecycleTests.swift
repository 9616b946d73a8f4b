import Dispatch
import FlipSyncCore
import Foundation
import Glibc
import Logging
import Testing
@testable import FlipSyncControl

@Suite("Control server: the socket file and stopping", .timeLimit(.minutes(2)))
struct ControlSocketLifecycleTests {
    static let logger = quietLogger

    @Test("the socket file is a socket with mode 0660")
    func socketMode() async throws {
        try await withServer { server, _ in
            var info = stat()
            #expect(lstat(server.path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o7777 == 0o660)
        }
    }

    @Test("a stale socket file left by a dead daemon is replaced")
    func staleSocket() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Bound and closed without unlinking: what a crashed daemon leaves.
        let stale = UnixSocket.make()
        #expect(UnixSocket.withAddress(of: directory.socketPath, { bind(stale, $0, $1) }) == 0)
        _ = close(stale)

        let server = ControlServer(path: directory.socketPath, access: ControlAccess(allowedUIDs: [geteuid()]),
                                   handler: RecordingHandler(), logger: Self.logger)
        try server.start()
        let lines = try await offPool { try ControlClient(path: directory.socketPath).responses(to: .status) }
        try await offPool { server.stop() }
        #expect(lines == [ControlResponse(status: Fixture.statusLine)])
    }

    @Test("a regular file at the path is refused and left alone")
    func regularFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try "precious".write(toFile: directory.socketPath, atomically: false, encoding: .utf8)
        let server = ControlServer(path: directory.socketPath, access: ControlAccess(allowedUIDs: [geteuid()]),
                                   handler: RecordingHandler(), logger: Self.logger)
        #expect { try server.start() } throws: { error in
            guard case .notASocket(directory.socketPath) = error as? ControlError else { return false }
            return true
        }
        #expect(try String(contentsOfFile: directory.socketPath, encoding: .utf8) == "precious")
    }

    @Test("a socket a live daemon listens on is not taken over")
    func liveSocket() async throws {
        try await withServer { server, client in
            let second = ControlServer(path: server.path, access: ControlAccess(allowedUIDs: [geteuid()]),
                                       handler: RecordingHandler(), logger: Self.logger)
            #expect { try second.start() } throws: { error in
                guard case .alreadyListening = error as? ControlError else { return false }
                return true
            }
            let lines = try await offPool { try client.responses(to: .status) }
            #expect(lines == [ControlResponse(status: Fixture.statusLine)])
        }
    }

    @Test("a path longer than sun_path is refused before anything is created")
    func pathTooLong() {
        let path = "/tmp/" + String(repeating: "p", count: 120)
        let server = ControlServer(path: path, access: ControlAccess(allowedUIDs: []), handler: RecordingHandler(), logger: Self.logger)
        #expect { try server.start() } throws: { error in
            guard case .pathTooLong(path, 107) = error as? ControlError else { return false }
            return true
        }
    }

    @Test("stop unlinks the socket, may be called again, and the server cannot be restarted")
    func stopTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = ControlServer(path: directory.socketPath, access: ControlAccess(allowedUIDs: [geteuid()]),
                                   handler: RecordingHandler(), logger: Self.logger)
        try server.start()
        try await offPool {
            server.stop()
            server.stop()
        }
        #expect(access(directory.socketPath, F_OK) != 0)
        #expect { try ControlClient(path: directory.socketPath).responses(to: .list) } throws: { error in
            (error as? ControlError)?.description == "flipsyncd is not running (no control socket at \(directory.socketPath))"
        }
        #expect { try server.start() } throws: { error in
            guard case .alreadyStarted = error as? ControlError else { return false }
            return true
        }
    }

    @Test("stop returns promptly while clients are connected, and a waiting client learns the connection closed")
    func stopWithClientsConnected() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let handler = RecordingHandler(waitedRunsEnd: false)
        // A long request timeout, so a stop that waited for the silent client would show.
        let server = ControlServer(path: directory.socketPath, access: ControlAccess(allowedUIDs: [geteuid()]),
                                   handler: handler, logger: Self.logger, requestTimeout: .seconds(60))
        try server.start()
        let silent = try RawConnection(path: directory.socketPath)
        defer { silent.close() }

        let started = DispatchSemaphore(value: 0)
        async let waiting: Result<[ControlResponse], ControlError> = offPool {
            var lines: [ControlResponse] = []
            do throws(ControlError) {
                try ControlClient(path: directory.socketPath).send(.run(job: Fixture.jobName, wait: true)) {
                    lines.append($0)
                    started.signal()
                }
                return .success(lines)
            } catch {
                return .failure(error)
            }
        }
        // Both connections are now being served: the waiting client has its first line.
        #expect(try await offPool { started.wait(timeout: .now() + 60) } == .success)

        let elapsed = try await offPool { ContinuousClock().measure { server.stop() } }
        // Not a speed target: far below the connections' 60 s request timeout, so stop did not
        // wait for them (generous, because CI's two cores may be busy with other tests).
        #expect(elapsed < .seconds(30))
        guard case .failure(.connectionClosed) = try await waiting else {
            Issue.record("the waiting client should see the connection closed")
            return
        }
        #expect(try await next(handler.returned)?.cancelled == true)
    }
}

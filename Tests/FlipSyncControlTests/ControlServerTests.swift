import FlipSyncCore
import Foundation
import Glibc
import Testing
@testable import FlipSyncControl

@Suite("Control server: requests and answers", .timeLimit(.minutes(2)))
struct ControlServerTests {
    @Test("every request reaches the handler with the caller's credentials and its answer comes back", arguments: [
        (ControlRequest.list, ControlResponse(jobs: [Fixture.job])),
        (.status, ControlResponse(status: Fixture.statusLine)),
        (.run(job: Fixture.jobName, wait: false), ControlResponse(run: Fixture.run)),
        (.pause(job: Fixture.jobName), ControlResponse()),
        (.resume(job: Fixture.jobName), ControlResponse()),
    ])
    func roundTrip(request: ControlRequest, expected: ControlResponse) async throws {
        let handler = RecordingHandler()
        try await withServer(handler: handler) { _, client in
            let lines = try await offPool { try client.responses(to: request) }
            #expect(lines == [expected])
            #expect(handler.requests == [request])
            #expect(handler.peers == [PeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid(),
                                                      groups: handler.peers.first?.groups ?? [])])
        }
    }

    @Test("run with wait streams the started run, then a final line with how it ended")
    func runWithWait() async throws {
        try await withServer { _, client in
            let lines = try await offPool { try client.responses(to: .run(job: Fixture.jobName, wait: true)) }
            #expect(lines == [
                ControlResponse(run: Fixture.run, final: false),
                ControlResponse(run: Fixture.run, finalStatus: .succeeded, final: true),
            ])
        }
    }

    @Test("a handler's failure reaches the client as ok: false with its words")
    func handlerFailure() async throws {
        try await withServer { _, client in
            let lines = try await offPool { try client.responses(to: .run(job: "nope", wait: true)) }
            #expect(lines == [.failure("no job \"nope\"")])
        }
    }

    @Test("a peer whose uid is not allowed gets one refusal line, is logged, and never reaches the handler")
    func refusedPeer() async throws {
        let handler = RecordingHandler()
        let log = LogRecorder()
        try await withServer(access: ControlAccess(allowedUIDs: [geteuid() &+ 1]), handler: handler, logger: log.logger) { _, client in
            let lines = try await offPool { try client.responses(to: .list) }
            #expect(lines == [.failure("permission denied: uid \(geteuid()) is not allowed to control flipsyncd")])
            #expect(handler.requests.isEmpty)
            let refusals = log.entries.filter { $0.metadata["event"] == "control-refused" }
            #expect(refusals.count == 1)
            #expect(refusals.first?.metadata["uid"] == "\(geteuid())")
        }
    }

    @Test("a peer in the allowed group is served though its uid is not listed")
    func allowedByGroup() async throws {
        try await withServer(access: ControlAccess(allowedUIDs: [], allowedGroup: getegid())) { _, client in
            let lines = try await offPool { try client.responses(to: .status) }
            #expect(lines == [ControlResponse(status: Fixture.statusLine)])
        }
    }

    @Test("a request line over 64 KiB is refused without reaching the handler")
    func oversizedRequest() async throws {
        let handler = RecordingHandler()
        try await withServer(handler: handler) { _, client in
            let job = String(repeating: "x", count: ControlRequest.maxLineBytes)
            let lines = try await offPool { try client.responses(to: .pause(job: job)) }
            #expect(lines == [.failure("request line is longer than 65536 bytes")])
            #expect(handler.requests.isEmpty)
        }
    }

    @Test("a line that is not JSON gets ok: false with a clear error")
    func malformedRequest() async throws {
        try await withServer { server, _ in
            let lines = try await offPool {
                let connection = try RawConnection(path: server.path)
                defer { connection.close() }
                connection.write("list please\n")
                return try connection.responses()
            }
            #expect(lines == [.failure("malformed request: not valid JSON")])
        }
    }

    @Test("a request without a trailing newline is read at the end of the stream")
    func requestEndedByHalfClose() async throws {
        try await withServer { server, _ in
            let lines = try await offPool {
                let connection = try RawConnection(path: server.path)
                defer { connection.close() }
                connection.write(#"{"command":"status"}"#)
                _ = shutdown(connection.fd, Int32(SHUT_WR))
                return try connection.responses()
            }
            #expect(lines == [ControlResponse(status: Fixture.statusLine)])
        }
    }

    @Test("a peer that sends nothing is answered with a timeout and let go")
    func silentPeer() async throws {
        try await withServer(requestTimeout: .milliseconds(200)) { server, _ in
            let lines = try await offPool {
                let connection = try RawConnection(path: server.path)
                defer { connection.close() }
                return try connection.responses()
            }
            #expect(lines == [.failure("no request line within 200ms")])
        }
    }

    @Test("connections beyond the limit and the reserve are told the daemon is busy")
    func busy() async throws {
        try await withServer(maxConnections: 1, reservedConnections: 1) { server, client in
            let (lines, holders) = try await offPool {
                // Accepted first (the backlog is in order): they take the only slot and the
                // reserve, and say nothing.
                let holders = [try RawConnection(path: server.path), try RawConnection(path: server.path)]
                return (try client.responses(to: .list), holders)
            }
            holders.forEach { $0.close() }
            #expect(lines == [.failure("flipsyncd is busy: all 1 control connections are in use; try again")])
        }
    }

    @Test("a client that leaves during run --wait cancels the handler, and the server carries on")
    func clientLeavesDuringWait() async throws {
        struct Leaving: Error {}
        let handler = RecordingHandler(waitedRunsEnd: false)
        try await withServer(handler: handler) { _, client in
            let outcome = try await offPool { () -> ControlError? in
                do throws(ControlError) {
                    try client.send(.run(job: Fixture.jobName, wait: true)) { _ in throw Leaving() }
                    return nil
                } catch {
                    return error
                }
            }
            guard case .responseHandler(let error) = outcome else {
                Issue.record("expected the client's own error, got \(String(describing: outcome))")
                return
            }
            #expect(error is Leaving)
            let ended = try await next(handler.returned)
            #expect(ended?.request == .run(job: Fixture.jobName, wait: true))
            #expect(ended?.cancelled == true)
            let lines = try await offPool { try client.responses(to: .status) }
            #expect(lines == [ControlResponse(status: Fixture.statusLine)])
        }
    }
}

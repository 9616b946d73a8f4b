import FlipSyncCore
import Foundation
import Glibc
import Testing
@testable import FlipSyncControl

@Suite("Control server: a reserve for short requests, and the socket file's mode", .timeLimit(.minutes(2)))
struct ControlReserveTests {
    static let waitLine = "{\"command\":\"run\",\"job\":\"\(Fixture.jobName)\",\"wait\":true}\n"

    @Test("with every general slot held by run --wait and silent clients, status still answers; a further wait is busy")
    func statusAnswersWhenAllSlotsAreHeld() async throws {
        let handler = RecordingHandler(waitedRunsEnd: false)
        try await withServer(handler: handler, maxConnections: 4, reservedConnections: 4) { server, client in
            let holders = try await offPool { () -> [RawConnection] in
                var holders: [RawConnection] = []
                // Two waits, each seen started (so each holds its slot), then two silent clients.
                for _ in 0..<2 {
                    let waiting = try RawConnection(path: server.path)
                    waiting.write(Self.waitLine)
                    var reader = LineReader(fd: waiting.fd)
                    _ = try reader.nextLine(limit: ControlWire.maxResponseBytes, deadline: .now + .seconds(30))
                    holders.append(waiting)
                }
                holders.append(try RawConnection(path: server.path))
                holders.append(try RawConnection(path: server.path))
                // One silent client in the reserve too: the uid still has a reserve slot left.
                holders.append(try RawConnection(path: server.path))
                return holders
            }
            defer { holders.forEach { $0.close() } }
            let status = try await offPool { try client.responses(to: .status) }
            #expect(status == [ControlResponse(status: Fixture.statusLine)])
            let wait = try await offPool { try client.responses(to: .run(job: Fixture.jobName, wait: true)) }
            #expect(wait == [.failure("flipsyncd is busy: all 4 control connections are in use; try again")])
            // The refused wait never reached the handler: only the two held ones did.
            #expect(handler.requests.filter { $0 == .run(job: Fixture.jobName, wait: true) }.count == 2)
        }
    }

    @Test("one uid holds at most half the reserve")
    func perUserReserve() async throws {
        try await withServer(maxConnections: 1, reservedConnections: 4) { server, client in
            let (lines, holders) = try await offPool {
                // One general slot and this uid's two reserve slots, all silent.
                let holders = try (0..<3).map { _ in try RawConnection(path: server.path) }
                return (try client.responses(to: .status), holders)
            }
            holders.forEach { $0.close() }
            #expect(lines == [.failure("flipsyncd is busy: all 1 control connections are in use; try again")])
        }
    }

    @Test("mode and group are set through a handle on the socket file: a symbolic link in its place is not followed")
    func symlinkNotFollowed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.path + "/precious"
        try "precious".write(toFile: target, atomically: false, encoding: .utf8)
        #expect(chmod(target, 0o600) == 0)
        #expect(symlink(target, directory.socketPath) == 0)
        #expect { _ = try ControlServer.setModeAndGroup(path: directory.socketPath, group: 0) { _, _ in } } throws: { error in
            guard case .notASocket = error as? ControlError else { return false }
            return true
        }
        var info = stat()
        #expect(stat(target, &info) == 0 && info.st_mode & 0o7777 == 0o600)
    }

    @Test("the socket file gets exactly 0660 and the allowed group")
    func modeAndGroup() async throws {
        try await withServer(access: ControlAccess(allowedUIDs: [geteuid()], allowedGroup: 65534)) { server, client in
            var info = stat()
            #expect(lstat(server.path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o7777 == 0o660)
            #expect(info.st_gid == 65534)
            let lines = try await offPool { try client.responses(to: .status) }
            #expect(lines == [ControlResponse(status: Fixture.statusLine)])
        }
    }
}

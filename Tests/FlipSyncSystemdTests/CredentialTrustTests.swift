import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import FlipSyncSystemd

@Suite("Credentials: file kinds and owners", .timeLimit(.minutes(1)))
struct CredentialTrustTests {
    @Test("a FIFO in place of a credential is refused at once (it used to block the daemon)", arguments: [true, false])
    func fifo(systemd: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/ebay-refresh-token"
        #expect(mkfifo(path, 0o600) == 0)
        let started = ContinuousClock.now
        #expect(throws: CredentialError.unreadable(name: "ebay-refresh-token", path: path, reason: "not a regular file")) {
            try Credentials.read("ebay-refresh-token", systemdDirectory: systemd ? directory.path : nil,
                                 developmentDirectory: systemd ? nil : directory.path)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a credential file owned by nobody, or in a directory others may write, is refused")
    func owners() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("api-key", "TOPSECRET", mode: 0o600)
        #expect(chown(path, 65534, 65534) == 0)
        do {
            _ = try Credentials.read("api-key", systemdDirectory: nil, developmentDirectory: directory.path)
            Issue.record("a file owned by uid 65534 was read")
        } catch {
            #expect(error.description.contains("owned by uid 65534") && !error.description.contains("TOPSECRET"))
        }
        #expect(chown(path, 0, 0) == 0 && chmod(directory.path, 0o757) == 0)
        do {
            _ = try Credentials.read("api-key", systemdDirectory: nil, developmentDirectory: directory.path)
            Issue.record("a file in a world-writable directory was read")
        } catch {
            #expect(error.description.contains("is writable by its group or other users"))
        }
        #expect(chmod(directory.path, 0o700) == 0)
        #expect(try Credentials.read("api-key", systemdDirectory: nil, developmentDirectory: directory.path).reveal() == "TOPSECRET")
    }
}

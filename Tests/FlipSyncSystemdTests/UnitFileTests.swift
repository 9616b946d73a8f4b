import Foundation
import Testing
@testable import FlipSyncSystemd
import FlipSyncTestKit

private let unitPath = packageRoot + "/systemd/flipsyncd.service"
private let catalogPath = packageRoot + "/systemd/flipsyncd.catalog"

/// The shipped unit and catalog, checked with systemd's own tools. These fail (rather than skip)
/// when `systemd-analyze` or `journalctl` is missing: CI installs systemd.
@Suite("systemd unit and catalog", .timeLimit(.minutes(2)))
struct UnitFileTests {
    @Test("systemd-analyze security rates the unit's exposure 2.0 or lower")
    func exposure() throws {
        let result = try runCommand("systemd-analyze", ["security", "--offline=yes", "--no-pager", unitPath])
        let marker = "Overall exposure level for flipsyncd.service: "
        let line = (result.stdout + result.stderr).split(separator: "\n").first { $0.contains(marker) }
        let level = line.flatMap { line in
            line[line.range(of: marker)!.upperBound...].split(separator: " ").first.flatMap { Double($0) }
        }
        #expect(level != nil, "no exposure line in:\n\(result.stdout)\(result.stderr)")
        #expect(level.map { $0 <= 2.0 } == true, "exposure \(level ?? -1):\n\(result.stdout)")
    }

    /// `verify` insists that ExecStart's binary exists; the unit names the installed path
    /// (/usr/bin/flipsyncd, where the package puts it), which may not exist on a build machine. So this verifies a copy
    /// whose ExecStart binary is /bin/true — everything else is the shipped unit, byte for byte.
    @Test("systemd-analyze verify finds nothing wrong (with ExecStart pointed at an existing binary)")
    func verify() throws {
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8)
        let installed = "ExecStart=/usr/bin/flipsyncd "
        #expect(unit.components(separatedBy: installed).count == 2, "exactly one ExecStart of the installed binary")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let copy = try directory.write("flipsyncd.service", unit.replacingOccurrences(of: installed, with: "ExecStart=/bin/true "),
                                       mode: 0o644)
        let result = try runCommand("systemd-analyze", ["verify", "--man=no", copy])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect((result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "\(result.stdout)\(result.stderr)")
    }

    /// One line loads the whole directory (systemd 252: every file as `flipsync_NAME`), so a missing
    /// file never stops the unit from starting and adding a marketplace needs no unit edit.
    @Test("one LoadCredential= loads /etc/flipsync/credentials as flipsync_*, and the config's credential names are valid")
    func credentialsDirectory() throws {
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8)
        let lines = unit.split(separator: "\n").filter { $0.hasPrefix("LoadCredential") || $0.hasPrefix("SetCredential") }
        #expect(lines == ["LoadCredential=flipsync:/etc/flipsync/credentials"])
        #expect(Credentials.directoryPrefix == "flipsync_")
        let config = try String(contentsOfFile: packageRoot + "/config/flipsync.toml", encoding: .utf8)
        var named: [String] = []
        for line in config.split(separator: "\n") where line.hasPrefix("credentials = {") {
            // credentials = { client_id = "ebay-client-id", ... }: every quoted value is a credential name.
            let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
            named += stride(from: 1, to: quoted.count, by: 2).map { String(quoted[$0]) }
        }
        #expect(named.count >= 9)
        #expect(named.allSatisfy(Credentials.isValidName))
    }

    @Test("systemd-sysusers creates the user and group the unit runs as")
    func sysusers() throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        try root.install(packageRoot + "/systemd/flipsync.sysusers.conf", at: "usr/lib/sysusers.d/flipsync.conf",
                         alsoCreating: ["etc"])
        let result = try runCommand("systemd-sysusers", ["--root=" + root.path])
        #expect(result.status == 0, "\(result.stderr)")
        let passwd = try String(contentsOfFile: root.path + "/etc/passwd", encoding: .utf8)
        let group = try String(contentsOfFile: root.path + "/etc/group", encoding: .utf8)
        let user = passwd.split(separator: "\n").first { $0.hasPrefix("flipsync:") }?.split(separator: ":", omittingEmptySubsequences: false)
        #expect(user?.count == 7 && user?[5] == "/var/lib/flipsync" && user?.last?.hasSuffix("nologin") == true, "\(passwd)")
        #expect(group.split(separator: "\n").contains { $0.hasPrefix("flipsync:") }, "\(group)")

        let unit = try String(contentsOfFile: unitPath, encoding: .utf8).split(separator: "\n")
        #expect(unit.contains("User=flipsync") && unit.contains("Group=flipsync"))
    }

    @Test("the catalog has exactly one entry per JournalEvent message id")
    func catalogMatchesCode() throws {
        let catalog = try String(contentsOfFile: catalogPath, encoding: .utf8)
        let ids = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(ids.sorted() == JournalEvent.allCases.map(\.messageID).sorted())
    }

    @Test("the catalog only uses @FIELDS@ the journal handler writes")
    func catalogFields() throws {
        let catalog = try String(contentsOfFile: catalogPath, encoding: .utf8)
        let parts = catalog.split(separator: "@", omittingEmptySubsequences: false)
        let used = Set(stride(from: 1, to: parts.count, by: 2).map { String(parts[$0]) })
        #expect(parts.count % 2 == 1, "unbalanced @")
        #expect(!used.isEmpty)
        #expect(used.isSubset(of: Set(JournalFields.knownKeys.values)), "\(used.subtracting(JournalFields.knownKeys.values))")
    }

    @Test("journalctl compiles the catalog and lists every entry")
    func catalogCompiles() throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        try root.install(catalogPath, at: "usr/lib/systemd/catalog/flipsyncd.catalog", alsoCreating: ["var/lib/systemd/catalog"])
        let update = try runCommand("journalctl", ["--root=" + root.path, "--update-catalog"])
        #expect(update.status == 0, "\(update.stderr)")
        #expect(update.stderr.isEmpty, "\(update.stderr)")
        let list = try runCommand("journalctl", ["--root=" + root.path, "--list-catalog", "--no-pager"])
        let listed = list.stdout.split(separator: "\n").filter { $0.contains(" flipsync: ") }.map { String($0.prefix(32)) }
        #expect(listed.sorted() == JournalEvent.allCases.map(\.messageID).sorted(), "\(list.stdout)")
    }
}

import Foundation
import Testing
import FlipSyncRuntime
import FlipSyncTestKit

/// A program this package builds, beside the test bundle (`.build/debug/NAME`).
func builtProgram(_ name: String) throws -> String {
    let here = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        .deletingLastPathComponent().path
    for directory in [here, packageRoot + "/.build/debug"] where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
        return directory + "/" + name
    }
    throw CommandError.notFound("\(name) (build it first: swift build)")
}

/// `--json` on the commands that print data, and `--version` with the exact versions of the build.
@Suite("Operator kit: --json and --version", .timeLimit(.minutes(2)))
struct OperatorKitTests {
    /// The subcommands that print data; run, pause and resume act (their result is then read with
    /// `show RUN --json`, `status --json`).
    static let dataCommands = ["validate", "next", "list", "status", "runs", "show", "spend", "quota", "readiness", "nodes", "migrate-store"]

    @Test("every flipsyncctl subcommand that prints data offers --json", arguments: dataCommands)
    func jsonFlag(command: String) throws {
        let help = try runCommand(try builtProgram("flipsyncctl"), ["help", command])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("--json"), "flipsyncctl help \(command):\n\(help.stdout)")
    }

    @Test("flipsyncctl next --json prints the expression, zone, start and the fire times as JSON")
    func nextJSON() throws {
        let result = try runCommand(try builtProgram("flipsyncctl"),
                                    ["next", "*-*-* 02:30", "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z",
                                     "--count", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(object["expression"] as? String == "*-*-* 02:30")
        #expect(object["timezone"] as? String == "America/New_York")
        #expect(object["after"] as? String == "2026-03-07T12:00:00Z")
        // The README's example: 2:30 does not exist on 2026-03-08 in New York (clocks skip it).
        #expect(object["times"] as? [String] == ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
    }

    @Test("flipsyncctl validate --json lists the shipped jobs with their next run and no diagnostics")
    func validateJSON() throws {
        let result = try runCommand(try builtProgram("flipsyncctl"),
                                    ["validate", "--config", packageRoot + "/config/flipsync.toml", "--now", "2026-03-07T12:00:00Z", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        let jobs = try #require(object["jobs"] as? [[String: Any]])
        let files = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/jobs").filter { $0.hasSuffix(".toml") }
        #expect(jobs.count == files.count)
        #expect(jobs.allSatisfy { ($0["next_run"] as? String)?.hasSuffix("Z") == true && $0["kind"] is String })
        #expect(object["errors"] as? Int == 0)
        #expect((object["diagnostics"] as? [Any])?.isEmpty == true)
    }

    /// Package.resolved is written by `swift build` (it is not in git): the versions a binary
    /// prints must be the ones it was built from.
    @Test("BuildInfo.packages is Package.resolved, and Package.swift pins each direct dependency exactly at its resolved version")
    func packagesMatchResolved() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Package.resolved"))
        let pins = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["pins"] as? [[String: Any]])
        let resolved = pins.compactMap { pin -> ResolvedPackage? in
            guard let identity = pin["identity"] as? String, let state = pin["state"] as? [String: Any] else { return nil }
            return ResolvedPackage(identity: identity, version: state["version"] as? String ?? state["branch"] as? String ?? "unversioned")
        }
        #expect(resolved.count == pins.count)
        #expect(BuildInfo.packages.sorted { $0.identity < $1.identity } == resolved.sorted { $0.identity < $1.identity },
                "Sources/FlipSyncRuntime/PackageVersions.swift is stale: run scripts/package-versions")

        // Every direct dependency: .package(url: "https://…/NAME", exact: "X.Y.Z"), and X.Y.Z is what resolved.
        let manifest = try String(contentsOfFile: packageRoot + "/Package.swift", encoding: .utf8)
        let lines = manifest.split(separator: "\n").filter { $0.contains(".package(url:") }
        #expect(lines.count >= 5)
        for line in lines {
            let quoted = line.split(separator: "\"", omittingEmptySubsequences: false).map(String.init)
            #expect(quoted.count == 5 && line.contains("exact: \""), "not pinned with exact: \(line)")
            guard quoted.count == 5 else { continue }
            var identity = quoted[1].split(separator: "/").last.map(String.init)?.lowercased() ?? ""
            if identity.hasSuffix(".git") { identity.removeLast(4) }
            #expect(resolved.first { $0.identity == identity }?.version == quoted[3], "\(identity): Package.swift says \(quoted[3])")
        }
    }

    @Test("flipsyncd --version and flipsyncctl --version print FlipSync's version and every resolved package")
    func versionOutput() throws {
        for program in ["flipsyncd", "flipsyncctl"] {
            let result = try runCommand(try builtProgram(program), ["--version"])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "\(program) \(BuildInfo.version)")
            #expect(lines.count == BuildInfo.packages.count + 1)
            for package in BuildInfo.packages {
                #expect(lines.contains("\(package.identity) \(package.version)"), "\(package.identity)")
            }
            #expect(lines.contains { $0 == "swift-argument-parser 1.8.2" })
        }
    }

    /// The pages are generated once and committed (scripts/man-pages; `--check` compares them
    /// exactly). This catches a page left behind by a new subcommand or option without the tool.
    @Test("man/flipsyncctl.1 documents every subcommand and option flipsyncctl has")
    func manPageCurrent() throws {
        let dump = try runCommand(try builtProgram("flipsyncctl"), ["--experimental-dump-help"])
        #expect(dump.status == 0, "\(dump.stderr)")
        let root = try #require((try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])?["command"] as? [String: Any])
        let page = try String(contentsOfFile: packageRoot + "/man/flipsyncctl.1", encoding: .utf8)
        let subcommands = try #require(root["subcommands"] as? [[String: Any]])
        #expect(subcommands.count >= OperatorKitTests.dataCommands.count)
        for command in subcommands {
            let name = try #require(command["commandName"] as? String)
            #expect(page.contains(".It Em \(name)\n"),
                    "man/flipsyncctl.1 lacks the subcommand \(name): run scripts/man-pages")
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                for spelling in argument["names"] as? [[String: Any]] ?? [] where spelling["kind"] as? String == "long" {
                    let option = try #require(spelling["name"] as? String)
                    #expect(page.contains("Fl -\(option)"), "man/flipsyncctl.1 lacks \(name) --\(option): run scripts/man-pages")
                }
            }
        }
        for page in ["flipsyncd.8", "flipsync.toml.5"] {
            #expect(FileManager.default.fileExists(atPath: packageRoot + "/man/" + page), "\(page)")
        }
    }

    @Test("flipsyncctl --generate-completion-script writes a bash, zsh and fish completion naming the subcommands",
          arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let result = try runCommand(try builtProgram("flipsyncctl"), ["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("flipsyncctl") && result.stdout.contains("readiness") && result.stdout.contains("validate"))
    }
}

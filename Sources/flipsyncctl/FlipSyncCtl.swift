import ArgumentParser
import FlipSyncCore
import FlipSyncRuntime
#if canImport(Glibc)
import Glibc
#endif

@main
struct FlipSyncCtl: AsyncParsableCommand {
    /// Malloc's arenas capped first (`ProcessMemory`: `run --local` sweeps in this process), then
    /// ArgumentParser's own entry point.
    static func main() async {
        ProcessMemory.capMallocArenas()
        await main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "flipsyncctl",
        abstract: "Operate FlipSync: check job files, preview schedules, control the daemon, read the run ledger.",
        discussion: """
            Job files live in the jobs directory named by the config file (default \
            config/flipsync.toml). Errors are printed as PATH:LINE: error: MESSAGE.
            """,
        version: BuildInfo.versionText(program: "flipsyncctl"),
        subcommands: [ValidateCommand.self, NextCommand.self, ListCommand.self, StatusCommand.self, RunCommand.self,
                      PauseCommand.self, ResumeCommand.self, RunsCommand.self, ShowCommand.self,
                      SpendCommand.self, QuotaCommand.self, ReadinessCommand.self, ReportCommand.self,
                      NodesCommand.self, MigrateStoreCommand.self]
    )
}

/// The zone of this process: `$TZ` if it names a zone, else `/etc/localtime`, else UTC.
func systemZone() -> ZoneRules {
    if var tz = FileSystem.environment("TZ") {
        if tz.hasPrefix(":") { tz.removeFirst() }
        if let zone = try? ZoneRules.named(tz) { return zone }
    }
    if let target = SystemZone.localtimeTarget(), let zone = try? ZoneRules.named(target) { return zone }
    return .utc
}

func printError(_ message: String) {
    fflush(nil)  // keep stdout and stderr in order when both go to one place
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileSystem.writeToStandardError(string)
    }
}

/// `2026-11-26 02:03:12 EST`
func localDescription(_ instant: Timestamp, in zone: ZoneRules) -> String {
    let type = zone.type(at: instant.secondsSinceEpoch)
    return zone.localDateTime(at: instant.secondsSinceEpoch).iso8601.replacingFirst("T", with: " ") + " " + type.abbreviation
}

extension String {
    func replacingFirst(_ target: Character, with replacement: String) -> String {
        guard let found = firstIndex(of: target) else { return self }
        return String(self[..<found]) + replacement + String(self[self.index(after: found)...])
    }
}

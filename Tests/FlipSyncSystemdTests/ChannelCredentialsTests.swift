import Foundation
import Logging
import Synchronization
import Testing
import FlipSyncCore
import FlipSyncRuntime
import FlipSyncTestKit
@testable import FlipSyncSystemd

/// The daemon's channels built from the shipped config with only some credentials present, read
/// the way the daemon reads them (`Runtime.credentials`): a seller without an Amazon account
/// still gets eBay and Shopify, and Amazon is unavailable with a reason naming the missing file.
@Suite("Channel credentials", .timeLimit(.minutes(2)))
struct ChannelCredentialsTests {
    @Test("a channel whose credential file is absent is unavailable, saying which; the others are built from flipsync_NAME and NAME files")
    func missingCredentialMakesOneChannelUnavailable() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let credentials = scratch.path + "/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let secrets = ["ebay-client-id": "it-ebay-id-TOPSECRET1", "ebay-client-secret": "it-ebay-secret-TOPSECRET2",
                       "ebay-refresh-token": "it-ebay-refresh-TOPSECRET3", "shopify-access-token": "it-shpat-TOPSECRET4"]
        for (name, value) in secrets {
            // Both forms at once: eBay's as LoadCredential=flipsync:DIR hands them over, Shopify's plain.
            let file = name.hasPrefix("ebay") ? Credentials.directoryPrefix + name : name
            try scratch.write("credentials/" + file, value + "\n", mode: 0o600)
        }

        let log = DiagnosticLog()
        var config = try #require(FlipSyncConfig.load(path: packageRoot + "/config/flipsync.toml",
                                                      environment: .init(workingDirectory: packageRoot), log: log), "\(log.entries)")
        config.credentialsDirectory = credentials
        config.databasePath = scratch.path + "/ledger.sqlite"
        let messages = CapturedLog()
        let logger = Logger(label: "test") { _ in messages }
        let runtime = try Runtime.open(config: config, jobs: [], clock: ManualClock(Timestamp(secondsSinceEpoch: 1_790_000_000)),
                                       logger: logger)

        #expect(Set(runtime.services.marketplaces.keys) == [.ebay, .shopify])
        let reason = try #require(runtime.services.unavailable[.amazon])
        #expect(reason.contains("amazon-lwa-client-id") && reason.contains("not provided"), "\(reason)")
        #expect(reason.contains("/etc/flipsync/credentials/amazon-lwa-client-id"), "\(reason)")
        #expect(runtime.services.unavailable.count == 1, "\(runtime.services.unavailable)")
        // The journal line an operator sees, and nothing secret anywhere in the log.
        let lines = messages.lines
        #expect(lines.contains { $0.hasPrefix("marketplace amazon is unavailable: credential \"amazon-lwa-client-id\"") }, "\(lines)")
        for value in secrets.values { #expect(!lines.joined(separator: "\n").contains(value)) }
        #expect(!reason.contains("TOPSECRET"))
    }
}

/// Collects every message logged, for assertions.
final class CapturedLog: LogHandler, @unchecked Sendable {
    private let storage = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    var lines: [String] { storage.withLock { $0 } }
    func log(event: LogEvent) {
        storage.withLock { $0.append("\(event.message)") }
    }
}

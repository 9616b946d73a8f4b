import FlipSyncTestKit
import Foundation
import GRDB
import Testing

/// The built flipsyncctl.
private let flipsyncctlPath = packageRoot + "/.build/debug/flipsyncctl"

/// `flipsyncctl run JOB --local --sandbox --sandbox-seed N --sandbox-listings N`: the in-process
/// sandbox's catalog chosen on the command line (what `scripts/pricing-oracle` sweeps).
@Suite("flipsyncctl run --sandbox-seed and --sandbox-listings", .timeLimit(.minutes(3)))
struct RunSandboxOptionsTests {
    private func run(_ arguments: [String]) throws -> ProgramRun { try runProgram(flipsyncctlPath, arguments) }

    /// The shipped config in a scratch directory, its ledger there too, and one small dry-run sweep job.
    private func scratchConfig() throws -> String {
        let directory = TestScratch.directory("run-sandbox")
        try FileManager.default.copyItem(atPath: packageRoot + "/config", toPath: directory + "/config")
        try FileManager.default.createDirectory(atPath: directory + "/jobs", withIntermediateDirectories: false)
        let path = directory + "/config/flipsync.toml"
        let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("database =") ? "database = \"\(directory)/ledger.sqlite\"" : String($0) }.joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try """
            name = "tiny-sweep"
            kind = "repricing-sweep"
            schedule = "*-*-* 02:00:00"
            timeout = "5m"

            [params]
            marketplaces = ["ebay"]
            cost_source = "shopify"
            dry_run = true
            """.write(toFile: directory + "/jobs/tiny-sweep.toml", atomically: true, encoding: .utf8)
        return path
    }

    /// The sweep's decisions as (SKU, today's price), from `show 1 --json`.
    private func sweep(seed: Int, listings: Int) throws -> [String: Int64] {
        let config = try scratchConfig()
        let result = try run(["run", "tiny-sweep", "--local", "--sandbox", "--sandbox-seed", "\(seed)", "--sandbox-listings", "\(listings)",
                              "--config", config])
        #expect(result.status == 0, "\(result.stdout.suffix(800)) \(result.stderr.suffix(800))")
        let shown = try run(["show", "1", "--json", "--config", config])
        #expect(shown.status == 0, "\(shown.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let decisions = json?["decisions"] as? [[String: Any]] ?? []
        var prices: [String: Int64] = [:]
        for decision in decisions {
            if let sku = decision["sku"] as? String, let micros = decision["oldPriceMicros"] as? Int64 { prices[sku] = micros }
        }
        return prices
    }

    @Test("the seed and the catalog's size reach the sandbox: the same seed gives the same listings, another seed others")
    func seedAndSize() throws {
        try #require(FileManager.default.isExecutableFile(atPath: flipsyncctlPath), "build first: swift build")
        let first = try sweep(seed: 5, listings: 20)
        #expect(!first.isEmpty && first.count <= 20, "\(first.count) eBay listings from a catalog of 20")
        #expect(try sweep(seed: 5, listings: 20) == first)
        let other = try sweep(seed: 6, listings: 20)
        #expect(!other.isEmpty && other != first)
    }

    @Test("run --local gives back the quota's calls counted ahead when it ends: the ledger's eBay Browse and getOffers counts equal the calls their spend rows record")
    func quotaCountsTheCallsMade() throws {
        try #require(FileManager.default.isExecutableFile(atPath: flipsyncctlPath), "build first: swift build")
        let config = try scratchConfig()
        let result = try run(["run", "tiny-sweep", "--local", "--sandbox", "--sandbox-seed", "9", "--sandbox-listings", "60",
                              "--config", config])
        #expect(result.status == 0, "\(result.stdout.suffix(800)) \(result.stderr.suffix(800))")
        let ledger = try DatabaseQueue(path: URL(fileURLWithPath: config).deletingLastPathComponent().deletingLastPathComponent().path
                                       + "/ledger.sqlite")
        for (api, operation) in [("browse", "browse.item_summary.search"), ("inventory.offer.get_offers", "inventory.offer.get_offers")] {
            let (used, calls) = try ledger.read { db in
                (try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(used), 0) FROM quota WHERE provider = 'ebay' AND api = ?", arguments: [api]) ?? -1,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spend WHERE provider = 'ebay' AND operation = ?", arguments: [operation]) ?? -1)
            }
            #expect(calls > 0 && used == calls, "ebay/\(api): used \(used), calls \(calls)")
        }
    }

    @Test("the options are refused without --sandbox, and a size outside 1 to 1000000")
    func refused() throws {
        try #require(FileManager.default.isExecutableFile(atPath: flipsyncctlPath), "build first: swift build")
        let alone = try run(["run", "tiny-sweep", "--local", "--sandbox-seed", "3"])
        #expect(alone.status != 0 && alone.stderr.contains("--sandbox-seed and --sandbox-listings work with --sandbox only"), "\(alone.stderr)")
        for size in ["0", "1000001"] {
            let outside = try run(["run", "tiny-sweep", "--local", "--sandbox", "--sandbox-listings", size])
            #expect(outside.status != 0 && outside.stderr.contains("--sandbox-listings must be 1…1000000"), "\(outside.stderr)")
        }
    }
}

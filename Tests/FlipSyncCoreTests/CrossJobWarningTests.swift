import Testing
@testable import FlipSyncCore

/// A marketplace-sync job pushing prices onto a marketplace that an enabled repricing-sweep job
/// reprices: a warning at the sync job's line, both jobs still loaded.
@Suite("Job files: cross-job warnings", .timeLimit(.minutes(1)))
struct CrossJobWarningTests {
    static func sync(pushPrice: Bool, extra: String = "") -> String {
        """
        name = "sync"
        kind = "marketplace-sync"
        schedule = "*:0/10"
        [params]
        marketplaces = ["ebay", "amazon", "shopify"]
        push_price = \(pushPrice)
        price_source = "shopify"
        \(extra)
        """
    }

    static func sweep(_ marketplaces: String, enabled: Bool = true) -> String {
        """
        name = "reprice"
        kind = "repricing-sweep"
        schedule = "*-*-* 02:00:00"
        enabled = \(enabled)
        [params]
        marketplaces = [\(marketplaces)]
        """
    }

    func load(sync: String, sweep: String) -> (jobs: [String], diagnostics: [Diagnostic], syncFile: String, sweepFile: String) {
        let scratch = Scratch()
        let syncFile = scratch.write("sync.toml", sync)
        let sweepFile = scratch.write("reprice.toml", sweep)
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        return (catalog.jobs.map(\.name), diagnostics, syncFile, sweepFile)
    }

    @Test("push_price onto eBay and Amazon while an enabled sweep reprices them: one warning naming both jobs and the marketplaces, no error, both jobs loaded")
    func warned() {
        let loaded = load(sync: Self.sync(pushPrice: true), sweep: Self.sweep("\"ebay\", \"amazon\""))
        #expect(loaded.jobs == ["reprice", "sync"])
        #expect(loaded.diagnostics.map(\.description) == [
            "\(loaded.syncFile):1: warning: job \"sync\" pushes shopify's prices (params.push_price) to amazon, ebay, which job \"reprice\" "
                + "(\(loaded.sweepFile):1) reprices: each sync undoes the sweep's prices; set push_price = false or leave those marketplaces to one job",
        ])
    }

    @Test("no warning when push_price is off, the sweep is disabled or dry-run, the sync is dry-run, or the sweep reprices only price_source")
    func notWarned() {
        #expect(load(sync: Self.sync(pushPrice: false), sweep: Self.sweep("\"ebay\"")).diagnostics.isEmpty)
        #expect(load(sync: Self.sync(pushPrice: true), sweep: Self.sweep("\"ebay\"", enabled: false)).diagnostics.isEmpty)
        #expect(load(sync: Self.sync(pushPrice: true), sweep: Self.sweep("\"ebay\"") + "\ndry_run = true").diagnostics.isEmpty)
        #expect(load(sync: Self.sync(pushPrice: true, extra: "dry_run = true"), sweep: Self.sweep("\"ebay\"")).diagnostics.isEmpty)
        #expect(load(sync: Self.sync(pushPrice: true), sweep: Self.sweep("\"shopify\"")).diagnostics.isEmpty,
                "the sweep's own prices are the ones copied")
    }
}

import Foundation
import Testing
@testable import FlipSyncCore
import FlipSyncTestKit

/// A scratch directory with real files, removed when the value goes away.
final class Scratch {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o644) -> String {
        let file = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        return file
    }
}

let testDefaults = JobDefaults(timezone: .utc, currency: .usd,
                               configuredMarketplaces: [.ebay, .amazon, .shopify], configFile: "config/flipsync.toml")
let validationNow = Timestamp(parsing: "2026-11-25T12:00:00Z")!

/// Loads one job file written from `text`; returns the jobs and the diagnostics as "LINE: message".
func check(_ text: String, defaults: JobDefaults = testDefaults) -> ([JobDefinition], [String]) {
    let scratch = Scratch()
    let file = scratch.write("job.toml", text)
    let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: defaults, now: validationNow)
    for d in diagnostics { #expect(d.file == file) }
    return (catalog.jobs, diagnostics.map { "\($0.line): \($0.message)" })
}

let minimalRepricing = """
    name = "reprice"
    kind = "repricing-sweep"
    schedule = "*-*-* 02:00:00"
    [params]
    marketplaces = ["ebay"]
    """

@Suite("Job files: validation", .timeLimit(.minutes(2)))
struct JobValidationTests {
    @Test("a minimal job takes the documented defaults")
    func defaults() throws {
        let (jobs, errors) = check(minimalRepricing)
        #expect(errors.isEmpty)
        let job = try #require(jobs.first)
        #expect(job.enabled && job.overlap == .skip && job.catchUp == .latest && job.concurrency == 8)
        #expect(job.timeout == .seconds(3600) && job.retry == .default && job.jitter == .zero && job.budget == nil)
        guard case .repricingSweep(let p) = job.parameters else { Issue.record("wrong kind"); return }
        #expect(p.strategy == .beatLowest && p.maxChange == Percent(partsPerMillion: 100_000) && !p.dryRun)
        #expect(job.nextFire(after: validationNow) == Timestamp(parsing: "2026-11-26T02:00:00Z"))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var text: String
        var expected: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown key with a did-you-mean", text: minimalRepricing + "\n" + """
            [retry]
            attempts = 3
            max_bakoff = "1m"
            """, expected: ["8: unknown key \"max_bakoff\" in [retry]; did you mean \"max_backoff\"?"]),
        Case(name: "top-level typo", text: minimalRepricing.replacingOccurrences(of: "kind =", with: "timout = \"5m\"\nkind ="),
             expected: ["2: unknown key \"timout\"; did you mean \"timeout\"?"]),
        Case(name: "wrong type", text: minimalRepricing + "\nconcurrency = \"16\"",
             expected: ["6: unknown key \"concurrency\" in [params]"]),
        Case(name: "wrong type at the top level", text: "concurrency = \"16\"\n" + minimalRepricing,
             expected: ["1: \"concurrency\" must be an integer, found a string"]),
        Case(name: "out of range", text: "concurrency = 0\n" + minimalRepricing,
             expected: ["1: \"concurrency\" is 0; allowed: 1…1024"]),
        Case(name: "bad duration", text: "timeout = \"45 minutos\"\n" + minimalRepricing,
             expected: ["1: \"timeout\": expected a duration like \"45m\", \"2s\", \"1h30m\" or \"500ms\", found \"45 minutos\""]),
        Case(name: "bad money", text: "budget = \"0.50 DOLLARS\"\n" + minimalRepricing,
             expected: ["1: \"budget\": unknown currency \"DOLLARS\" in \"0.50 DOLLARS\" (use an ISO 4217 code such as USD, EUR, GBP)"]),
        Case(name: "money in another currency", text: "budget = \"0.50 EUR\"\n" + minimalRepricing,
             expected: ["1: \"budget\" is in EUR but the config's currency is USD"]),
        Case(name: "bad percentage", text: minimalRepricing + "\nundercut = \"one percent\"",
             expected: ["6: \"params.undercut\": expected a percentage like \"1%\" or an amount like \"0.25 USD\", found \"one percent\""]),
        Case(name: "bad time zone with a suggestion", text: "timezone = \"America/New_Yrok\"\n" + minimalRepricing,
             expected: ["1: \"timezone\": unknown time zone \"America/New_Yrok\" (use an IANA name such as \"America/New_York\"); did you mean \"America/New_York\"?"]),
        Case(name: "impossible cron", text: minimalRepricing.replacingOccurrences(of: "\"*-*-* 02:00:00\"", with: "\"0 2 30 2 *\""),
             expected: ["3: schedule \"0 2 30 2 *\": day-of-month 30 never occurs in the months given, so it never fires"]),
        Case(name: "OnCalendar that never fires", text: minimalRepricing.replacingOccurrences(of: "\"*-*-* 02:00:00\"", with: "[\"daily\", \"*-02-30\"]"),
             expected: ["3: schedule \"*-02-30\" never fires after 2026-11-25T12:00:00Z"]),
        Case(name: "missing required keys", text: "description = \"nothing\"\n",
             expected: ["1: missing required key \"name\"", "1: missing required key \"kind\"", "1: missing required key \"schedule\""]),
        Case(name: "unknown kind", text: minimalRepricing.replacingOccurrences(of: "repricing-sweep", with: "repricing-sweeps"),
             expected: ["2: \"kind\" is \"repricing-sweeps\"; expected one of: repricing-sweep, marketplace-sync, shipping-arbitrage, readiness-scan; did you mean \"repricing-sweep\"?"]),
        Case(name: "bad job name", text: minimalRepricing.replacingOccurrences(of: "\"reprice\"", with: "\"Nightly Reprice\""),
             expected: ["1: job name \"Nightly Reprice\" is not valid: use [a-z0-9-], 1 to 64 characters, starting with a letter or digit"]),
        Case(name: "every error of a file at once", text: """
            name = "x"
            kind = "marketplace-sync"
            schedule = "*:0/10"
            timeout = "forever"
            overlap = "sometimes"
            [params]
            marketplaces = ["ebay", "etsy"]
            safty_stock = 2
            """, expected: [
                "4: \"timeout\": expected a duration like \"45m\", \"2s\", \"1h30m\" or \"500ms\", found \"forever\"",
                "5: \"overlap\" is \"sometimes\"; expected one of: skip, queue, replace",
                "7: unknown marketplace \"etsy\"; expected one of: ebay, amazon, shopify",
                "8: unknown key \"safty_stock\" in [params]; did you mean \"safety_stock\"?",
            ]),
        Case(name: "a marketplace the config does not have", text: minimalRepricing.replacingOccurrences(of: "[\"ebay\"]", with: "[\"ebay\", \"shopify\"]"),
             expected: []),
        Case(name: "match-buy-box without Amazon", text: minimalRepricing + "\nstrategy = \"match-buy-box\"",
             expected: ["6: strategy \"match-buy-box\" needs \"amazon\" among the marketplaces (only Amazon has a Buy Box)"]),
        Case(name: "max_backoff shorter than backoff", text: minimalRepricing + "\n[retry]\nbackoff = \"1m\"\nmax_backoff = \"10s\"",
             expected: ["8: \"retry.max_backoff\" (10s) is shorter than \"retry.backoff\" (1m)"]),
        Case(name: "sync needs two marketplaces", text: """
            name = "sync"
            kind = "marketplace-sync"
            schedule = "*:0/10"
            [params]
            marketplaces = ["ebay"]
            """, expected: ["5: \"params.marketplaces\" needs at least 2 marketplaces, found 1"]),
        Case(name: "readiness weights must add up to 100", text: """
            name = "ready"
            kind = "readiness-scan"
            schedule = "daily"
            [params.weights]
            infrastructure = 50
            """, expected: ["4: [params.weights] must add up to 100, they add up to 135"]),
        Case(name: "TOML syntax error names its line", text: "name = \"x\"\nkind = \"readiness-scan\"\nschedule = \"daily\nenabled = true\n",
             expected: ["3: unterminated string"]),
    ]

    @Test(arguments: cases)
    func reportsEveryProblemAtItsLine(_ c: Case) {
        let (_, errors) = check(c.text)
        if c.name == "TOML syntax error names its line" {
            // The parser's exact wording is its own; the line is the contract.
            #expect(errors.count == 1 && errors.first?.hasPrefix("3: ") == true, "\(errors)")
        } else {
            #expect(errors == c.expected)
        }
    }

    @Test("a marketplace missing from the config is an error naming the config file")
    func unconfiguredMarketplace() {
        var defaults = testDefaults
        defaults.configuredMarketplaces = [.ebay]
        let (_, errors) = check(minimalRepricing.replacingOccurrences(of: "[\"ebay\"]", with: "[\"ebay\",\n \"amazon\"]"), defaults: defaults)
        #expect(errors == ["6: marketplace \"amazon\" is not configured in config/flipsync.toml (add [marketplaces.amazon])"])
    }

    @Test("duplicate job names: the second file is the error, naming the first")
    func duplicateNames() {
        let scratch = Scratch()
        let a = scratch.write("a.toml", minimalRepricing)
        scratch.write("b.toml", "# again\n" + minimalRepricing)
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.count == 1)
        #expect(diagnostics.map(\.description) == ["\(scratch.path)/b.toml:2: error: job name \"reprice\" is already used by \(a):1"])
    }

    @Test("one bad file does not stop the others")
    func badFileIsolated() {
        let scratch = Scratch()
        scratch.write("good.toml", minimalRepricing)
        scratch.write("bad.toml", "name = \n")
        scratch.write("notes.txt", "not a job")
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.map(\.name) == ["reprice"])
        #expect(diagnostics.count == 1 && diagnostics[0].file.hasSuffix("bad.toml"))
    }

    @Test("files other users may write are refused")
    func worldWritable() {
        let scratch = Scratch()
        let file = scratch.write("job.toml", minimalRepricing, mode: 0o666)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.first?.message == "file is writable by other users; refusing it (fix with: chmod o-w \(file))")
    }

    @Test("oversized files are refused before parsing")
    func oversized() {
        let scratch = Scratch()
        let file = scratch.write("job.toml", minimalRepricing + "\n#" + String(repeating: "x", count: 300_000))
        let (_, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: validationNow)
        #expect(diagnostics.first?.message == "file is larger than 256 KiB; job and config files are small, refusing it")
    }

    @Test("jitter is a fixed, per-job offset below the jitter span")
    func jitter() throws {
        let (jobs, errors) = check("jitter = \"5m\"\n" + minimalRepricing)
        #expect(errors.isEmpty)
        let job = try #require(jobs.first)
        #expect(job.fixedDelay.seconds >= 0 && job.fixedDelay.seconds < 300)
        let next = try #require(job.nextFire(after: validationNow))
        #expect(next.secondsSinceEpoch == Timestamp(parsing: "2026-11-26T02:00:00Z")!.secondsSinceEpoch + job.fixedDelay.seconds)
        // Stable: the same name always gets the same delay.
        let (again, _) = check("jitter = \"5m\"\n" + minimalRepricing)
        #expect(again.first?.fixedDelay == job.fixedDelay)
    }
}

@Suite("The shipped config and jobs", .timeLimit(.minutes(2)))
struct ShippedFilesTests {
    static let root = packageRoot

    @Test("config/flipsync.toml and every file in jobs/ validate, covering all four kinds")
    func shippedFilesValidate() throws {
        let log = DiagnosticLog()
        let environment = FlipSyncConfig.Environment(workingDirectory: Self.root)
        let config = try #require(FlipSyncConfig.load(path: Self.root + "/config/flipsync.toml", environment: environment, log: log),
                                  "\(log.entries)")
        #expect(log.entries.isEmpty)
        #expect(config.jobsDirectory == Self.root + "/jobs")
        #expect(config.databasePath == Self.root + "/var/flipsync.sqlite")
        let (catalog, diagnostics) = JobCatalog.load(paths: [config.jobsDirectory], defaults: config.jobDefaults, now: validationNow)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(Set(catalog.jobs.map(\.kind)) == Set(JobKind.allCases))
    }

    @Test("with no config file, the built-in defaults honour systemd's directories")
    func builtInDefaults() {
        let environment = FlipSyncConfig.Environment(stateDirectory: "/var/lib/flipsync", runtimeDirectory: "/run/flipsync",
                                                     workingDirectory: "/")
        let config = FlipSyncConfig.defaults(environment: environment)
        #expect(config.databasePath == "/var/lib/flipsync/flipsync.sqlite")
        #expect(config.controlSocket == "/run/flipsync/control.sock")
        #expect(config.poolSize == 64 && config.timezone === ZoneRules.utc && config.marketplaces.isEmpty)
    }

    @Test("config errors are reported at their lines")
    func configErrors() {
        let scratch = Scratch()
        let file = scratch.write("flipsync.toml", """
            [daemon]
            pool_size = 0
            timezone = "Mars/Base"
            [marketplaces.ebay]
            base_url = "http://api.ebay.com"
            credentials = { client_secret = "s3cr3t value!" }
            [marketplaces.etsy]
            base_url = "https://openapi.etsy.com"
            """)
        let log = DiagnosticLog()
        #expect(FlipSyncConfig.load(path: file, environment: .init(workingDirectory: scratch.path), log: log) == nil)
        #expect(log.entries.sorted().map { "\($0.line): \($0.message)" } == [
            "2: \"daemon.pool_size\" is 0; allowed: 1…4096",
            "3: \"daemon.timezone\": unknown time zone \"Mars/Base\"",
            "5: \"marketplaces.ebay.base_url\" must be https:// (plain http is allowed only on loopback, for the sandbox)",
            "6: \"marketplaces.ebay.credentials.client_secret\" must name a credential file ([a-z0-9._-]), not hold the secret itself",
            "7: unknown marketplace \"etsy\" in [marketplaces]; expected one of: ebay, amazon, shopify",
        ])
        // The would-be secret is never echoed back.
        #expect(!log.entries.contains { $0.message.contains("s3cr3t") })
    }
}

@Suite("Money, percentages and durations", .timeLimit(.minutes(2)))
struct ValueTests {
    @Test(arguments: [
        ("0.50 USD", 500_000, "0.50 USD"), ("USD 19.99", 19_990_000, "19.99 USD"), ("12 EUR", 12_000_000, "12.00 EUR"),
        ("0.000150 USD", 150, "0.00015 USD"), ("1,234.5 GBP", 1_234_500_000, "1234.50 GBP"), ("500 JPY", 500_000_000, "500 JPY"),
    ])
    func moneyParsesExactly(_ text: String, _ micros: Int64, _ shown: String) throws {
        let money = try Money(parsing: text)
        #expect(money.micros == micros)
        #expect(money.description == shown)
    }

    @Test(arguments: ["0.50", "0.50 XYZ", "-1 USD", "1.0000001 USD", "1.2.3 USD", "USD", ". USD"])
    func moneyRejects(_ text: String) {
        #expect(throws: ValueError.self) { try Money(parsing: text) }
    }

    @Test("percentages of money round half away from zero, exactly")
    func percentOf() throws {
        let price = try Money(parsing: "19.99 USD")
        #expect(try Percent(parsing: "15%").of(price).micros == 2_998_500)
        #expect(try Percent(parsing: "0.0001%").of(Money(parsing: "0.50 USD")).micros == 1)  // 0.5 micro rounds up
        #expect(try Percent(parsing: "13.25%").description == "13.25%")
        #expect(Money(micros: 2_998_500, currency: .usd).minorUnits == 300)
    }

    @Test("a bare number read as a percentage is what the same text with a % appended reads, accepted or refused", arguments: [
        "98.5", "100", "100.0", "0", " 99.1", "99.1 ", "\t97\t", "1,000", "1_0", "-2.5", "+3", "99.12345", "99.", ".5", "", " ",
        "98.5%", "ninety", "9 8", "98.5\u{301}", " \u{301}98", "١٢", "12345678901234", "98.5\n",
    ])
    func percentFromNumber(_ text: String) {
        let appended = Result { () throws(ValueError) -> Percent in try Percent(parsing: text + "%") }
        let bare = Result { () throws(ValueError) -> Percent in try Percent(parsingNumber: text) }
        switch (appended, bare) {
        case (.success(let a), .success(let b)): #expect(a == b)
        case (.failure, .failure): break
        default: Issue.record("\(text.debugDescription): \(appended) against \(bare)")
        }
    }

    @Test(arguments: [("45m", 2_700_000), ("2s", 2000), ("1h30m", 5_400_000), ("1h 30min", 5_400_000),
                      ("500ms", 500), ("1.5s", 1500), ("1d", 86_400_000), ("2w", 1_209_600_000), ("0", 0)] as [(String, Int64)])
    func durations(_ text: String, _ ms: Int64) throws {
        #expect(try TimeSpan(parsing: text).milliseconds == ms)
    }

    @Test(arguments: ["", "45", "5 fortnights", "1.0001s", "m5", "99999999999999d"])
    func durationsRejected(_ text: String) {
        #expect(throws: ValueError.self) { try TimeSpan(parsing: text) }
    }

    @Test("did-you-mean suggests only near misses")
    func suggestions() {
        #expect(Suggestion.closest(to: "timout", in: ["timeout", "jitter"]) == "timeout")
        #expect(Suggestion.closest(to: "tiemout", in: ["timeout"]) == "timeout")
        #expect(Suggestion.closest(to: "colour", in: ["timeout", "jitter"]) == nil)
    }
}

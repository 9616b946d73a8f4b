import FlipSyncCore
import FlipSyncMarketplaces
import Foundation
import Logging
import Testing
import FlipSyncTestKit

/// Rate-card files on disk, in a temporary directory removed afterwards.
struct RateCardDirectory {
    let path: String

    static func with<T>(_ body: (RateCardDirectory) throws -> T) throws -> T {
        let path = NSTemporaryDirectory() + "flipsync-rate-cards-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(RateCardDirectory(path: path))
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

/// A small valid card; the comments give each line's number, which the error cases below cite.
enum SampleCard {
    static let lines = [
        #"carrier = "ACME""#,                                                                                      // 1
        #"service = "Parcel""#,                                                                                    // 2
        #"currency = "USD""#,                                                                                      // 3
        #"dimensional_divisor = 166"#,                                                                             // 4
        #"dimensional_rule = "over-one-cubic-foot""#,                                                              // 5
        #"transit_days = [1, 2, 3, 4, 5, 6, 7, 8]"#,                                                               // 6
        #"ounce_breaks = ["#,                                                                                      // 7
        #"  { up_to = 8, prices = ["4.00", "4.10", "4.20", "4.30", "4.40", "4.50", "4.60", "4.705"] },"#,          // 8
        #"]"#,                                                                                                     // 9
        #"pound_breaks = ["#,                                                                                      // 10
        #"  { up_to = 1, prices = ["5.00", "5.25", "5.50", "5.75", "6.00", "6.25", "6.50", "6.75"] },"#,           // 11
        #"  { up_to = 5, prices = ["8.00", "8.40", "8.80", "9.20", "9.65", "10.00", "10.40", "10.80"] },"#,        // 12
        #"]"#,                                                                                                     // 13
        #"zones = ["#,                                                                                             // 14
        #"  { origin = "100-119", destination = "100-119", zone = 1 },"#,                                          // 15
        #"  { origin = "100-119", destination = "900-961", zone = 8 },"#,                                          // 16
        #"]"#,                                                                                                     // 17
        #"fallback_zone = 5"#,                                                                                     // 18
    ]

    static var text: String { lines.joined(separator: "\n") + "\n" }

    /// The card with line `number` (1-based) replaced.
    static func replacing(_ number: Int, with line: String) -> String {
        var lines = lines
        lines[number - 1] = line
        return lines.joined(separator: "\n") + "\n"
    }

    static func shipment(to zip: String, _ parcel: Parcel) -> Shipment {
        Shipment(from: ShippingAddress(zip: "10001"), to: ShippingAddress(zip: zip), parcel: parcel)
    }

    static func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }
}

/// The shipped example cards and config, from the repository.
enum ShippedConfig {
    static let root = URL(fileURLWithPath: packageRoot)
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

@Suite("Rate-card files", .timeLimit(.minutes(2)))
struct RateCardFileTests {
    @Test("a loaded card quotes the hand-computed price: ounces, pounds, zones from the chart and the fallback, exact to the micro")
    func goodCardQuotes() throws {
        try RateCardDirectory.with { dir in
            let file = try dir.write("acme.toml", SampleCard.text)
            let loaded = RateCardSet.load(paths: [file], currency: .usd)
            #expect(loaded.diagnostics.isEmpty)
            let card = try #require(loaded.cards.cards.first)
            #expect(card.carrier == "ACME" && card.service == "Parcel" && card.dimensionalRule == .overOneCubicFoot)
            // 10×8×4 in, 5.2 oz: under a cubic foot, so ounces: 6 oz → the 8 oz break; 941 is zone 8.
            let light = Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 52)
            let far = try #require(card.quote(SampleCard.shipment(to: "94105", light)))
            #expect(far.amount == SampleCard.usd(4_705_000))
            #expect(far.deliveryDays == 8)
            #expect(card.quote(SampleCard.shipment(to: "10010", light))?.amount == SampleCard.usd(4_000_000))
            // 2.5 lb (40 oz) → 3 lb → the 5 lb break; Chicago (606) is in no entry: the fallback, zone 5.
            let heavier = Parcel(lengthTenthsIn: 100, widthTenthsIn: 80, heightTenthsIn: 40, weightTenthsOz: 400)
            let chicago = try #require(card.quote(SampleCard.shipment(to: "60601", heavier)))
            #expect(chicago.amount == SampleCard.usd(9_650_000))
            #expect(chicago.deliveryDays == 5)
            // 6 lb is above the last break: no quote.
            #expect(card.quote(SampleCard.shipment(to: "60601", Parcel(inches: 10, 8, 4, ounces: 96))) == nil)
        }
    }

    @Test("the shipped example cards load cleanly and quote their own printed prices")
    func shippedCards() throws {
        let paths = ["config/rate-cards/usps-ground-advantage.toml", "config/rate-cards/ups-ground.toml"].map(ShippedConfig.path)
        let loaded = RateCardSet.load(paths: paths, currency: .usd)
        #expect(loaded.diagnostics.map(\.description) == [])
        #expect(loaded.cards.cards.map { "\($0.carrier) \($0.service)" } == ["USPS GroundAdvantage", "UPS Ground"])
        // 10×8×4 in, 2 lb 3 oz from New York (100) to San Francisco (941, the fallback zone 8).
        // USPS: under a cubic foot, actual weight 35 oz → 3 lb → "20.95" in zone 8.
        // UPS: the greater of 3 lb actual and 320 in³ / 139 = 2.3 → 3 lb → "21.25" in zone 8.
        let box = Shipment(from: ShippingAddress(zip: "10001"), to: ShippingAddress(zip: "94105"), parcel: Parcel(inches: 10, 8, 4, ounces: 35))
        let quotes = loaded.cards.quote(box)
        #expect(quotes.map { "\($0.carrier) \($0.amount)" } == ["USPS 20.95 USD", "UPS 21.25 USD"])
        // Across the river (ZIP3 070, zone 2): USPS's 12 oz break is "7.60"; UPS's 1 lb zone 2 is "10.85".
        let near = Shipment(from: ShippingAddress(zip: "10001"), to: ShippingAddress(zip: "07030"), parcel: Parcel(inches: 6, 4, 2, ounces: 11))
        #expect(loaded.cards.quote(near).map { "\($0.carrier) \($0.amount) \($0.deliveryDays ?? 0)d" } == ["USPS 7.60 USD 2d", "UPS 10.85 USD 1d"])
    }

    struct BadCard: Sendable, CustomTestStringConvertible {
        var name: String
        /// The card's text.
        var text: String
        /// Every diagnostic expected, as `LINE: error: MESSAGE` after the file's path.
        var expected: [String]
        var testDescription: String { name }
    }

    static func bad(_ name: String, _ text: String, _ expected: String...) -> BadCard {
        BadCard(name: name, text: text, expected: expected)
    }

    static let badCards: [BadCard] = [
        bad("a TOML syntax error", SampleCard.replacing(4, with: "dimensional_divisor = "),
            "4: error: expected a value, found end of line"),
        bad("a misspelt required key", SampleCard.replacing(4, with: "dimensional_diviser = 166"),
            "1: error: missing required key \"dimensional_divisor\"",
            "4: error: unknown key \"dimensional_diviser\"; did you mean \"dimensional_divisor\"?"),
        bad("an unknown currency", SampleCard.replacing(3, with: #"currency = "USB""#),
            "3: error: \"currency\": unknown currency \"USB\" (use an ISO 4217 code such as USD)"),
        bad("an unknown dimensional rule", SampleCard.replacing(5, with: #"dimensional_rule = "over-one-cubic-fot""#),
            "5: error: \"dimensional_rule\" is \"over-one-cubic-fot\"; expected one of: always, over-one-cubic-foot; did you mean \"over-one-cubic-foot\"?"),
        bad("transit days that are not integers", SampleCard.replacing(6, with: #"transit_days = [1, 2, 3, 4, 5, 6, 7, "8"]"#),
            "6: error: \"transit_days\" must hold integers (found: string)"),
        bad("a price written as a float", SampleCard.replacing(11, with: #"  { up_to = 1, prices = [5.00, 5.25, 5.50, 5.75, 6.00, 6.25, 6.50, 6.75] },"#),
            "11: error: \"pound_breaks[1].prices\" must hold strings, found a float"),
        bad("a price that is not a decimal", SampleCard.replacing(12, with: #"  { up_to = 5, prices = ["8.00", "8.40", "8.80", "9.2O", "9.65", "10.00", "10.40", "10.80"] },"#),
            "12: error: \"pound_breaks[2].prices\": \"9.2O\" is not a price (use a decimal string like \"5.40\", in the card's currency)"),
        bad("a price with its currency", SampleCard.replacing(8, with: #"  { up_to = 8, prices = ["4.00 USD", "4.10", "4.20", "4.30", "4.40", "4.50", "4.60", "4.70"] },"#),
            "8: error: \"ounce_breaks[1].prices\": \"4.00 USD\" is not a price (use a decimal string like \"5.40\", in the card's currency)"),
        bad("a negative price", SampleCard.replacing(8, with: #"  { up_to = 8, prices = ["-4.00", "4.10", "4.20", "4.30", "4.40", "4.50", "4.60", "4.70"] },"#),
            "8: error: \"ounce_breaks[1].prices\": \"-4.00\" is not a price (use a decimal string like \"5.40\", in the card's currency)"),
        bad("more than micro-unit precision", SampleCard.replacing(8, with: #"  { up_to = 8, prices = ["4.0000001", "4.10", "4.20", "4.30", "4.40", "4.50", "4.60", "4.70"] },"#),
            "8: error: \"ounce_breaks[1].prices\": \"4.0000001\" is not a price (use a decimal string like \"5.40\", in the card's currency)"),
        bad("a break that is not a table", SampleCard.replacing(11, with: #"  "1 lb","#),
            "11: error: \"pound_breaks[1]\" must be a table like { up_to = 1, prices = [\"5.40\", …] }, found: string"),
        bad("an unknown key in a break", SampleCard.replacing(11, with: #"  { upto = 1, prices = ["5.00", "5.25", "5.50", "5.75", "6.00", "6.25", "6.50", "6.75"] },"#),
            "11: error: missing required key \"pound_breaks[1].up_to\"",
            "11: error: unknown key \"upto\" in [pound_breaks[1]]; did you mean \"up_to\"?"),
        bad("a ZIP3 range that runs backwards", SampleCard.replacing(16, with: #"  { origin = "100-119", destination = "961-900", zone = 8 },"#),
            "16: error: \"zones[2].destination\": the range \"961-900\" runs backwards"),
        bad("a ZIP3 that is not three digits", SampleCard.replacing(15, with: #"  { origin = "10-119", destination = "100-119", zone = 1 },"#),
            "15: error: \"zones[1].origin\": expected a ZIP3 or a range of them like \"100-119\", found \"10-119\""),
        bad("zones that are not an array", (SampleCard.lines.prefix(13) + [#"zones = "all""#, "fallback_zone = 5"]).joined(separator: "\n"),
            "14: error: \"zones\" must be an array (found: string)"),
        // The card's own checks (RateCard's initializer), at the line of the part at fault.
        bad("a break with 7 prices", SampleCard.replacing(12, with: #"  { up_to = 5, prices = ["8.00", "8.40", "8.80", "9.20", "9.65", "10.00", "10.40"] },"#),
            "12: error: pound break 5 needs 8 prices, zones 1…8"),
        bad("breaks that do not increase", SampleCard.replacing(12, with: #"  { up_to = 1, prices = ["8.00", "8.40", "8.80", "9.20", "9.65", "10.00", "10.40", "10.80"] },"#),
            "12: error: pound breaks must be positive and increasing"),
        bad("a zero price", SampleCard.replacing(11, with: #"  { up_to = 1, prices = ["5.00", "0.00", "5.50", "5.75", "6.00", "6.25", "6.50", "6.75"] },"#),
            "11: error: pound break 1: every price must be positive and in USD"),
        bad("an ounce break above 16 oz", SampleCard.replacing(8, with: #"  { up_to = 17, prices = ["4.00", "4.10", "4.20", "4.30", "4.40", "4.50", "4.60", "4.70"] },"#),
            "8: error: ounce breaks go up to 16 oz (15.99 oz) at most"),
        bad("seven transit days", SampleCard.replacing(6, with: "transit_days = [1, 2, 3, 4, 5, 6, 7]"),
            "6: error: transit days must be 8 positive numbers, zones 1…8"),
        bad("a zero divisor", SampleCard.replacing(4, with: "dimensional_divisor = 0"),
            "4: error: the dimensional divisor must be positive"),
        bad("zone 9 in the chart", SampleCard.replacing(16, with: #"  { origin = "100-119", destination = "900-961", zone = 9 },"#),
            "16: error: zones are numbered 1…8"),
        bad("fallback zone 0", SampleCard.replacing(18, with: "fallback_zone = 0"),
            "18: error: zones are numbered 1…8"),
        bad("a card priced in another currency than the config's", SampleCard.replacing(3, with: #"currency = "EUR""#),
            "3: error: the card is priced in EUR but the config's currency is USD"),
    ]

    @Test("every mistake is reported once, as file:line, and the card is left out", arguments: badCards)
    func badCard(_ bad: BadCard) throws {
        try RateCardDirectory.with { dir in
            let file = try dir.write("bad.toml", bad.text)
            let loaded = RateCardSet.load(paths: [file], currency: .usd)
            #expect(loaded.diagnostics.map(\.description) == bad.expected.map { "\(file):\($0)" })
            #expect(loaded.cards.cards.isEmpty)
        }
    }

    @Test("a misspelt key is also named, with a suggestion, at its own line")
    func misspeltKeySuggests() throws {
        try RateCardDirectory.with { dir in
            let file = try dir.write("bad.toml", SampleCard.replacing(18, with: "fallback_zon = 5"))
            let loaded = RateCardSet.load(paths: [file], currency: .usd)
            #expect(loaded.diagnostics.map(\.description) == ["\(file):18: error: unknown key \"fallback_zon\"; did you mean \"fallback_zone\"?"])
        }
    }

    @Test("a bad card, a missing file and a duplicate are each reported; the good cards still load")
    func badCardsDoNotBreakTheOthers() throws {
        try RateCardDirectory.with { dir in
            let good = try dir.write("good.toml", SampleCard.text)
            let again = try dir.write("again.toml", SampleCard.text)
            let bad = try dir.write("bad.toml", SampleCard.replacing(6, with: "transit_days = [1, 2]"))
            let other = try dir.write("other.toml", SampleCard.replacing(2, with: #"service = "Express""#))
            let missing = dir.path + "/missing.toml"
            let loaded = RateCardSet.load(paths: [good, bad, missing, again, other], currency: .usd)
            #expect(loaded.cards.cards.map(\.service) == ["Parcel", "Express"])
            #expect(loaded.diagnostics.map(\.description).sorted() == [
                "\(again):2: error: ACME Parcel already has a rate card, in \(good)",
                "\(bad):6: error: transit days must be 8 positive numbers, zones 1…8",
                "\(missing):1: error: cannot read: No such file or directory",
            ].sorted())
        }
    }
}

@Suite("Rate cards in the daemon config", .timeLimit(.minutes(2)))
struct RateCardConfigTests {
    static func config(_ dir: RateCardDirectory, rateCards: String) throws -> String {
        try dir.write("flipsync.toml", """
            [daemon]
            jobs_directory = "jobs"
            currency = "USD"
            \(rateCards)
            """)
    }

    static func services(_ config: FlipSyncConfig) -> WorkflowServices {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return ChannelFactory.services(config: config, secret: { _ in SecretText("") },
                                         transport: URLSessionTransport(allowList: ChannelFactory.allowList(config)),
                                         recorder: InMemorySpendRecorder(), rateLimiters: RateLimiters(clock: SystemSchedulerClock()),
                                         clock: SystemSchedulerClock(), logger: logger)
    }

    @Test("daemon.rate_cards paths are relative to the config's directory, and the channels quote from them as \"rate-cards\"")
    func configuredCardsAreWired() throws {
        try RateCardDirectory.with { dir in
            try dir.write("cards/acme.toml", SampleCard.text)
            let path = try Self.config(dir, rateCards: #"rate_cards = ["cards/acme.toml"]"#)
            let loaded = ConfigLocator.load(explicit: path, environment: .init(workingDirectory: "/"))
            #expect(loaded.diagnostics.isEmpty)
            #expect(loaded.config.rateCards == [dir.path + "/cards/acme.toml"])
            let shopper = try #require(Self.services(loaded.config).rateShoppers["rate-cards"])
            #expect(shopper.kind == .rateCards)
            #expect(shopper.name == "rate-cards")
        }
    }

    @Test("without rate_cards no rate-cards shopper is registered; a config with only bad cards registers none either")
    func noCardsNoShopper() throws {
        try RateCardDirectory.with { dir in
            let none = ConfigLocator.load(explicit: try Self.config(dir, rateCards: ""), environment: .init(workingDirectory: "/"))
            #expect(none.config.rateCards.isEmpty)
            #expect(Self.services(none.config).rateShoppers["rate-cards"] == nil)
            try dir.write("bad.toml", SampleCard.replacing(4, with: "dimensional_divisor = 0"))
            let bad = ConfigLocator.load(explicit: try Self.config(dir, rateCards: #"rate_cards = ["bad.toml"]"#),
                                         environment: .init(workingDirectory: "/"))
            #expect(Self.services(bad.config).rateShoppers["rate-cards"] == nil)
        }
    }

    @Test("rate_cards of the wrong type is a config error at its line")
    func wrongType() throws {
        try RateCardDirectory.with { dir in
            let path = try Self.config(dir, rateCards: "rate_cards = 3")
            let loaded = ConfigLocator.load(explicit: path, environment: .init(workingDirectory: "/"))
            #expect(loaded.diagnostics.map(\.description)
                    == ["\(path):4: error: \"daemon.rate_cards\" must be a string or an array of strings, found an integer"])
        }
    }

    @Test("validate's view: a bad card is an error at its file:line, while the config itself stays valid for the daemon")
    func validateReportsCardErrors() throws {
        try RateCardDirectory.with { dir in
            try dir.write("jobs/README", "no jobs")
            try dir.write("good.toml", SampleCard.text)
            let bad = try dir.write("bad.toml", SampleCard.replacing(12, with: #"  { up_to = 5, prices = ["8.00"] },"#))
            let path = try Self.config(dir, rateCards: #"rate_cards = ["good.toml", "bad.toml"]"#)
            let setup = DaemonSetup(configPath: path, environment: .init(workingDirectory: "/")).load(now: Timestamp(milliseconds: 0))
            #expect(setup.configIsValid)
            #expect(setup.errors.isEmpty)
            // What `flipsyncctl validate` adds to the config's diagnostics.
            let cards = RateCardSet.load(setup.config)
            #expect(cards.diagnostics.map(\.description) == ["\(bad):12: error: pound break 5 needs 8 prices, zones 1…8"])
            #expect(cards.cards.cards.count == 1)
        }
    }

    @Test("config/production.example.toml names the shipped cards, and they load")
    func productionExample() {
        let loaded = ConfigLocator.load(explicit: ShippedConfig.path("config/production.example.toml"), environment: .init(workingDirectory: "/"))
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.config.rateCards.map { ($0 as NSString).lastPathComponent } == ["usps-ground-advantage.toml", "ups-ground.toml"])
        let cards = RateCardSet.load(loaded.config)
        #expect(cards.diagnostics.isEmpty)
        #expect(cards.cards.cards.count == 2)
    }
}

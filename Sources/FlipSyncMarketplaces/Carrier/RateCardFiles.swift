import FlipSyncCore

extension RateCard {
    /// The card a rate-card file describes; the card's own checks fail with the part at fault
    /// (`RateCardError.part`), which `RateCardSet.load` reports at that part's line.
    public init(_ file: RateCardFile) throws(RateCardError) {
        try self.init(carrier: file.carrier.value, service: file.service.value,
                      zones: ZoneChart(entries: file.zones.map { ZoneChart.Entry(origin: $0.origin, destination: $0.destination, zone: $0.zone) },
                                       fallbackZone: file.fallbackZone?.value),
                      dimensionalDivisor: file.dimensionalDivisor.value, dimensionalRule: file.dimensionalRule.value,
                      ounceBreaks: file.ounceBreaks.map { WeightBreak(upTo: $0.upTo, prices: $0.prices) },
                      poundBreaks: file.poundBreaks.map { WeightBreak(upTo: $0.upTo, prices: $0.prices) },
                      transitDays: file.transitDays.value)
    }
}

extension RateCardSet {
    /// The cards that loaded and every problem of every file, as `file:line` diagnostics.
    public struct Loaded: Sendable {
        public var cards: RateCardSet
        public var diagnostics: [Diagnostic]
    }

    /// Reads the rate-card files the config names (`daemon.rate_cards`), in order. A file with
    /// any problem — unreadable, malformed, a card that fails its own checks, priced in another
    /// currency than the config's, or a carrier service another file already has — is reported
    /// and left out; the others load.
    public static func load(_ config: FlipSyncConfig) -> Loaded {
        load(paths: config.rateCards, currency: config.currency)
    }

    /// Reads rate-card files (see `RateCardFile` for the format); quotes are compared in
    /// `currency`, so every card must be priced in it.
    public static func load(paths: [String], currency: Currency) -> Loaded {
        let log = DiagnosticLog()
        var cards: [RateCard] = []
        var seen: [String: String] = [:]  // "carrier service" → the file that has it
        for path in paths {
            guard let file = RateCardFile.read(path: path, log: log) else { continue }
            guard file.currency.value == currency else {
                log.error(path, file.currency.line, "the card is priced in \(file.currency.value) but the config's currency is \(currency)")
                continue
            }
            let card: RateCard
            do {
                card = try RateCard(file)
            } catch {
                log.error(path, file.line(of: error.part), error.problem)
                continue
            }
            let name = "\(card.carrier) \(card.service)"
            if let other = seen[name] {
                log.error(path, file.service.line, "\(name) already has a rate card, in \(other)")
                continue
            }
            seen[name] = path
            cards.append(card)
        }
        return Loaded(cards: RateCardSet(cards), diagnostics: log.entries.sorted())
    }
}

extension RateCardFile {
    /// The line that wrote `part`.
    func line(of part: RateCardError.Part) -> Int {
        switch part {
        case .card: return carrier.line
        case .dimensionalDivisor: return dimensionalDivisor.line
        case .transitDays: return transitDays.line
        case .ounceBreak(let index): return ounceBreaks[index].line
        case .poundBreak(let index): return poundBreaks[index].line
        case .zoneEntry(let index): return zones[index].line
        case .fallbackZone: return fallbackZone?.line ?? carrier.line
        }
    }
}

/// The durable state of the cross-marketplace sync, behind one protocol so the workflow stays
/// free of SQL (`FlipSyncStore.SyncStore` is the SQLite implementation).
///
/// Invariants every implementation keeps:
/// - **On-hand stock per SKU is the one source of truth.** It is seeded once (`seed`) and
///   afterwards changed only by order lines (and, later, an operator command).
/// - **Each order line counts once.** A line is identified by `(marketplace, orderID, lineID)`;
///   `applyOrders` records the lines of a page, decrements on-hand for the new ones and moves
///   that marketplace's cursor, all in ONE transaction: a crash leaves either all of it or none,
///   and a line seen again (overlapping cursors, a re-run after a crash) changes nothing.
/// - **Lines before the seed.** A line for a SKU not yet seeded is recorded but does not move
///   on-hand; when the SKU is seeded from the stock source's live quantity, such lines sold on
///   *other* channels are subtracted (the stock source's own sales are already in its quantity).
/// - **What each channel should show.** `expected` is the quantity we last pushed to (or saw
///   on) a channel, minus the channel's own order lines applied since; a live quantity that
///   differs from it is drift, something outside our orders changed the listing.
public protocol SyncLedger: Sendable {
    /// The cursor to pass to `Marketplace.orders(since:)` for this job and channel (nil: never pulled).
    func cursor(job: String, marketplace: MarketplaceName) throws -> String?

    /// Records `page`'s lines and stores its cursor for `job`, in one transaction (see the type's
    /// invariants). Quantities of new lines on seeded SKUs are subtracted from on-hand, and from
    /// the channel's expected quantity; a line ordering more than was on hand is an oversell.
    func applyOrders(_ page: OrdersPage, job: String, marketplace: MarketplaceName, runID: Int64, at: Int64) throws -> OrderApplication

    /// Seeds on-hand for the SKUs in `liveQuantities` (the stock source's live listings) that have
    /// no on-hand yet: the live quantity, less the lines already recorded for the SKU on channels
    /// other than `source`. SKUs already known are left alone. Returns the SKUs seeded.
    @discardableResult
    func seed(_ liveQuantities: [String: Int], from source: MarketplaceName, at: Int64) throws -> [String]

    /// On-hand units of every seeded SKU.
    func onHand() throws -> [String: Int]

    /// What each SKU's listing on `marketplace` should show if nothing but our pushes and its own
    /// orders touched it; SKUs never pushed to or seen there are absent.
    func expectedQuantities(marketplace: MarketplaceName) throws -> [String: Int]

    /// Records what a push task saw and decided before it calls the channel: drift found, and
    /// the changes it is about to send (as intents). Also sets the expected quantity of every
    /// listing seen to `observed` (its live quantity, or the intended one once applied).
    func recordPlan(_ plan: PushPlan, job: String, runID: Int64, at: Int64) throws

    /// Records the channel's answer to pushes recorded as intents by `recordPlan` (or the dry
    /// run's non-answer); an applied change becomes the listing's expected quantity.
    func recordResults(_ results: [PushResult], marketplace: MarketplaceName, runID: Int64, at: Int64) throws
}

/// What applying one page of order lines did.
public struct OrderApplication: Sendable, Hashable {
    /// New lines recorded (counted against on-hand, or held for a SKU not yet seeded).
    public var applied: Int
    /// Lines already recorded before: ignored.
    public var duplicates: Int
    /// New lines whose quantity exceeded on-hand when applied.
    public var oversells: [Oversell]

    public init(applied: Int = 0, duplicates: Int = 0, oversells: [Oversell] = []) {
        self.applied = applied
        self.duplicates = duplicates
        self.oversells = oversells
    }
}

/// An order line that asked for more units than we had: a channel sold stock we did not have.
public struct Oversell: Sendable, Hashable {
    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var sku: String
    public var ordered: Int
    /// On-hand just before the line was applied.
    public var onHand: Int

    public init(marketplace: MarketplaceName, orderID: String, lineID: String, sku: String, ordered: Int, onHand: Int) {
        self.marketplace = marketplace
        self.orderID = orderID
        self.lineID = lineID
        self.sku = sku
        self.ordered = ordered
        self.onHand = onHand
    }
}

/// A listing whose live quantity is not what our pushes and its orders leave it at.
public struct Drift: Sendable, Hashable {
    public var sku: String
    public var live: Int
    public var expected: Int
    /// What the sync wants the listing to show now.
    public var target: Int

    public init(sku: String, live: Int, expected: Int, target: Int) {
        self.sku = sku
        self.live = live
        self.expected = expected
        self.target = target
    }
}

/// One change a push task decided, with the listing's live values it is computed from.
public struct PushIntent: Sendable, Hashable {
    public var change: ListingChange
    public var liveQuantity: Int
    public var livePrice: Money

    public init(change: ListingChange, liveQuantity: Int, livePrice: Money) {
        self.change = change
        self.liveQuantity = liveQuantity
        self.livePrice = livePrice
    }
}

/// Everything one push task saw and decided for one channel, recorded before it acts.
public struct PushPlan: Sendable, Hashable {
    public var marketplace: MarketplaceName
    /// Live quantity of every listing seen, by SKU.
    public var observed: [String: Int]
    public var drift: [Drift]
    public var intents: [PushIntent]
    public var dryRun: Bool

    public init(marketplace: MarketplaceName, observed: [String: Int], drift: [Drift], intents: [PushIntent], dryRun: Bool) {
        self.marketplace = marketplace
        self.observed = observed
        self.drift = drift
        self.intents = intents
        self.dryRun = dryRun
    }
}

/// The channel's answer to one pushed change.
public struct PushResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case applied
        case failed(String)
        /// `dry_run`: decided and recorded, never sent.
        case notSent
    }

    public var sku: String
    public var quantity: Int?
    public var outcome: Outcome

    public init(sku: String, quantity: Int?, outcome: Outcome) {
        self.sku = sku
        self.quantity = quantity
        self.outcome = outcome
    }
}

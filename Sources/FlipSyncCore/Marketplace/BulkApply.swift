/// A channel that can send many changes as one bulk submission (Amazon: one JSON_LISTINGS_FEED)
/// instead of one call per listing, when the per-listing calls cannot all be sent in the time a
/// run has left.
///
/// A bulk submission is asynchronous: it exists (has an id) before its outcome is known. The
/// caller is told the id through `submitted` before anything waits for the outcome, and must
/// record it, so that a run interrupted while the channel processes the submission asks for
/// that submission's outcome (`bulkResults`) instead of submitting the same changes again.
public protocol BulkApplyingMarketplace: Marketplace {
    /// The most changes one submission carries.
    var bulkLimit: Int { get }

    /// Whether `changes` changes should go in bulk when `timeLeft` of the run remains (nil:
    /// unknown, then never).
    func prefersBulk(changes: Int, timeLeft: TimeSpan?) -> Bool

    /// Submits `changes` (at most `bulkLimit`) as one submission. Change `i` is message `i + 1`;
    /// a change the channel refuses before sending is failed and is not a message. Calls
    /// `submitted` with the submission's id and the message numbers in it once it exists and
    /// before waiting for its outcome; returns one result per change, in order. A submission
    /// that ends without results throws `BulkSubmissionEnded`.
    func applyInBulk(_ changes: [ListingChange],
                     submitted: @Sendable (_ submission: String, _ messageIDs: [Int]) async throws -> Void) async throws -> [ListingChangeResult]

    /// The outcome of a submission made earlier: waits for it like `applyInBulk` does, and
    /// returns one result per item, in order.
    func bulkResults(submission: String, items: [BulkItem]) async throws -> [ListingChangeResult]

    /// Called before the live values are read for changes whose earlier send has no recorded
    /// answer (a crash after the channel accepted a submission and before its id reached the
    /// ledger): waits until every submission created at or after `createdSince` (wall
    /// milliseconds) has ended, at most `within`, so that what such a submission carried is
    /// live when it is read. Returns the ids of the submissions it found unfinished and waited
    /// for. Throws a transient error when one is still unfinished at `within`.
    func settleSubmissions(createdSince: Int64, within: TimeSpan) async throws -> [String]
}

extension BulkApplyingMarketplace {
    /// A channel whose submissions are never in flight after the call returns: nothing to wait for.
    public func settleSubmissions(createdSince: Int64, within: TimeSpan) async throws -> [String] { [] }
}

/// One change of a bulk submission and its message number in it (1-based).
public struct BulkItem: Sendable, Hashable {
    public var change: ListingChange
    public var messageID: Int

    public init(change: ListingChange, messageID: Int) {
        self.change = change
        self.messageID = messageID
    }
}

/// A bulk submission that ended without per-change results (Amazon: a feed `FATAL` or
/// `CANCELLED`). Nothing in it counts as applied. Permanent: sending the same again will not
/// help; a resumed run checks the live prices.
public struct BulkSubmissionEnded: RetryClassified, Sendable, Hashable, CustomStringConvertible {
    public var submission: String
    public var reason: String

    public init(submission: String, reason: String) {
        self.submission = submission
        self.reason = reason
    }

    public var description: String { reason }
    public var taskFailure: TaskFailure { .permanent(reason) }
}

/// How a decision in flight names the bulk submission it went in: its `apiResult` while it is
/// `sending` is `pending bulk submission <id> message <n>`.
public enum BulkMarker {
    public static func text(submission: String, messageID: Int) -> String {
        "pending bulk submission \(submission) message \(messageID)"
    }

    /// The submission and message number a marker names; nil for any other text.
    public static func parse(_ text: String?) -> (submission: String, messageID: Int)? {
        guard let text, text.hasPrefix("pending bulk submission ") else { return nil }
        let parts = text.dropFirst("pending bulk submission ".count).split(separator: " ")
        guard parts.count == 3, parts[1] == "message", let id = Int(parts[2]), id > 0 else { return nil }
        return (String(parts[0]), id)
    }
}

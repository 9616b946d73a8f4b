/// The events operators look up in the journal, each with a fixed journal `MESSAGE_ID`.
///
/// Log statements name an event with the metadata key `event` (`metadata: ["event": "run-started"]`);
/// the journal handler writes it as `FLIPSYNC_EVENT=run-started` and, for the events listed here,
/// adds `MESSAGE_ID=…`, which links the entry to its explanation in `systemd/flipsyncd.catalog`
/// (`journalctl -x`) and lets operators select it (`journalctl MESSAGE_ID=…`). Other event names
/// are still written as `FLIPSYNC_EVENT`, just without a message id.
///
/// Invariant: an id, once shipped, never changes meaning, and every case has exactly one entry in
/// the catalog (a test compares the two).
public enum JournalEvent: String, CaseIterable, Sendable {
    case runStarted = "run-started"
    case runFinished = "run-finished"
    case runFailed = "run-failed"
    case runSkipped = "run-skipped"
    case budgetExhausted = "budget-exhausted"
    case reloadFailed = "reload-failed"
    case reloaded = "reloaded"
    case daemonReady = "daemon-ready"
    case daemonStopping = "daemon-stopping"

    /// The journal `MESSAGE_ID`: 128 bits as 32 lowercase hex digits, made once with `systemd-id128 new`.
    public var messageID: String {
        switch self {
        case .runStarted: return "f2305c9e8e1341959d7bd7b072589b56"
        case .runFinished: return "55822404374b4de49654cfbb59ea2956"
        case .runFailed: return "13e92fe587e748a5a13555c1a40e7214"
        case .runSkipped: return "820a59c4dfa74eb192658037f87a88ef"
        case .budgetExhausted: return "d5948f0ba5f94d2e926135b7d43b935a"
        case .reloadFailed: return "1e833f1803b44bedba32f433a57f7bbf"
        case .reloaded: return "fab437287601419a9965c753a2b6f019"
        case .daemonReady: return "9b22e83c41894bf29c18efc7f1a22325"
        case .daemonStopping: return "9833dd1faae64b82956e67f64b28ea47"
        }
    }
}

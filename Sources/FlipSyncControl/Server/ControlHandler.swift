/// What answers control requests: the daemon implements it by calling its `Scheduler`.
///
/// The server calls `handle` once per request, on a task of its own, and only for peers that
/// ``ControlAccess`` allows. The handler returns the last response line; lines before it (only
/// the started run of `run` with `wait`) go to `progress`, in order, as they happen. The server
/// sets ``ControlResponse/final`` itself — false on progress lines, true on the returned one —
/// so a stream always ends exactly once, with the handler's own answer.
///
/// Failures are answers too: return ``ControlResponse/failure(_:)`` with words for the operator.
///
/// The task is cancelled when the client disconnects or the server stops; its lines then go
/// nowhere. A handler waiting for a run to end may stop waiting on cancellation, or may finish
/// its wait — nothing it sends is an error either way.
public protocol ControlHandler: Sendable {
    func handle(_ request: ControlRequest, from peer: PeerCredentials,
                progress: @Sendable (ControlResponse) -> Void) async -> ControlResponse
}

/// Who may use the control socket.
///
/// A peer is allowed if its uid is in ``allowedUIDs``, or if ``allowedGroup`` is set and is the
/// peer's primary group or one of its supplementary groups. Nothing else is allowed: an empty
/// `ControlAccess` refuses everyone. The daemon puts root and its own effective uid in
/// `allowedUIDs`, plus the users its configuration names.
///
/// This check comes on top of the socket file's mode (0660, group ``allowedGroup``), which the
/// kernel enforces on `connect`: the file keeps strangers out, the check names who is in.
public struct ControlAccess: Sendable, Hashable {
    public var allowedUIDs: Set<UInt32>
    public var allowedGroup: UInt32?

    public init(allowedUIDs: Set<UInt32>, allowedGroup: UInt32? = nil) {
        self.allowedUIDs = allowedUIDs
        self.allowedGroup = allowedGroup
    }

    public func allows(_ peer: PeerCredentials) -> Bool {
        if allowedUIDs.contains(peer.uid) { return true }
        guard let allowedGroup else { return false }
        return peer.gid == allowedGroup || peer.groups.contains(allowedGroup)
    }
}

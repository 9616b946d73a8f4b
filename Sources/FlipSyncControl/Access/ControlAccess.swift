#if canImport(Glibc)
import Glibc
#endif

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

extension ControlAccess {
    /// The access the daemon's config asks for: root, the daemon's own effective uid (`daemonUID`),
    /// each of `users` (a uid, or a user name looked up in the system's user database), and the
    /// group named `group`. Names that do not exist are reported through `warn` (naming the config
    /// key) and left out: an unknown user allows nobody, an unknown group no group.
    public static func resolving(users: [String], group: String?, daemonUID: UInt32,
                                 warn: (String) -> Void) -> ControlAccess {
        var uids: Set<UInt32> = [0, daemonUID]
        for user in users {
            if let uid = UInt32(user) {
                uids.insert(uid)
            } else if let uid = Self.userID(named: user) {
                uids.insert(uid)
            } else {
                warn("daemon.control_users: no user \"\(user)\"; ignoring it")
            }
        }
        var gid: UInt32?
        if let group {
            gid = Self.groupID(named: group)
            if gid == nil {
                warn("daemon.control_group: no group \"\(group)\"; only root and the daemon's user may use the control socket")
            }
        }
        return ControlAccess(allowedUIDs: uids, allowedGroup: gid)
    }

    /// `getpwnam_r`, so a lookup never races another thread's.
    static func userID(named name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    /// `getgrnam_r`, likewise.
    static func groupID(named name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}

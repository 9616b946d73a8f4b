import Glibc

/// Who is on the other end of a control connection, as the kernel vouches for it: the process
/// and effective user and group of the peer when it connected (`SO_PEERCRED`), and that process's
/// supplementary groups (`SO_PEERGROUPS`, Linux 4.13 and later; empty where unsupported).
///
/// The supplementary groups matter: `usermod -aG flipsync alice` makes `flipsync` a
/// supplementary group of alice's processes, never their primary `gid`.
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// The credentials of the peer of the connected Unix socket `fd`.
    init(socket fd: Int32) throws(ControlError) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — three 32-bit fields. Glibc only
        // declares it under _GNU_SOURCE, which Swift's Glibc module does not set.
        var ucred = [UInt32](repeating: 0, count: 3)
        var length = socklen_t(ucred.count * MemoryLayout<UInt32>.size)
        let result = ucred.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        guard result == 0 else {
            throw .system(operation: "read the peer credentials (SO_PEERCRED) of", path: "a control connection", errno: errno)
        }
        self.init(pid: Int32(bitPattern: ucred[0]), uid: ucred[1], gid: ucred[2], groups: Self.groups(of: fd))
    }

    /// The peer's supplementary groups; empty if the kernel cannot say.
    private static func groups(of fd: Int32) -> [UInt32] {
        var groups = [UInt32](repeating: 0, count: 64)
        while true {
            var length = socklen_t(groups.count * MemoryLayout<UInt32>.size)
            let result = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, $0.baseAddress, &length) }
            let count = Int(length) / MemoryLayout<UInt32>.size
            if result == 0 { return Array(groups.prefix(count)) }
            // ERANGE: the buffer was too small and `length` says how much is needed.
            guard errno == ERANGE, count > groups.count else { return [] }
            groups = [UInt32](repeating: 0, count: count)
        }
    }
}

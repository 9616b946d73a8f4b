import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket bound at `path`, as systemd's `NOTIFY_SOCKET`: tests that start the real
/// `flipsyncd` read its `READY=1`, `RELOADING=1`, `STOPPING=1` and `STATUS=` through it. Closed
/// when released.
public final class NotificationListener {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        var address = sockaddr_un()
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EIO
            _ = Glibc.close(fd)
            throw POSIXError(code)
        }
    }

    deinit { _ = Glibc.close(fd) }

    /// The messages waiting, after waiting up to `milliseconds` for the first.
    public func messages(waiting milliseconds: Int32 = 0) -> [String] {
        var out: [String] = []
        var wait = milliseconds
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, wait) == 1 else { return out }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return out }
            out.append(String(decoding: buffer[0..<count], as: UTF8.self))
            wait = 0
        }
    }
}

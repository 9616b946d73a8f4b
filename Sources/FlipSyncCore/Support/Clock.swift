#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real wall clock (`CLOCK_REALTIME`), to whole seconds.
public enum SystemClock {
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(secondsSinceEpoch: Int64(ts.tv_sec))
    }
}

/// The system's configured zone name, from the `/etc/localtime` symlink.
public enum SystemZone {
    public static func localtimeTarget(path: String = "/etc/localtime") -> String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let marker = "zoneinfo/"
        guard let start = target.indices.first(where: { target[$0...].hasPrefix(marker) }) else { return nil }
        return String(target[target.index(start, offsetBy: marker.count)...])
    }
}

extension FileSystem {
    public static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

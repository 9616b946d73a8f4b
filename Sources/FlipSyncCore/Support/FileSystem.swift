#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system calls the core needs, kept small and free of Foundation.
public enum FileSystem {
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let s = String(cString: value)
        return s.isEmpty ? nil : s
    }

    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(cString: buffer)
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` if absolute, else `base/path`, with `.` components and redundant slashes removed.
    public static func resolve(_ path: String, against base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/") {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(part)
        }
        let result = parts.joined(separator: "/")
        return joined.hasPrefix("/") ? "/" + result : (result.isEmpty ? "." : result)
    }

    public struct CreateError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot create directory \(path): \(reason)" }
    }

    /// `mkdir -p`: creates `path` and its missing parents with `mode` (existing ones are left as
    /// they are).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(CreateError) {
        if kind(of: path) == .directory { return }
        let parent = directory(of: path)
        if parent != path && parent != "." && parent != "/" { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw CreateError(path: path, reason: String(cString: strerror(errno)))
        }
    }

    public enum Kind { case file, directory, other }

    public static func kind(of path: String) -> Kind? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Names in a directory, sorted; `nil` if it cannot be read.
    public static func contents(of directory: String) -> [String]? {
        guard let dir = opendir(directory) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public enum ReadError: Error, Equatable {
        case cannotOpen(String)
        case notAFile
        case tooLarge(limit: Int)
        case writableByOthers
    }

    /// Reads a whole regular file of at most `limit` bytes. Refuses files that other users may
    /// write (a job file decides what runs against accounts with real money).
    public static func readFile(_ path: String, limit: Int, refuseWorldWritable: Bool = true) -> Result<[UInt8], ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.cannotOpen(String(cString: strerror(errno)))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .failure(.notAFile) }
        if refuseWorldWritable && (st.st_mode & S_IWOTH) != 0 { return .failure(.writableByOthers) }
        guard st.st_size <= limit else { return .failure(.tooLarge(limit: limit)) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return .success(Array(bytes[0..<filled]))
    }
}

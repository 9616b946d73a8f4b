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
        return buffer.withUnsafeMutableBufferPointer { b in
            getcwd(b.baseAddress, b.count) != nil ? String(cString: b.baseAddress!) : "."
        }
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
        /// A FIFO, device, socket or directory: never opened for reading (a FIFO would block).
        case notAFile
        case tooLarge(limit: Int)
        /// World-writable.
        case writableByOthers
        /// Writable by the file's group.
        case writableByGroup
        /// Owned by `uid`, which is neither root nor the reading process's effective user.
        case notOwned(uid: UInt32)
        /// The directory holding the file is owned by `uid` (neither root nor this user) or is
        /// writable by its group or others (`mode`): whoever may write it may replace the file.
        case untrustedDirectory(path: String, uid: UInt32, mode: UInt32)
    }

    /// Which files ``readFile(_:limit:requireTrusted:)`` accepts.
    ///
    /// A trusted file (as sshd's `StrictModes`) is a regular file owned by root or by the
    /// reading process's effective user, not writable by its group or by others, in a directory
    /// that is also owned by root or that user and not writable by its group or others. Only
    /// that directory is checked (the one the path names, and if the path goes through a
    /// symbolic link, the one the file really is in), not its ancestors. Group write is refused
    /// whatever the group, root's included.
    public static func isTrustedOwner(_ uid: uid_t) -> Bool { uid == 0 || uid == geteuid() }

    /// Reads a whole regular file of at most `limit` bytes, from one descriptor: it is opened
    /// non-blocking (a FIFO or device in its place never blocks the reader), `fstat`ed, refused
    /// unless a regular file, and read from that same descriptor, never more than `limit + 1`
    /// bytes (no check-then-reopen race, no unbounded read of a growing file). With
    /// `requireTrusted` (the default), also refuses a file that is not trusted (see
    /// ``isTrustedOwner(_:)``): a job file decides what runs against accounts with real money.
    public static func readFile(_ path: String, limit: Int, requireTrusted: Bool = true) -> Result<[UInt8], ReadError> {
        // A quick look first, so a device is never even opened; the descriptor is checked again.
        var pre = stat()
        if stat(path, &pre) == 0, (pre.st_mode & S_IFMT) != S_IFREG { return .failure(.notAFile) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.cannotOpen(String(cString: strerror(errno)))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .failure(.notAFile) }
        if requireTrusted {
            if (st.st_mode & S_IWOTH) != 0 { return .failure(.writableByOthers) }
            if (st.st_mode & S_IWGRP) != 0 { return .failure(.writableByGroup) }
            if !isTrustedOwner(st.st_uid) { return .failure(.notOwned(uid: UInt32(st.st_uid))) }
            var directories = [directory(of: path)]
            if let real = realPath(ofDescriptor: fd) {
                let realDirectory = directory(of: real)
                if realDirectory != directories[0] { directories.append(realDirectory) }
            }
            for dir in directories {
                var ds = stat()
                guard stat(dir, &ds) == 0 else { return .failure(.cannotOpen("cannot inspect its directory \(dir): \(String(cString: strerror(errno)))")) }
                if !isTrustedOwner(ds.st_uid) || (ds.st_mode & (S_IWGRP | S_IWOTH)) != 0 {
                    return .failure(.untrustedDirectory(path: dir, uid: UInt32(ds.st_uid), mode: UInt32(ds.st_mode) & 0o7777))
                }
            }
        }
        guard st.st_size <= limit else { return .failure(.tooLarge(limit: limit)) }
        // Bounded by `limit + 1` whatever the file does meanwhile.
        var bytes = [UInt8](repeating: 0, count: min(Int(st.st_size), limit) + 1)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        guard filled <= limit else { return .failure(.tooLarge(limit: limit)) }
        return .success(Array(bytes[0..<filled]))
    }

    /// Where an open descriptor's file really is (`/proc/self/fd/N`), symbolic links resolved.
    static func realPath(ofDescriptor fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, 4096)
        guard n > 0, buffer[0] == CChar(UInt8(ascii: "/")) else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension FileSystem.ReadError {
    /// The reason as a diagnostic says it, with the command that fixes it where there is one.
    public func message(path: String) -> String {
        switch self {
        case .cannotOpen(let reason): return "cannot read: \(reason)"
        case .notAFile: return "not a regular file"
        case .tooLarge(let limit): return "file is larger than \(limit / 1024) KiB; job and config files are small, refusing it"
        case .writableByOthers: return "file is writable by other users; refusing it (fix with: chmod o-w \(path))"
        case .writableByGroup: return "file is writable by its group; refusing it (fix with: chmod g-w \(path))"
        case .notOwned(let uid):
            return "file is owned by uid \(uid), not by root or uid \(geteuid()) (this process's user); refusing it (fix with: chown root \(path))"
        case .untrustedDirectory(let directory, let uid, let mode):
            if (mode & 0o022) != 0 {
                return "its directory \(directory) is writable by its group or other users (mode 0\(String(mode, radix: 8))); refusing it (fix with: chmod go-w \(directory))"
            }
            return "its directory \(directory) is owned by uid \(uid), not by root or uid \(geteuid()); refusing it (fix with: chown root \(directory))"
        }
    }
}

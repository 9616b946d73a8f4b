import FlipSyncCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads the daemon's secrets (marketplace tokens, client secrets) as systemd credentials.
///
/// Under systemd, the unit's one line `LoadCredential=flipsync:/etc/flipsync/credentials` copies
/// every file of that directory into `$CREDENTIALS_DIRECTORY` as `flipsync_NAME`, readable only by
/// the service (a unit may also load single files, `LoadCredential=NAME:PATH`, which arrive as
/// `NAME`); outside systemd (development) they are files in the config's `credentials_directory`,
/// which must be readable by their owner only. In either directory the credential `NAME` is the
/// file `flipsync_NAME` if there is one, else `NAME`. A credential whose file is absent is
/// ``CredentialError/missing(name:directory:)``: the channel that needs it is unavailable, the
/// others run.
public enum Credentials {
    /// Credentials are short; anything bigger is a wrong file.
    static let maximumSize = 64 * 1024

    /// What `LoadCredential=flipsync:DIRECTORY` puts before each file name of DIRECTORY.
    public static let directoryPrefix = "flipsync_"

    /// The credential `name`, from `$CREDENTIALS_DIRECTORY` if set, else from
    /// `credentialsDirectory` (development). One trailing newline is removed.
    ///
    /// `name` must be made of `[a-z0-9._-]` and not start with a dot. A file from the development
    /// directory is refused if its group or others have any permission on it. Errors name the
    /// credential and its path, never its content.
    public static func read(_ name: String, credentialsDirectory: String?) throws(CredentialError) -> Secret {
        try read(name, systemdDirectory: FileSystem.environment("CREDENTIALS_DIRECTORY"),
                 developmentDirectory: credentialsDirectory)
    }

    /// ``read(_:credentialsDirectory:)`` with the systemd directory given rather than read from the environment.
    static func read(_ name: String, systemdDirectory: String?, developmentDirectory: String?) throws(CredentialError) -> Secret {
        guard isValidName(name) else { throw .invalidName(name) }
        guard let directory = systemdDirectory ?? developmentDirectory else { throw .noDirectory(name: name) }
        let base = directory.hasSuffix("/") ? directory : directory + "/"

        // `flipsync_NAME` (a whole directory loaded with LoadCredential=flipsync:DIR), else `NAME`.
        var st = stat()
        var found: String?
        for candidate in [base + directoryPrefix + name, base + name] {
            if stat(candidate, &st) == 0 { found = candidate; break }
            let code = errno
            if code != ENOENT { throw .unreadable(name: name, path: candidate, reason: String(cString: strerror(code))) }
        }
        guard let path = found else { throw .missing(name: name, directory: directory) }
        // systemd makes its copies private to the service; a developer's file may be too open.
        // (Checked before opening: this guards against a mistake, not against someone who can
        // already replace files in the directory.)
        let groupOrOther = UInt32(st.st_mode) & 0o077
        if systemdDirectory == nil && groupOrOther != 0 {
            throw .accessibleByOthers(name: name, path: path, mode: UInt32(st.st_mode) & 0o7777)
        }

        let bytes: [UInt8]
        // One descriptor, opened non-blocking (a FIFO here never blocks the daemon), refused
        // unless a regular file owned by root or the daemon's user, writable by nobody else, in
        // a directory nobody else may write.
        switch FileSystem.readFile(path, limit: maximumSize) {
        case .success(let read): bytes = read
        case .failure(.tooLarge(let limit)): throw .tooLarge(name: name, path: path, limit: limit)
        case .failure(.cannotOpen(let reason)): throw .unreadable(name: name, path: path, reason: reason)
        case .failure(let refused): throw .unreadable(name: name, path: path, reason: refused.message(path: path))
        }
        let content = bytes.last == UInt8(ascii: "\n") ? bytes.dropLast() : bytes[...]
        guard !content.isEmpty else { throw .empty(name: name, path: path) }
        guard let text = String(validating: content, as: UTF8.self) else { throw .notText(name: name, path: path) }
        return Secret(text)
    }

    /// `[a-z0-9._-]+`, not starting with a dot (so never `.`, `..` or a hidden file), at most 255 bytes.
    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, name.utf8.first != UInt8(ascii: ".") else { return false }
        return name.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0.isASCIIDigit
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}

/// Why a credential could not be read. Each case names the credential and, once known, its path —
/// never its content.
public enum CredentialError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name is not `[a-z0-9._-]+` or starts with a dot.
    case invalidName(String)
    /// Neither `$CREDENTIALS_DIRECTORY` nor a development directory is set.
    case noDirectory(name: String)
    /// Neither `DIRECTORY/flipsync_NAME` nor `DIRECTORY/NAME` exists.
    case missing(name: String, directory: String)
    /// A development credential file whose group or others have permissions (`mode`, e.g. 0o644).
    case accessibleByOthers(name: String, path: String, mode: UInt32)
    case unreadable(name: String, path: String, reason: String)
    case tooLarge(name: String, path: String, limit: Int)
    /// Empty, or only a newline.
    case empty(name: String, path: String)
    /// Not valid UTF-8.
    case notText(name: String, path: String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid credential name \"\(name)\": use lowercase letters, digits, '.', '_' and '-', not starting with '.'"
        case .noDirectory(let name):
            return "credential \"\(name)\": no credentials directory (under systemd the unit needs LoadCredential=flipsync:/etc/flipsync/credentials; in development set [daemon] credentials_directory)"
        case .missing(let name, let directory):
            let base = directory.hasSuffix("/") ? directory : directory + "/"
            return "credential \"\(name)\": not provided (no \(base)\(Credentials.directoryPrefix)\(name) or \(base)\(name); "
                + "under systemd put the secret in /etc/flipsync/credentials/\(name), mode 0600, and restart flipsyncd)"
        case .accessibleByOthers(let name, let path, let mode):
            return "credential \"\(name)\": \(path) is accessible by group or others (mode 0\(String(mode, radix: 8))); run chmod 600 \(path)"
        case .unreadable(let name, let path, let reason):
            return "credential \"\(name)\": cannot read \(path): \(reason)"
        case .tooLarge(let name, let path, let limit):
            return "credential \"\(name)\": \(path) is larger than \(limit) bytes"
        case .empty(let name, let path):
            return "credential \"\(name)\": \(path) is empty"
        case .notText(let name, let path):
            return "credential \"\(name)\": \(path) is not UTF-8 text"
        }
    }
}

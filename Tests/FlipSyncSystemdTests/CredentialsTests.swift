import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import FlipSyncSystemd

@Suite("Credentials", .timeLimit(.minutes(2)))
struct CredentialsTests {
    @Test("one trailing newline is removed, and only one", arguments: [
        ("s3cret", "s3cret"), ("s3cret\n", "s3cret"), ("s3cret\n\n", "s3cret\n"), ("line1\nline2\n", "line1\nline2"),
        (" padded ", " padded "),
    ])
    func trailingNewline(content: String, expected: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("ebay-client-secret", content, mode: 0o600)
        let secret = try Credentials.read("ebay-client-secret", systemdDirectory: nil, developmentDirectory: directory.path)
        #expect(secret.reveal() == expected)
        #expect(secret.value == expected)
    }

    @Test("a development file that group or others may access is refused, naming the path, not the content",
          arguments: [0o640, 0o604, 0o644, 0o620, 0o602, 0o610] as [mode_t])
    func refusesOpenPermissions(mode: mode_t) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("shopify-access-token", "shpat_TOPSECRET\n", mode: mode)
        #expect(throws: CredentialError.accessibleByOthers(name: "shopify-access-token", path: path, mode: UInt32(mode))) {
            try Credentials.read("shopify-access-token", systemdDirectory: nil, developmentDirectory: directory.path)
        }
        let message = CredentialError.accessibleByOthers(name: "shopify-access-token", path: path, mode: UInt32(mode)).description
        #expect(message.contains(path) && message.contains("0\(String(mode, radix: 8))") && message.contains("chmod 600"))
        #expect(!message.contains("TOPSECRET"))
    }

    @Test("the systemd directory wins over the development directory and is not permission-checked")
    func systemdDirectoryWins() throws {
        let systemd = try TemporaryDirectory()
        let development = try TemporaryDirectory()
        defer { systemd.remove(); development.remove() }
        try systemd.write("ebay-refresh-token", "from-systemd\n", mode: 0o440)
        try development.write("ebay-refresh-token", "from-development\n", mode: 0o600)
        let secret = try Credentials.read("ebay-refresh-token", systemdDirectory: systemd.path, developmentDirectory: development.path)
        #expect(secret.reveal() == "from-systemd")
    }

    @Test("names must be [a-z0-9._-] without a leading dot", arguments: [
        "", ".hidden", ".", "..", "../etc/passwd", "a/b", "/abs", "Upper", "with space", "tab\t", "é", "a\0b",
        String(repeating: "a", count: 256),
    ])
    func invalidNames(name: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: CredentialError.invalidName(name)) {
            try Credentials.read(name, systemdDirectory: nil, developmentDirectory: directory.path)
        }
    }

    @Test("valid names", arguments: ["ebay-client-id", "amazon-lwa-client-secret", "a.b_c-1", "x", "token.v2."])
    func validNames(name: String) {
        #expect(Credentials.isValidName(name))
    }

    @Test("a missing file names the credential, both file names looked for, and where to put it, not any secret")
    func missing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("flipsync_ebay-client-secret", "TOPSECRET\n", mode: 0o600)
        #expect(throws: CredentialError.missing(name: "ebay-client-id", directory: directory.path)) {
            try Credentials.read("ebay-client-id", systemdDirectory: directory.path, developmentDirectory: nil)
        }
        let message = CredentialError.missing(name: "ebay-client-id", directory: directory.path).description
        #expect(message.contains(directory.path + "/flipsync_ebay-client-id") && message.contains(directory.path + "/ebay-client-id"))
        #expect(message.contains("/etc/flipsync/credentials/ebay-client-id"))
        #expect(!message.contains("TOPSECRET"))
    }

    /// `LoadCredential=flipsync:/etc/flipsync/credentials` (systemd 252) hands the service every file
    /// of the directory as `flipsync_NAME`; a unit's single-file lines and the development directory
    /// give `NAME`. Both are read, in either directory; `flipsync_NAME` wins when both exist.
    @Test("a credential is flipsync_NAME (a loaded directory) or NAME, in the systemd and the development directory")
    func prefixedAndPlainNames() throws {
        let systemd = try TemporaryDirectory()
        let development = try TemporaryDirectory()
        defer { systemd.remove(); development.remove() }
        try systemd.write("flipsync_ebay-client-id", "from-directory\n", mode: 0o440)
        try systemd.write("shopify-access-token", "from-single-file\n", mode: 0o440)
        try systemd.write("flipsync_amazon-refresh-token", "prefixed\n", mode: 0o440)
        try systemd.write("amazon-refresh-token", "plain\n", mode: 0o440)
        func underSystemd(_ name: String) throws -> String {
            try Credentials.read(name, systemdDirectory: systemd.path, developmentDirectory: development.path).reveal()
        }
        #expect(try underSystemd("ebay-client-id") == "from-directory")
        #expect(try underSystemd("shopify-access-token") == "from-single-file")
        #expect(try underSystemd("amazon-refresh-token") == "prefixed")

        try development.write("ebay-client-secret", "plain-dev\n", mode: 0o600)
        try development.write("flipsync_openai-api-key", "prefixed-dev\n", mode: 0o600)
        func inDevelopment(_ name: String) throws -> String {
            try Credentials.read(name, systemdDirectory: nil, developmentDirectory: development.path).reveal()
        }
        #expect(try inDevelopment("ebay-client-secret") == "plain-dev")
        #expect(try inDevelopment("openai-api-key") == "prefixed-dev")
        // The prefixed form is checked like the plain one: a development file open to others is refused.
        let open = try development.write("flipsync_easypost-api-key", "x\n", mode: 0o644)
        #expect(throws: CredentialError.accessibleByOthers(name: "easypost-api-key", path: open, mode: 0o644)) {
            try Credentials.read("easypost-api-key", systemdDirectory: nil, developmentDirectory: development.path)
        }
    }

    @Test("without any directory the error says how to provide one")
    func noDirectory() {
        #expect(throws: CredentialError.noDirectory(name: "ebay-client-id")) {
            try Credentials.read("ebay-client-id", systemdDirectory: nil, developmentDirectory: nil)
        }
        #expect(CredentialError.noDirectory(name: "ebay-client-id").description.contains("LoadCredential=flipsync:/etc/flipsync/credentials"))
    }

    @Test("empty, binary and oversized files are refused without showing their content")
    func badContent() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let empty = try directory.write("empty", "")
        let newline = try directory.write("newline", "\n")
        let binary = try directory.write("binary", [0x73, 0xFF, 0xFE, 0x0A])
        let large = try directory.write("large", [UInt8](repeating: 0x61, count: Credentials.maximumSize + 1))
        func read(_ name: String) throws(CredentialError) {
            _ = try Credentials.read(name, systemdDirectory: nil, developmentDirectory: directory.path)
        }
        #expect(throws: CredentialError.empty(name: "empty", path: empty)) { try read("empty") }
        #expect(throws: CredentialError.empty(name: "newline", path: newline)) { try read("newline") }
        #expect(throws: CredentialError.notText(name: "binary", path: binary)) { try read("binary") }
        #expect(throws: CredentialError.tooLarge(name: "large", path: large, limit: Credentials.maximumSize)) { try read("large") }
    }

    @Test("a directory in place of the file is unreadable, not a crash")
    func directoryInstead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(mkdir(directory.path + "/ebay-client-id", 0o700) == 0)
        #expect(throws: CredentialError.unreadable(name: "ebay-client-id", path: directory.path + "/ebay-client-id",
                                                   reason: "not a regular file")) {
            try Credentials.read("ebay-client-id", systemdDirectory: directory.path, developmentDirectory: nil)
        }
    }
}

@Suite("Secret", .timeLimit(.minutes(2)))
struct SecretTests {
    struct MarketplaceAuth { var clientID: String; var clientSecret: Secret }

    @Test("no ordinary way of printing a secret shows it")
    func redacted() {
        let secret = Secret("v^1.1#i^1#TOPSECRET")
        var dumped = ""
        dump(secret, to: &dumped)
        var dumpedContainer = ""
        dump(MarketplaceAuth(clientID: "id", clientSecret: secret), to: &dumpedContainer)
        let renderings = [
            secret.description, secret.debugDescription, "\(secret)", String(describing: secret), String(reflecting: secret),
            "\(MarketplaceAuth(clientID: "id", clientSecret: secret))", String(reflecting: [secret]),
            String(describing: Optional(secret)), dumped, dumpedContainer,
        ]
        for rendering in renderings {
            #expect(!rendering.contains("TOPSECRET"), "\(rendering)")
        }
        #expect(secret.description == "<redacted>")
        #expect(secret.debugDescription == "<redacted>")
        #expect(secret.reveal() == "v^1.1#i^1#TOPSECRET")
    }
}

import Foundation

/// The sandbox's side of a credentials directory: the files named as `config/flipsync.toml` and
/// the shipped unit's `LoadCredential=` lines name them, so the daemon and the sandbox can be
/// given the same values and a test can prove the daemon read and used every one.
public enum SandboxCredentialFiles {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Files read by `load`, in groups: a group is used when all its files are there, refused
    /// when only some are, and left at the sandbox's development values when none is.
    public static let groups: [[String]] = [
        ["ebay-client-id", "ebay-client-secret", "ebay-refresh-token"],
        ["amazon-lwa-client-id", "amazon-lwa-client-secret", "amazon-refresh-token"],
        ["shopify-access-token"],
        ["easypost-api-key"],
        ["openai-api-key"],
    ]

    /// Sets the accepted credentials of `configuration` from the files in `directory`, and returns
    /// the names read. A trailing newline in a file is ignored; files are at most 4 KiB. Throws if
    /// a group is incomplete, a file is empty or unreadable, or no file at all is there.
    @discardableResult
    public static func load(directory: String, into configuration: inout SandboxConfiguration) throws -> [String] {
        var values: [String: String] = [:]
        for name in groups.joined() {
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { continue }
            guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else {
                throw Failure(description: "\(path): unreadable or larger than 4 KiB")
            }
            var text = String(decoding: data, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else { throw Failure(description: "\(path): empty") }
            values[name] = text
        }
        for group in groups {
            let present = group.filter { values[$0] != nil }
            if !present.isEmpty && present.count != group.count {
                let missing = group.filter { values[$0] == nil }.joined(separator: ", ")
                throw Failure(description: "\(directory): \(present.joined(separator: ", ")) without \(missing)")
            }
        }
        guard !values.isEmpty else {
            throw Failure(description: "\(directory): none of \(groups.joined().joined(separator: ", "))")
        }
        if let id = values["ebay-client-id"], let secret = values["ebay-client-secret"], let refresh = values["ebay-refresh-token"] {
            configuration.credentials = SandboxCredentials(clientID: id, clientSecret: secret, refreshToken: refresh)
        }
        if let id = values["amazon-lwa-client-id"], let secret = values["amazon-lwa-client-secret"],
           let refresh = values["amazon-refresh-token"] {
            configuration.amazonCredentials = SandboxCredentials(clientID: id, clientSecret: secret, refreshToken: refresh)
        }
        if let token = values["shopify-access-token"] { configuration.shopifyAccessToken = token }
        if let key = values["easypost-api-key"] { configuration.easyPostAPIKey = key }
        if let key = values["openai-api-key"] { configuration.openAIAPIKey = key }
        return groups.joined().filter { values[$0] != nil }
    }
}

/// The scheme, host and port of an absolute `http://` or `https://` URL, and the one rule that
/// decides whether a host is loopback — used by config validation (plain http only on
/// loopback), the HTTP transport's allow-list, `run --local --sandbox` and the sandbox's
/// `--host`, so they can never disagree.
///
/// Parsing is strict and free of Foundation: the authority (between `//` and the first `/`, `?`
/// or `#`) may hold only letters, digits, `-`, `.`, and a `[…]` IPv6 literal, then an optional
/// `:PORT` (1…65535). Userinfo (`user@`), percent-escapes, backslashes, spaces and anything else
/// make the URL invalid, so a URL cannot name one host to this check and another to the HTTP
/// library that sends it.
public struct HTTPURLAuthority: Sendable, Hashable {
    /// `http` or `https`.
    public var scheme: String
    /// Lower-cased; an IPv6 literal without its brackets.
    public var host: String
    /// The explicit port, else 80 for http and 443 for https.
    public var port: Int
    /// Whether the URL writes its port out (`http://127.0.0.1:8780/…`, not `http://127.0.0.1/…`).
    public var portIsExplicit: Bool

    public init?(_ url: String) {
        self.init(lowercasedURL: Self.lowercasedThroughAuthority(url))
    }

    /// The parse of a URL already lower-cased (through its authority at least).
    init?(lowercasedURL lower: String) {
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = lower.dropFirst(scheme.count + 3)
        var hostBytes = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !hostBytes.isEmpty else { return nil }
        var port = scheme == "https" ? 443 : 80
        var explicit = false
        func portValue(_ text: Substring) -> Int? {
            guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  let p = Int(text), (1...65535).contains(p) else { return nil }
            return p
        }
        if hostBytes.hasPrefix("[") {
            guard let close = hostBytes.firstIndex(of: "]") else { return nil }
            let after = hostBytes[hostBytes.index(after: close)...]
            hostBytes = hostBytes[hostBytes.index(after: hostBytes.startIndex)..<close]
            guard hostBytes.utf8.allSatisfy({ Self.isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }),
                  LoopbackHost.ipv6Bytes(hostBytes) != nil else { return nil }
            if after.hasPrefix(":") {
                guard let p = portValue(after.dropFirst()) else { return nil }
                port = p
                explicit = true
            } else if !after.isEmpty { return nil }
        } else {
            if let colon = hostBytes.lastIndex(of: ":") {
                guard let p = portValue(hostBytes[hostBytes.index(after: colon)...]) else { return nil }
                port = p
                explicit = true
                hostBytes = hostBytes[..<colon]
            }
            guard hostBytes.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 })
            else { return nil }
        }
        guard !hostBytes.isEmpty else { return nil }
        self.scheme = scheme
        self.host = String(hostBytes)
        self.port = port
        self.portIsExplicit = explicit
    }

    /// `url` lower-cased, or, when it is ASCII, only its first part: through the authority's end
    /// (the first `/`, `?` or `#` from its ninth byte on, past `https://`), which is all `init`
    /// reads. The same answer as lower-casing the whole URL, without copying a long path and
    /// query for every request. (Not ASCII: the whole URL, as before; some letters outside ASCII
    /// lower-case to ASCII ones.)
    static func lowercasedThroughAuthority(_ url: String) -> String {
        var cut: String.Index?
        var offset = 0
        for index in url.utf8.indices {
            let byte = url.utf8[index]
            if byte >= 0x80 { return url.lowercased() }
            if cut == nil, offset >= 8, byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") { cut = index }
            offset += 1
        }
        guard let cut else { return url.lowercased() }
        return url[..<cut].lowercased()
    }

    static func isHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) }

    /// `host:port` (the port always written out): how the transport's allow-list and the rate
    /// limiters' keys name a server.
    public var hostKey: String { "\(host):\(port)" }

    /// `url`'s `hostKey`, or `url` itself where it is not an absolute http(s) URL by these rules
    /// (a client's rate-limiter key then still names its own server; the config check and the
    /// allow-list refuse such a URL before any request).
    public static func hostKey(of url: String) -> String { HTTPURLAuthority(url)?.hostKey ?? url }
}

/// Whether a host is the local machine's loopback interface.
///
/// Loopback is exactly: `localhost` (any case; not `localhost.`, not a subdomain), an IPv4
/// dotted quad of four decimal numbers 0…255 without leading zeros whose first number is 127
/// (127.0.0.0/8), or the IPv6 address ::1 in any spelling (`::1`, `0:0:0:0:0:0:0:1`,
/// `0000::0001`), with or without brackets. Everything else is not: `127.1`, `0x7f.0.0.1`,
/// `2130706433`, `0177.0.0.1` (forms some resolvers still read as 127.0.0.1, refused because
/// they are ambiguous), `::ffff:127.0.0.1` (IPv4-mapped), `127.0.0.1.nip.io`,
/// `localhost.example`, and any name a DNS server answers with 127.0.0.1.
public enum LoopbackHost {
    public static func isLoopback(host: String) -> Bool {
        // A host already lower-case ASCII (what `HTTPURLAuthority` gives) is read in place.
        let lowered = host.utf8.contains { ($0 >= 0x41 && $0 <= 0x5A) || $0 >= 0x80 }
        var text = lowered ? Substring(host.lowercased()) : Substring(host)
        if text.hasPrefix("[") && text.hasSuffix("]") && text.count >= 2 { text = text.dropFirst().dropLast() }
        if text == "localhost" { return true }
        if let v4 = ipv4(text) { return v4 >> 24 == 127 }
        if text.contains(":"), let v6 = ipv6Bytes(text) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }

    /// Whether `url` is an absolute http(s) URL (by ``HTTPURLAuthority``'s strict rules) whose
    /// host is loopback.
    public static func isLoopback(url: String) -> Bool {
        HTTPURLAuthority(url).map { isLoopback(host: $0.host) } ?? false
    }

    /// `https://…`, or `http://…` on a loopback host: the base URLs credentials may be sent to.
    public static func isSecureOrLoopback(url: String) -> Bool {
        guard let parts = HTTPURLAuthority(url) else { return false }
        return parts.scheme == "https" || isLoopback(host: parts.host)
    }

    /// Four decimal numbers 0…255 separated by dots, no leading zeros, nothing else.
    static func ipv4Bytes(_ text: Substring) -> [UInt8]? {
        ipv4(text).map { [UInt8($0 >> 24), UInt8($0 >> 16 & 0xFF), UInt8($0 >> 8 & 0xFF), UInt8($0 & 0xFF)] }
    }

    /// ``ipv4Bytes(_:)`` as one number (the first byte highest), read byte by byte.
    static func ipv4(_ text: Substring) -> UInt32? {
        var address: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0, leadingZero = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                address = address << 8 | part
                parts += 1
                part = 0
                digits = 0
                leadingZero = false
                continue
            }
            // A digit after a part's leading 0 is refused ("0" alone is a part; "01" is not).
            guard byte >= 48, byte <= 57, digits < 3, !leadingZero else { return nil }
            if digits == 0 && byte == 48 { leadingZero = true }
            part = part * 10 + UInt32(byte - 48)
            guard part <= 255 else { return nil }
            digits += 1
        }
        guard digits > 0, parts == 3 else { return nil }
        return address << 8 | part
    }

    /// An IPv6 address (RFC 4291 text forms, `::` compression, optional trailing dotted quad) as
    /// 16 bytes; no zone id.
    static func ipv6Bytes(_ text: Substring) -> [UInt8]? {
        guard !text.isEmpty, !text.contains("%") else { return nil }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring, allowQuad: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (i, piece) in pieces.enumerated() {
                if allowQuad && i == pieces.count - 1 && piece.contains(".") {
                    guard let quad = ipv4Bytes(piece) else { return nil }
                    out.append(UInt16(quad[0]) << 8 | UInt16(quad[1]))
                    out.append(UInt16(quad[2]) << 8 | UInt16(quad[3]))
                    continue
                }
                guard (1...4).contains(piece.utf8.count), piece.utf8.allSatisfy(HTTPURLAuthority.isHex),
                      let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        var words: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0], allowQuad: false), let tail = groups(halves[1], allowQuad: true),
                  head.count + tail.count <= 7 else { return nil }
            words = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = groups(halves[0], allowQuad: true), all.count == 8 else { return nil }
            words = all
        }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}

extension Substring {
    /// Splits at each `::` (so `"1::2"` gives `["1", "2"]`, `"::1"` gives `["", "1"]`).
    fileprivate func components(separatedByDoubleColon: Void) -> [Substring] {
        var result: [Substring] = []
        var start = startIndex
        var i = startIndex
        while i < endIndex {
            let next = index(after: i)
            if self[i] == ":" && next < endIndex && self[next] == ":" {
                result.append(self[start..<i])
                start = index(after: next)
                i = start
                continue
            }
            i = next
        }
        result.append(self[start...])
        return result
    }
}

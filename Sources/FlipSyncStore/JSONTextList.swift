/// A list of strings as a JSON array, the text SQLite's `json_each(?)` reads a statement's list
/// parameter from (SKUs, search keys, subjects, agents): one statement for a list of any length.
///
/// Written directly rather than through `JSONEncoder` (a decide task's inputs read is one per
/// task of a sweep): `"` and `\` escaped with a backslash, other characters below U+0020 as
/// `\u00XX`, everything else as it is (valid UTF-8 in, valid UTF-8 out), which `json_each`
/// reads back as the same strings.
enum JSONTextList {
    private static let hex = Array("0123456789abcdef".utf8)
    private static let controlEscape = Array("\\u00".utf8)

    static func encode(_ strings: some Sequence<String>) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        var first = true
        for string in strings {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "\""))
            for byte in string.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case 0..<0x20:
                    bytes.append(contentsOf: controlEscape)
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0xf)])
                default:
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

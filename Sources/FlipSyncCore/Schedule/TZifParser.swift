// MARK: - TZif

struct TZifParser {
    let name: String
    let bytes: [UInt8]

    func fail(_ reason: String) -> ZoneRulesError { .malformed(name, reason: reason) }

    func u32(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    func i64(_ at: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[at + i]) }
        return Int64(bitPattern: value)
    }

    struct Header {
        var version: UInt8
        var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int
    }

    func header(at offset: Int) throws(ZoneRulesError) -> Header {
        guard bytes.count >= offset + 44, bytes[offset..<offset + 4].elementsEqual("TZif".utf8) else {
            throw fail("not a TZif file")
        }
        let counts = (0..<6).map { Int(u32(offset + 20 + $0 * 4)) }
        return Header(version: bytes[offset + 4], isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
                      timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
    }

    func blockSize(_ h: Header, timeSize: Int) -> Int {
        h.timecnt * timeSize + h.timecnt + h.typecnt * 6 + h.charcnt + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt
    }

    func parse() throws(ZoneRulesError) -> ZoneRules {
        let v1 = try header(at: 0)
        var h = v1
        var offset = 44
        var timeSize = 4
        if v1.version >= UInt8(ascii: "2") {
            let second = 44 + blockSize(v1, timeSize: 4)
            h = try header(at: second)
            offset = second + 44
            timeSize = 8
        }
        guard h.typecnt > 0, h.typecnt <= 256, bytes.count >= offset + blockSize(h, timeSize: timeSize) else {
            throw fail("truncated")
        }
        var times: [Int64] = []
        times.reserveCapacity(h.timecnt)
        for i in 0..<h.timecnt {
            let at = offset + i * timeSize
            times.append(timeSize == 8 ? i64(at) : Int64(Int32(bitPattern: u32(at))))
        }
        var cursor = offset + h.timecnt * timeSize
        let indices = Array(bytes[cursor..<cursor + h.timecnt])
        guard indices.allSatisfy({ Int($0) < h.typecnt }) else { throw fail("bad type index") }
        cursor += h.timecnt
        let charsStart = cursor + h.typecnt * 6
        var types: [LocalTimeType] = []
        for i in 0..<h.typecnt {
            let at = cursor + i * 6
            let utoff = Int(Int32(bitPattern: u32(at)))
            let isdst = bytes[at + 4] != 0
            let desig = Int(bytes[at + 5])
            var end = charsStart + desig
            while end < charsStart + h.charcnt && bytes[end] != 0 { end += 1 }
            let abbreviation = desig < h.charcnt ? String(decoding: bytes[(charsStart + desig)..<end], as: UTF8.self) : ""
            types.append(LocalTimeType(utcOffset: utoff, isDST: isdst, abbreviation: abbreviation))
        }
        var rule: PosixZoneRule?
        if timeSize == 8 {
            let footerStart = offset + blockSize(h, timeSize: 8)
            if footerStart < bytes.count, bytes[footerStart] == UInt8(ascii: "\n") {
                var end = footerStart + 1
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                let text = String(decoding: bytes[(footerStart + 1)..<end], as: UTF8.self)
                if !text.isEmpty {
                    guard let parsed = PosixZoneRule(text) else { throw fail("bad TZ rule \"\(text)\"") }
                    rule = parsed
                }
            }
        }
        if times.isEmpty, rule == nil {
            return ZoneRules(identifier: name, fixed: types[0])
        }
        return ZoneRules(identifier: name, times: times, typeIndices: indices, types: types, rule: rule)
    }
}

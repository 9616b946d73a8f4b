import CZlib

/// gzip (RFC 1952) decompression through zlib, for documents an API says are `GZIP`
/// (Amazon's feed result documents). The output is capped: a document that inflates past
/// `limit` bytes is refused, as a response body past `maxResponseBytes` is.
enum Gzip {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func decompress(_ input: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a gzip header and trailer, not a zlib one.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let result: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                output.append(contentsOf: chunk[0..<produced])
                if output.count > limit { return Z_BUF_ERROR }
                if result == Z_STREAM_END { return Z_STREAM_END }
                if result != Z_OK { return result }
                if stream.avail_in == 0 && produced == 0 { return Z_DATA_ERROR }
            }
        }
        guard status == Z_STREAM_END else {
            throw Failure(description: output.count > limit ? "it inflates past \(limit) bytes" : "zlib error \(status)")
        }
        return output
    }
}

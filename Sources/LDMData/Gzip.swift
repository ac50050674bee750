import CZlib
import Foundation
import LDMEngine

/// Gzip decompression through zlib, with the checks a reader of untrusted files needs: the whole stream must be
/// present and end with its trailer (zlib verifies the CRC-32 and length there), and the output may not outgrow
/// `limit` bytes (a small file cannot expand into all of memory).
public enum Gzip {
    /// Whether `bytes` starts with the gzip magic number.
    public static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The decompressed contents of a gzip stream; `path` names the file in errors.
    public static func inflate(_ compressed: [UInt8], path: String, limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: expect a gzip header and trailer (not a raw zlib stream).
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LDMError.invalidFile(path: path, problem: "zlib could not start a gzip stream")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, compressed.count * 4))
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try compressed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                        throw LDMError.invalidFile(path: path, problem: status == Z_BUF_ERROR
                            ? "truncated: the gzip stream ends before its trailer"
                            : "not a valid gzip stream (\(message))")
                    }
                    let produced = chunk - Int(stream.avail_out)
                    guard output.count + produced <= limit else {
                        throw LDMError.invalidFile(path: path, problem: "decompresses to more than \(LDMError.formatBytes(limit)), more than the data it can hold")
                    }
                    output.append(contentsOf: out[0..<produced])
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else {
            throw LDMError.invalidFile(path: path, problem: "truncated: the gzip stream ends before its trailer")
        }
        guard stream.avail_in == 0 else {
            throw LDMError.invalidFile(path: path, problem: "\(stream.avail_in) bytes follow the gzip stream's trailer")
        }
        return output
    }
}

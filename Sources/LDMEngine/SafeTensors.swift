import Foundation

/// The safetensors format (8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
/// and byte range, then the raw little-endian data), float32 only, with string metadata. Writes are atomic
/// (``FileIO/write(_:to:)``), so a crash, SIGINT or SIGKILL never leaves a half-written checkpoint.
///
/// Reading validates the whole header against the file's size before a byte of data is read, as the format's
/// specification requires: the header length fits in the file (and in the format's 100 MB limit), the header is
/// a JSON object, every entry has a dtype, a shape of non-negative integers whose product does not overflow and
/// `data_offsets` that match the shape, the entries together cover the data exactly (no overlap, no holes), and
/// `__metadata__` maps strings to strings.
public enum SafeTensors {
    /// The largest header the format's reference implementation accepts.
    public static let maximumHeaderLength = 100_000_000

    /// The bytes of a safetensors file holding `tensors` (name, values, shape) and `metadata`.
    public static func encode(_ tensors: [(String, [Float], [Int])], metadata: [String: String]) throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var data = Data()
        for (name, values, shape) in tensors {
            guard name != "__metadata__", shape.allSatisfy({ $0 >= 0 }), values.count == TensorShape(shape).count else {
                throw LDMError.shapeMismatch(operation: "SafeTensors.encode", detail: "\(name): \(values.count) values for shape \(shape)")
            }
            let begin = data.count
            values.withUnsafeBufferPointer { data.append($0) }
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [begin, data.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad with spaces so the data is 8-byte aligned
        var length = UInt64(json.count).littleEndian
        var file = Data(bytes: &length, count: 8)
        file.append(json)
        file.append(data)
        return file
    }

    /// Writes `tensors` and `metadata` to `path` atomically.
    public static func write(_ tensors: [(String, [Float], [Int])], metadata: [String: String], to path: String) throws {
        try FileIO.write(try encode(tensors, metadata: metadata), to: path)
    }

    /// The tensors (name → values, shape) and metadata of a file written by ``write(_:metadata:to:)``.
    public static func read(_ path: String) throws -> (tensors: [String: ([Float], [Int])], metadata: [String: String]) {
        try parse(try FileIO.read(path, what: "the checkpoint"), path: path)
    }

    /// Parses the bytes of a safetensors file; `path` names it in errors.
    public static func parse(_ file: [UInt8], path: String) throws -> (tensors: [String: ([Float], [Int])], metadata: [String: String]) {
        func fail(_ problem: String) -> LDMError { .invalidFile(path: path, problem: problem) }
        guard file.count >= 8 else { throw fail("too short for a safetensors file (\(file.count) bytes)") }
        let declared = (0..<8).reduce(UInt64(0)) { $0 | UInt64(file[$1]) << (8 * UInt64($1)) }
        guard declared <= UInt64(file.count - 8), declared <= UInt64(maximumHeaderLength) else {
            throw fail("safetensors header length \(declared) exceeds the file's \(file.count - 8) bytes after the length field "
                + "(or the format's \(maximumHeaderLength)-byte limit)")
        }
        let length = Int(declared)
        guard length >= 2, file[8] == UInt8(ascii: "{") else { throw fail("the safetensors header must be a JSON object starting with '{'") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(file[8..<(8 + length)])) } catch {
            throw fail("the safetensors header is not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw fail("the safetensors header is not a JSON object") }
        let bodyStart = 8 + length, bodyLength = file.count - bodyStart
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, entry) in header where name != "__metadata__" {
            entries.append(try tensorEntry(name, entry, bodyLength: bodyLength, fail: fail))
        }
        // The entries, sorted by offset, must tile the data exactly: no overlap and no hole.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for entry in entries {
            guard entry.begin == covered else {
                throw fail(entry.begin < covered ? "tensor \(entry.name) overlaps the tensor before it"
                                                 : "the data has a hole before tensor \(entry.name) (bytes \(covered)..<\(entry.begin))")
            }
            covered = entry.end
        }
        guard covered == bodyLength else { throw fail("the data holds \(bodyLength) bytes but the tensors describe \(covered)") }
        var tensors: [String: ([Float], [Int])] = [:]
        for entry in entries {
            let base = bodyStart + entry.begin
            let values = (0..<((entry.end - entry.begin) / 4)).map { i -> Float in
                let at = base + 4 * i
                return Float(bitPattern: UInt32(file[at]) | UInt32(file[at + 1]) << 8 | UInt32(file[at + 2]) << 16 | UInt32(file[at + 3]) << 24)
            }
            tensors[entry.name] = (values, entry.shape)
        }
        return (tensors, try metadata(header["__metadata__"], fail: fail))
    }

    /// One tensor's header entry, checked: F32, a shape of non-negative integers, offsets inside the data that
    /// match the shape's byte count.
    private static func tensorEntry(_ name: String, _ entry: Any, bodyLength: Int, fail: (String) -> LDMError) throws
        -> (name: String, shape: [Int], begin: Int, end: Int) {
        guard let info = entry as? [String: Any] else { throw fail("tensor \(name): its header entry is not an object") }
        guard let dtype = info["dtype"] as? String else { throw fail("tensor \(name): no dtype") }
        guard dtype == "F32" else { throw fail("tensor \(name): dtype \(dtype) is not supported (ldm checkpoints are F32)") }
        guard let shapeList = info["shape"] as? [Any], let shape = integers(shapeList), shape.allSatisfy({ $0 >= 0 }) else {
            throw fail("tensor \(name): the shape must be a list of non-negative integers")
        }
        guard let offsetList = info["data_offsets"] as? [Any], let offsets = integers(offsetList), offsets.count == 2,
              offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= bodyLength else {
            throw fail("tensor \(name): data_offsets must be [begin, end] with 0 ≤ begin ≤ end ≤ \(bodyLength)")
        }
        var bytes = 4
        for extent in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= bodyLength else { throw fail("tensor \(name): shape \(shape) is larger than the file's data") }
            bytes = product
        }
        guard offsets[1] - offsets[0] == bytes else {
            throw fail("tensor \(name): data_offsets span \(offsets[1] - offsets[0]) bytes, shape \(shape) needs \(bytes)")
        }
        return (name, shape, offsets[0], offsets[1])
    }

    /// JSON numbers that are exact integers in Int's range (refusing 1.5, 1e300 and booleans).
    private static func integers(_ list: [Any]) -> [Int]? {
        var result: [Int] = []
        for item in list {
            // Foundation marks JSON booleans with objCType "c" (an NSNumber 0 or 1 also bridges to Bool, so `is Bool`
            // cannot tell them apart); integers arrive exact, other numbers as doubles.
            guard let number = item as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
            if ["d", "f"].contains(String(cString: number.objCType)) {
                let double = number.doubleValue
                guard double.rounded() == double, abs(double) < 9.0e15 else { return nil }
            }
            result.append(number.intValue)
        }
        return result
    }

    private static func metadata(_ value: Any?, fail: (String) -> LDMError) throws -> [String: String] {
        guard let value else { return [:] }
        guard let object = value as? [String: Any] else { throw fail("__metadata__ must be an object of strings") }
        var result: [String: String] = [:]
        for (key, item) in object {
            guard let text = item as? String else { throw fail("__metadata__ entry \(key) is not a string") }
            result[key] = text
        }
        return result
    }
}

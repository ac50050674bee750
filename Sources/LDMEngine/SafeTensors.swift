import Foundation
import LDMEngine

/// The safetensors format (8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
/// and byte range, then the raw little-endian data), float32 only, with string metadata. Writes are atomic
/// (a temporary file renamed over the target), so a crash or SIGINT never leaves a half-written checkpoint.
public enum SafeTensors {
    public static func write(_ tensors: [(String, [Float], [Int])], metadata: [String: String], to path: String) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var data = Data()
        for (name, values, shape) in tensors {
            guard values.count == shape.reduce(1, *) else {
                throw LDMError.shapeMismatch(operation: "SafeTensors.write", detail: "\(name): \(values.count) values for shape \(shape)")
            }
            let begin = data.count
            values.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [begin, data.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad with spaces so the data is 8-byte aligned
        var length = UInt64(json.count).littleEndian
        var file = Data(bytes: &length, count: 8)
        file.append(json)
        file.append(data)
        do {
            try file.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// The tensors (name → values, shape) and metadata of a file written by ``write(_:metadata:to:)``.
    public static func read(_ path: String) throws -> (tensors: [String: ([Float], [Int])], metadata: [String: String]) {
        guard let file = FileManager.default.contents(atPath: path) else {
            throw LDMError.invalidFile(path: path, problem: "cannot read the checkpoint")
        }
        guard file.count >= 8 else { throw LDMError.invalidFile(path: path, problem: "too short for a safetensors file") }
        let length = file.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard length > 0, 8 + length <= file.count,
              let header = try? JSONSerialization.jsonObject(with: file.subdata(in: 8..<(8 + length))) as? [String: Any] else {
            throw LDMError.invalidFile(path: path, problem: "unreadable safetensors header")
        }
        let body = file.subdata(in: (8 + length)..<file.count)
        var tensors: [String: ([Float], [Int])] = [:]
        for (name, entry) in header where name != "__metadata__" {
            guard let info = entry as? [String: Any], info["dtype"] as? String == "F32", let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2, offsets[0] <= offsets[1],
                  offsets[1] <= body.count, (offsets[1] - offsets[0]) == 4 * shape.reduce(1, *) else {
                throw LDMError.invalidFile(path: path, problem: "tensor \(name) has a bad header entry")
            }
            let values = body.subdata(in: offsets[0]..<offsets[1]).withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            tensors[name] = (values, shape)
        }
        return (tensors, header["__metadata__"] as? [String: String] ?? [:])
    }
}

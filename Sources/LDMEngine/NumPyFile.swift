import Foundation

/// Reading and writing NumPy `.npy` files: how Python users hand arrays to `ldm` and get results back.
///
/// Reads format versions 1.0–3.0 holding little-endian float32 (`<f4`) or float64 (`<f8`) in C order; float64
/// is rounded to float32. Anything else (integers, big-endian, Fortran order, object arrays, a truncated file)
/// is an ``LDMError/invalidFile(path:problem:)`` naming the file and the problem. Writes float32 in format 1.0,
/// through a temporary file renamed into place, so a reader never sees a half-written array.
///
/// ```swift
/// let (shape, values) = try NumPyFile.read("z1.npy")       // e.g. [256, 128]
/// try NumPyFile.write(values, shape: shape, to: "copy.npy")
/// ```
public enum NumPyFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // "\x93NUMPY"

    /// The array in `path` as float32 values in C order, with its shape.
    public static func read(_ path: String) throws -> (shape: TensorShape, values: [Float]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot read: \((error as NSError).localizedDescription)")
        }
        return try parse([UInt8](data), path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` names it in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws -> (shape: TensorShape, values: [Float]) {
        func fail(_ problem: String) -> LDMError { .invalidFile(path: path, problem: problem) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a NumPy .npy file (bad magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw fail("unsupported .npy format version \(major).\(bytes[7])")
        }
        guard bytes.count >= headerStart + headerLength else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let descr = try value(of: "descr", in: header, path: path)
        let fortran = try value(of: "fortran_order", in: header, path: path)
        let shape = try parseShape(try value(of: "shape", in: header, path: path), path: path)

        guard fortran == "False" else {
            throw fail("arrays in Fortran order are not supported; save with np.ascontiguousarray(x)")
        }
        let width: Int
        switch descr {
        case "'<f4'", "'|f4'": width = 4
        case "'<f8'", "'|f8'": width = 8
        case "'>f4'", "'>f8'": throw fail("big-endian floats (\(descr)) are not supported; use x.astype('<f4')")
        default: throw fail("dtype \(descr) is not supported; expected float32 or float64 (x.astype(np.float32))")
        }
        let count = shape.count
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * width else {
            throw fail("expected \(count * width) data bytes for shape \(shape) (\(descr)), found \(bytes.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            if width == 4 {
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            } else {
                for i in 0..<count {
                    values[i] = Float(Double(bitPattern: UInt64(littleEndian: body.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
        return (shape, values)
    }

    /// Writes `values` (C order) as a float32 `.npy` file of `shape`, atomically.
    public static func write(_ values: [Float], shape: TensorShape, to path: String) throws {
        guard values.count == shape.count else {
            throw LDMError.shapeMismatch(operation: "write \(path)", detail: "\(values.count) values for shape \(shape)")
        }
        let dims = shape.dims.map(String.init)
        let tuple = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }"
        // Pad with spaces so that the data starts on a 64-byte boundary, ending the header with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for v in values {
            let bits = v.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// The text of `key`'s value in the header dictionary (up to the next top-level comma).
    private static func value(of key: String, in header: String, path: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)':") else {
            throw LDMError.invalidFile(path: path, problem: "header has no '\(key)'")
        }
        var depth = 0
        var result = ""
        for character in header[keyRange.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if (character == "," && depth == 0) || character == "}" { break }
            result.append(character)
        }
        return result.trimmingCharacters(in: .whitespaces)
    }

    private static func parseShape(_ text: String, path: String) throws -> TensorShape {
        guard text.hasPrefix("("), text.hasSuffix(")") else {
            throw LDMError.invalidFile(path: path, problem: "malformed shape \(text)")
        }
        let parts = text.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let dims = try parts.filter { !$0.isEmpty }.map { part -> Int in
            guard let d = Int(part), d >= 0 else {
                throw LDMError.invalidFile(path: path, problem: "malformed shape \(text)")
            }
            return d
        }
        let shape = TensorShape(dims)
        try shape.validate(path)
        return shape
    }
}

/// Creates `directory` and its parents for output files, or throws ``LDMError/invalidFile(path:problem:)`` naming
/// it (a file in the way, no permission) instead of Foundation's error.
public func createOutputDirectory(_ directory: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw LDMError.invalidFile(path: directory, problem: "cannot create the output directory (\((error as NSError).localizedDescription))")
    }
}

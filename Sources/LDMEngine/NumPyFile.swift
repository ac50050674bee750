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
        try parse(try FileIO.read(path, what: "the array"), path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` names it in errors. The whole header is validated against the
    /// file's size before a byte of data is read.
    public static func parse(_ bytes: [UInt8], path: String) throws -> (shape: TensorShape, values: [Float]) {
        func fail(_ problem: String) -> LDMError { .invalidFile(path: path, problem: problem) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a NumPy .npy file (bad magic)") }
        let major = bytes[6], minor = bytes[7]
        let headerStart: Int, headerLength: Int
        switch (major, minor) {
        case (1, 0):
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case (2, 0), (3, 0):
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw fail("unsupported .npy format version \(major).\(minor)")
        }
        guard headerLength <= NumPyHeader.maximumLength else {
            throw fail("header of \(headerLength) bytes is longer than NumPy's limit of \(NumPyHeader.maximumLength)")
        }
        guard bytes.count - headerStart >= headerLength else {
            throw fail("truncated header: \(headerLength) bytes declared, \(bytes.count - headerStart) in the file")
        }
        let raw = bytes[headerStart..<(headerStart + headerLength)]
        // Versions 1 and 2 are latin-1, version 3 UTF-8; NumPy itself only ever writes ASCII.
        guard let text = major == 3 ? String(validating: raw, as: UTF8.self) : String(raw.map { Character(Unicode.Scalar($0)) }) else {
            throw fail("the header is not valid UTF-8")
        }
        let header: NumPyHeader
        do { header = try NumPyHeader(parsing: text) } catch let error as NumPyHeader.Malformed {
            throw fail("malformed header: \(error.reason)")
        }
        guard !header.fortranOrder else {
            throw fail("arrays in Fortran order are not supported; save with np.ascontiguousarray(x)")
        }
        let width: Int
        switch header.descr {
        case "<f4", "|f4": width = 4
        case "<f8", "|f8": width = 8
        case ">f4", ">f8": throw fail("big-endian floats ('\(header.descr)') are not supported; use x.astype('<f4')")
        default: throw fail("dtype '\(header.descr)' is not supported; expected float32 or float64 (x.astype(np.float32))")
        }
        let shape = TensorShape(header.shape)
        do { try shape.validate("shape") } catch { throw fail("shape \(shape) has too many elements") }
        let dataStart = headerStart + headerLength
        let (expected, overflow) = shape.count.multipliedReportingOverflow(by: width)
        if !overflow, bytes.count - dataStart > expected {
            // NumPy reads the array and ignores what follows; a longer file than its header says is more likely a
            // wrong header length or two files run together, so it is refused.
            throw fail("\(bytes.count - dataStart - expected) bytes follow the \(expected) data bytes of shape \(shape) "
                + "('\(header.descr)'); the file is longer than its header says")
        }
        guard !overflow, bytes.count - dataStart == expected else {
            throw fail("expected \(overflow ? "more than Int.max" : String(expected)) data bytes for shape \(shape) ('\(header.descr)'), "
                + "found \(bytes.count - dataStart)")
        }
        let count = shape.count
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

    /// The bytes of a float32 `.npy` file (format 1.0) holding `values` (C order) of `shape`.
    public static func encode(_ values: [Float], shape: TensorShape) throws -> Data {
        guard values.count == shape.count else {
            throw LDMError.shapeMismatch(operation: "NumPyFile.encode", detail: "\(values.count) values for shape \(shape)")
        }
        let dims = shape.dims.map(String.init)
        let tuple = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }"
        // Pad with spaces so that the data starts on a 64-byte boundary, ending the header with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = Data(magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        bytes.append(contentsOf: Array(header.utf8))
        // Float's in-memory layout is little-endian IEEE 754 on every platform this package builds for.
        values.withUnsafeBufferPointer { bytes.append($0) }
        return bytes
    }

    /// Writes `values` (C order) as a float32 `.npy` file of `shape`, atomically.
    public static func write(_ values: [Float], shape: TensorShape, to path: String) throws {
        try FileIO.write(try encode(values, shape: shape), to: path)
    }
}

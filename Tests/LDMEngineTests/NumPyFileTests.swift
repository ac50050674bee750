import Foundation
import LDMEngine
import Testing

/// `.npy` interop. Headers below are byte-for-byte what NumPy 2.4's `np.save` writes (format 1.0, padded so the
/// data starts at byte 128).
@Suite("NumPy .npy files")
struct NumPyFileTests {
    static func npy(_ dictionary: String, _ payload: [UInt8], major: UInt8 = 1) -> [UInt8] {
        let header = dictionary + String(repeating: " ", count: 117 - dictionary.utf8.count) + "\n"
        let length = header.utf8.count
        let prefix: [UInt8] = major == 1 ? [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
                                         : [major, 0, UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + prefix + Array(header.utf8) + payload
    }

    static func littleEndian(_ values: [Double]) -> [UInt8] {
        values.flatMap { v in (0..<8).map { UInt8((v.bitPattern >> (8 * UInt64($0))) & 0xFF) } }
    }

    static func littleEndian(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in (0..<4).map { UInt8((v.bitPattern >> (8 * UInt32($0))) & 0xFF) } }
    }

    static var scratch: URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-npy-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func readsFloat64AndFloat32InCOrder() throws {
        let f8 = Self.npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", Self.littleEndian([0, 1, 2, 3, 4, 5.25]))
        let (shape, values) = try NumPyFile.parse(f8, path: "a.npy")
        #expect(shape == [2, 3] && values == [0, 1, 2, 3, 4, 5.25])
        let f4 = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Self.littleEndian([Float(1.5), -2]), major: 2)
        #expect(try NumPyFile.parse(f4, path: "b.npy").values == [1.5, -2])
        let scalar = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Self.littleEndian([Float(3)]))
        let parsed = try NumPyFile.parse(scalar, path: "c.npy")
        #expect(parsed.shape == [] && parsed.values == [3])
    }

    @Test func refusesWhatItCannotReadWithTheReason() {
        let cases: [([UInt8], String)] = [
            (Self.npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", [0, 0, 0, 0, 1, 0, 0, 0]), "dtype '<i4' is not supported"),
            (Self.npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", [0, 0, 0, 0]), "Fortran order"),
            (Self.npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]), "big-endian"),
            (Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", [0, 0, 0, 0]), "expected 12 data bytes"),
            (Array("hello, world".utf8), "bad magic"),
        ]
        for (bytes, reason) in cases {
            let error = #expect(throws: LDMError.self) { try NumPyFile.parse(bytes, path: "in.npy") }
            #expect(error?.description.hasPrefix("in.npy: ") == true)
            #expect(error?.description.contains(reason) == true, "\(String(describing: error)) should say \(reason)")
        }
        let missing = #expect(throws: LDMError.self) { try NumPyFile.read("/nonexistent/z.npy") }
        #expect(missing?.description.hasPrefix("/nonexistent/z.npy: cannot read") == true)
    }

    @Test func writesWhatItReadsAndAlignsTheData() throws {
        let path = Self.scratch.appendingPathComponent("round.npy").path
        let values: [Float] = (0..<35).map { Float($0) * 0.5 - 3 }
        try NumPyFile.write(values, shape: [5, 7], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let back = try NumPyFile.read(path)
        #expect(back.shape == [5, 7] && back.values == values)
        #expect(throws: LDMError.self) { try NumPyFile.write([1, 2], shape: [3], to: path) }
        let unwritable = #expect(throws: LDMError.self) { try NumPyFile.write([1], shape: [1], to: "/nonexistent/dir/x.npy") }
        #expect(unwritable?.description.contains("cannot write") == true)
    }

    static let pythonHasNumPy: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import numpy"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Our bytes equal np.save's for the same float32 array, and NumPy reads ours back.
    @Test(.enabled(if: pythonHasNumPy, "python3 with numpy is not installed"))
    func agreesWithNumPyItself() throws {
        let directory = Self.scratch
        let ours = directory.appendingPathComponent("ours.npy").path, theirs = directory.appendingPathComponent("theirs.npy").path
        let values: [Float] = (0..<12).map { Float($0) / 3 }
        try NumPyFile.write(values, shape: [3, 4], to: ours)
        let script = """
            import numpy as np
            x = np.load('\(ours)'); assert x.dtype == np.float32 and x.shape == (3, 4), (x.dtype, x.shape)
            assert np.array_equal(x, (np.arange(12, dtype=np.float32) / np.float32(3)).reshape(3, 4))
            np.save('\(theirs)', x)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: ours)) == Data(contentsOf: URL(fileURLWithPath: theirs)))
    }
}

import Foundation
import LDMEngine
import LDMReference
import Testing

/// Random mutations of valid `.npy` and safetensors files: whatever the bytes, the readers either return a
/// consistent result or throw an ``LDMError``; a trap would end this test process. The `.npy` cases are also
/// handed to NumPy (when installed): every file NumPy refuses, we refuse, and every float32/float64 C-order file
/// it accepts, we read to the same values.
@Suite("Reader fuzzing")
struct ReaderFuzzTests {
    static let cases = 10_000

    /// Applies one to three random mutations: a header or data byte changed, the file cut, bytes inserted, the
    /// length field rewritten, a number in the header replaced by an extreme one, or a stretch of header repeated.
    static func mutate(_ bytes: [UInt8], headerEnd: Int, lengthField: Range<Int>, _ g: inout SeededGenerator) -> [UInt8] {
        var b = bytes
        let extremes = ["-1", "0", "1", "18446744073709551615", "9223372036854775807", "9223372036854775808", "4294967296",
                        "99999999999999999999", "1.5", "1e300", "-0", "true", "null", "'x'", "3037000500"]
        for _ in 0..<Int.random(in: 1...3, using: &g) {
            guard !b.isEmpty else { break }
            switch Int.random(in: 0..<8, using: &g) {
            case 6, 7:   // a data byte: the file stays valid
                guard headerEnd < b.count else { break }
                b[Int.random(in: headerEnd..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            case 0:   // one byte, usually in the header
                let limit = Bool.random(using: &g) ? min(headerEnd, b.count) : b.count
                b[Int.random(in: 0..<max(limit, 1), using: &g) % b.count] = UInt8.random(in: 0...255, using: &g)
            case 1:
                b = Array(b.prefix(Int.random(in: 0..<b.count, using: &g)))
            case 2:
                let at = Int.random(in: 0...b.count, using: &g)
                b.insert(contentsOf: (0..<Int.random(in: 1...9, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }, at: at)
            case 3:   // the length field: a small shift or anything at all
                guard lengthField.upperBound <= b.count else { break }
                for i in lengthField {
                    b[i] = Bool.random(using: &g) ? UInt8.random(in: 0...255, using: &g) : b[i] &+ UInt8.random(in: 0...2, using: &g)
                }
            case 4:   // a header number replaced by an extreme value
                let digits = b.indices.filter { $0 < min(headerEnd, b.count) && (0x30...0x39).contains(b[$0]) }
                guard let at = digits.randomElement(using: &g) else { break }
                var end = at
                while end < b.count, (0x30...0x39).contains(b[end]) { end += 1 }
                b.replaceSubrange(at..<end, with: Array(extremes.randomElement(using: &g)!.utf8))
            default:  // a header token duplicated (duplicate keys, doubled commas and braces)
                let at = Int.random(in: 0..<max(min(headerEnd, b.count), 1), using: &g) % b.count
                let span = Array(b[at..<min(at + Int.random(in: 1...24, using: &g), b.count)])
                b.insert(contentsOf: span, at: at)
            }
        }
        return b
    }

    static func validNpy(_ g: inout SeededGenerator) throws -> [UInt8] {
        let rank = Int.random(in: 0...3, using: &g)
        let shape = TensorShape((0..<rank).map { _ in Int.random(in: 0...4, using: &g) })
        let values = (0..<shape.count).map { _ in Float.random(in: -2...2, using: &g) }
        return [UInt8](try NumPyFile.encode(values, shape: shape))
    }

    /// Mutated `.npy` files, each parsed; returns them with what we made of them.
    static func npyCases() throws -> [(bytes: [UInt8], parsed: (TensorShape, [Float])?, error: String)] {
        var g = SeededGenerator(seed: 0x6e70_79)
        return try (0..<cases).map { _ in
            let valid = try validNpy(&g)
            let headerEnd = 10 + (Int(valid[8]) | Int(valid[9]) << 8)
            let bytes = mutate(valid, headerEnd: headerEnd, lengthField: 8..<10, &g)
            do {
                let (shape, values) = try NumPyFile.parse(bytes, path: "fuzz.npy")
                #expect(values.count == shape.count && shape.dims.allSatisfy { $0 >= 0 })
                return (bytes, (shape, values), "")
            } catch let error as LDMError {
                #expect(error.description.hasPrefix("fuzz.npy: "), "\(error)")
                return (bytes, nil, error.description)
            } catch {
                Issue.record("a non-LDMError escaped the .npy reader: \(error)")
                return (bytes, nil, "\(error)")
            }
        }
    }

    @Test func npyReaderNeverTrapsAndRefusesWithLDMError() throws {
        let start = Date()
        let results = try Self.npyCases()
        let accepted = results.filter { $0.parsed != nil }.count
        // The mutations must exercise both outcomes, or the test proves little.
        #expect(accepted > 20 && accepted < Self.cases - 500, "\(accepted) of \(Self.cases) mutated files accepted")
        print("npy fuzz: \(Self.cases) cases, \(accepted) accepted, \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }

    /// NumPy's verdict on the same mutated files: refused by NumPy ⇒ refused by us; accepted as little-endian
    /// float32/float64 in C order ⇒ the same shape and values, except where we are stricter by design (bytes after
    /// the array, an absurd extent in an empty array).
    @Test(.enabled(if: pythonHasNumPy, "python3 with numpy is not installed"))
    func npyReaderAgreesWithNumPy() throws {
        let results = try Self.npyCases()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, result) in results.enumerated() {
            try Data(result.bytes).write(to: directory.appendingPathComponent("\(index).npy"))
        }
        // One line per file: "refused", "other" (a dtype or order we do not read) or the shape and float32 values.
        let script = """
            import numpy as np, sys, warnings
            warnings.simplefilter('ignore')
            for i in range(\(Self.cases)):
                try:
                    x = np.load('\(directory.path)/%d.npy' % i, allow_pickle=False)
                except Exception:
                    print('refused'); continue
                if x.dtype not in (np.dtype('<f4'), np.dtype('<f8')) or (x.ndim > 1 and not x.flags.c_contiguous):
                    print('other'); continue
                print(' '.join(map(str, x.shape)) + ';' + ' '.join(str(v.view(np.uint32)) for v in x.astype(np.float32).ravel()))
            """
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let verdicts = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try #require(verdicts.count >= Self.cases)
        var (bothRefused, bothRead) = (0, 0)
        for (index, result) in results.enumerated() {
            let verdict = verdicts[index]
            if verdict == "refused" {
                #expect(result.parsed == nil, "case \(index): NumPy refuses it but we read \(String(describing: result.parsed?.0))")
                bothRefused += 1
            } else if verdict != "other" {
                let parts = verdict.split(separator: ";", omittingEmptySubsequences: false)
                let shape = parts[0].split(separator: " ").compactMap { Int($0) }
                let bits = parts[1].split(separator: " ").compactMap { UInt32($0) }
                guard let (ourShape, values) = result.parsed else {
                    // Stricter than NumPy by design: bytes after the array are refused, not ignored.
                    if result.error.contains("the file is longer than its header says") { continue }
                    // And an extent beyond TensorShape's limit is refused even when another extent is 0.
                    if result.error.contains("too many elements") && shape.contains(0) { continue }
                    Issue.record("case \(index): NumPy reads shape \(shape) but we refuse it: \(result.error)")
                    continue
                }
                #expect(ourShape.dims == shape && values.map(\.bitPattern) == bits, "case \(index)")
                bothRead += 1
            }
        }
        #expect(bothRefused > 100 && bothRead > 20, "\(bothRefused) refused and \(bothRead) read by both")
    }

    @Test func safetensorsReaderNeverTrapsAndRefusesWithLDMError() throws {
        var g = SeededGenerator(seed: 0x7374)
        let start = Date()
        var accepted = 0
        for _ in 0..<Self.cases {
            let tensors = (0..<Int.random(in: 1...3, using: &g)).map { i -> (String, [Float], [Int]) in
                let shape = (0..<Int.random(in: 0...3, using: &g)).map { _ in Int.random(in: 0...3, using: &g) }
                return ("t\(i)", (0..<TensorShape(shape).count).map { _ in Float.random(in: -1...1, using: &g) }, shape)
            }
            let valid = [UInt8](try SafeTensors.encode(tensors, metadata: ["epochs": "3", "seed": "7"]))
            let headerEnd = 8 + (0..<8).reduce(0) { $0 | Int(valid[$1]) << (8 * $1) }
            let bytes = Self.mutate(valid, headerEnd: headerEnd, lengthField: 0..<8, &g)
            do {
                let (read, _) = try SafeTensors.parse(bytes, path: "fuzz.safetensors")
                for (values, shape) in read.values {
                    #expect(values.count == TensorShape(shape).count && shape.allSatisfy { $0 >= 0 })
                }
                accepted += 1
            } catch let error as LDMError {
                #expect(error.description.hasPrefix("fuzz.safetensors: "), "\(error)")
            } catch {
                Issue.record("a non-LDMError escaped the safetensors reader: \(error)")
            }
        }
        #expect(accepted > 20 && accepted < Self.cases - 500, "\(accepted) of \(Self.cases) mutated files accepted")
        print("safetensors fuzz: \(Self.cases) cases, \(accepted) accepted, \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }

    static let pythonHasNumPy = NumPyFileTests.pythonHasNumPy
}

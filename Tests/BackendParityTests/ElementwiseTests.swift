import Foundation
import LDMEngine
import LDMReference
import Testing

/// elementwise.cl (add, scale, axpy) and the memory operations (fill, ranged copies) against the Double reference;
/// exactly rounded operations to 1e-7.
@Suite("elementwise.cl")
struct ElementwiseTests {
    @Test(arguments: TestBackends.all, [1, 31, 33, 1000, 300_001])
    func matchesTheReference(_ name: String, _ count: Int) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(count))
        let hostA = generator.floats(count, outliers: true), hostB = generator.floats(count, outliers: true)
        let a = try backend.upload(hostA, shape: [count]), b = try backend.upload(hostB, shape: [count])
        let out = try backend.makeTensor([count])
        try backend.add(a, b, into: out)
        expectClose(try backend.download(out), Reference.add(hostA, hostB), tolerance: Tolerance.exact, "add \(count)")
        try backend.scale(a, by: -1.5, into: out)
        expectClose(try backend.download(out), Reference.scale(hostA, by: -1.5), tolerance: Tolerance.exact, "scale \(count)")
        try backend.copy(b, to: out)
        try backend.axpy(0.75, a, out)
        // axpy may fuse the multiply-add (one rounding instead of two): float32 tolerance.
        expectClose(try backend.download(out), Reference.axpy(0.75, hostA, hostB), tolerance: Tolerance.float32,
                    "axpy \(count)")
        try backend.scale(out, by: 2, into: out)   // aliasing output and input is allowed
        expectClose(try backend.download(out), Reference.axpy(0.75, hostA, hostB).map { 2 * $0 },
                    tolerance: Tolerance.float32, "scale in place \(count)")
        if count >= 4 {   // ranged copies: stack two halves in swapped order, then refuse an overlap
            let half = count / 2
            let swapped = try backend.makeTensor([count])
            try backend.fill(swapped, with: 0)
            try backend.copy(a, offset: 0, to: swapped, offset: count - half, count: half)
            try backend.copy(a, offset: half, to: swapped, offset: 0, count: count - half)
            #expect(try backend.download(swapped) == Array(hostA[half...]) + Array(hostA[..<half]), "ranged copy \(count)")
            #expect(throws: LDMError.self) { try backend.copy(a, offset: 0, to: a, offset: 1, count: 2) }
            #expect(throws: LDMError.self) { try backend.copy(a, offset: 1, to: swapped, offset: 0, count: count) }
        }
        try backend.fill(out, with: 3.25)
        #expect(try backend.download(out).allSatisfy { $0 == 3.25 }, "fill \(count)")
    }

    /// scale is linear, so its backward is the same scale: L(x) = Σ g ⊙ (α·x).
    @Test(arguments: TestBackends.all)
    func scaleBackwardMatchesFiniteDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 9)
        let hostX = generator.floats(30), hostG = generator.floats(30)
        let g = try backend.upload(hostG, shape: [30]), gx = try backend.makeTensor([30])
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in zip(x, hostG).reduce(0) { $0 - 2.5 * $1.0 * Double($1.1) } }
        try backend.scale(g, by: -2.5, into: gx)
        expectClose(try backend.download(gx), expected, tolerance: Tolerance.gradient, "scale backward on \(name)")
    }
}

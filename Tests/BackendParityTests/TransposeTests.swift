import Foundation
import LDMEngine
import LDMReference
import Testing

/// transpose.cl on every backend against the Double reference (exact), and its backward.
@Suite("transpose.cl")
struct TransposeTests {
    static let cases: [TransposeShape] = [
        TransposeShape(rows: 1, columns: 1), TransposeShape(rows: 7, columns: 33),
        TransposeShape(rows: 1000, columns: 31), TransposeShape(batch: 3, rows: 17, columns: 65),
        TransposeShape(batch: 2, rows: 0, columns: 5),
    ]

    @Test(arguments: TestBackends.all, cases)
    func matchesTheReference(_ name: String, _ s: TransposeShape) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(s.count + 5))
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [s.count]), out = try backend.makeTensor([s.count])
        try backend.transpose(x, into: out, s)
        expectClose(try backend.download(out), Reference.transpose(hostX, s), tolerance: Tolerance.exact,
                    "transpose \(s) on \(backend.info)")
    }

    /// transpose is linear: its backward is the transpose with rows and columns swapped. L(x) = Σ g ⊙ xᵀ.
    @Test(arguments: TestBackends.all)
    func backwardMatchesFiniteDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = TransposeShape(batch: 2, rows: 3, columns: 5)
        var generator = SeededGenerator(seed: 9)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.count)
        let g = try backend.upload(hostG, shape: [s.count]), gx = try backend.makeTensor([s.count])
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in
            zip(Reference.transpose(x, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        try backend.transpose(g, into: gx, TransposeShape(batch: 2, rows: 5, columns: 3))
        expectClose(try backend.download(gx), expected, tolerance: Tolerance.gradient, "transpose backward on \(name)")
    }
}

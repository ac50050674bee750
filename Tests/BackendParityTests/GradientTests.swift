import LDMEngine
import LDMReference
import Testing

/// Gradients computed by each backend's kernels against central finite differences of the Double reference
/// (SPEC §9: relative error < 1e-4).
@Suite("Gradients against finite differences")
struct GradientTests {
    static let tolerance = 1e-4

    static var backends: [String] {
        TestBackends.cpuNames + (TestBackends.openCLEnabled ? TestBackends.openCLNames : [])
    }

    static let matmulShapes: [MatmulShape] = [
        MatmulShape(m: 3, n: 4, k: 5), MatmulShape(m: 3, n: 4, k: 5, transposeA: true),
        MatmulShape(m: 3, n: 4, k: 5, transposeB: true), MatmulShape(m: 2, n: 3, k: 4, transposeA: true, transposeB: true, alpha: 0.5),
        MatmulShape(batch: 2, m: 3, n: 2, k: 4, transposeB: true),
    ]

    /// L(A, B) = Σ G ⊙ (α·op(A)·op(B)); `matmulBackward` must give ∂L/∂A and ∂L/∂B.
    @Test(arguments: backends, matmulShapes)
    func matmul(_ name: String, _ s: MatmulShape) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 42)
        let hostA = generator.floats(s.requiredA), hostB = generator.floats(s.requiredB)
        let hostG = generator.floats(s.requiredC)
        let zeros = [Double](repeating: 0, count: s.requiredC)
        let loss = { (a: [Double], b: [Double]) -> Double in
            zip(Reference.matmul(a, b, zeros, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let a64 = hostA.map(Double.init), b64 = hostB.map(Double.init)
        let expectedA = finiteDifferenceGradient(a64) { loss($0, b64) }
        let expectedB = finiteDifferenceGradient(b64) { loss(a64, $0) }

        let a = try backend.upload(hostA, shape: [s.requiredA]), b = try backend.upload(hostB, shape: [s.requiredB])
        let g = try backend.upload(hostG, shape: [s.requiredC])
        let ga = try backend.makeTensor([s.requiredA]), gb = try backend.makeTensor([s.requiredB])
        try backend.matmulBackward(g, a, b, s, gradA: ga, gradB: gb)
        expectClose(try backend.download(ga), expectedA, tolerance: Self.tolerance, "∂/∂A \(s) on \(name)")
        expectClose(try backend.download(gb), expectedB, tolerance: Self.tolerance, "∂/∂B \(s) on \(name)")
    }

    /// L(x) = Σ_i g_i · reduce(x)_i; `reduceRowsBackward` must give ∂L/∂x.
    @Test(arguments: backends, RowReduction.allCases)
    func reduceRows(_ name: String, _ reduction: RowReduction) throws {
        let backend = try TestBackends.named(name)
        let s = RowsShape(rows: 4, columns: 9)
        var generator = SeededGenerator(seed: 7)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.rows)
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in
            zip(Reference.reduceRows(x, reduction, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), y = try backend.makeTensor([s.rows])
        let g = try backend.upload(hostG, shape: [s.rows]), gx = try backend.makeTensor([s.rows, s.columns])
        try backend.reduceRows(x, into: y, reduction, s)
        try backend.reduceRowsBackward(x, y, g, into: gx, reduction, s)
        expectClose(try backend.download(gx), expected, tolerance: Self.tolerance, "\(reduction) backward on \(name)")
    }

    /// L(x) = Σ g ⊙ normalize(x); `normalizeRowsBackward` must give ∂L/∂x.
    @Test(arguments: backends)
    func normalizeRows(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = RowsShape(rows: 5, columns: 7)
        var generator = SeededGenerator(seed: 11)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.count)
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in
            zip(Reference.normalizeRows(x, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let x = try backend.upload(hostX, shape: [5, 7]), out = try backend.makeTensor([5, 7])
        let norms = try backend.makeTensor([5]), g = try backend.upload(hostG, shape: [5, 7])
        let dx = try backend.makeTensor([5, 7])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        try backend.normalizeRowsBackward(out, norms, g, into: dx, s)
        expectClose(try backend.download(dx), expected, tolerance: Self.tolerance, "normalize backward on \(name)")
    }

    /// The linear kernels are their own backward: transpose's is the transpose with rows and columns
    /// swapped, scale's is the same scale. L(x) = Σ g ⊙ f(x).
    @Test(arguments: backends)
    func linearKernels(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = TransposeShape(batch: 2, rows: 3, columns: 5)
        var generator = SeededGenerator(seed: 9)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.count)
        let dot = { (y: [Double]) in zip(y, hostG).reduce(0) { $0 + $1.0 * Double($1.1) } }
        let g = try backend.upload(hostG, shape: [s.count]), gx = try backend.makeTensor([s.count])

        let expectedT = finiteDifferenceGradient(hostX.map(Double.init)) { dot(Reference.transpose($0, s)) }
        try backend.transpose(g, into: gx, TransposeShape(batch: 2, rows: 5, columns: 3))
        expectClose(try backend.download(gx), expectedT, tolerance: Self.tolerance, "transpose backward on \(name)")

        let expectedS = finiteDifferenceGradient(hostX.map(Double.init)) { dot($0.map { -2.5 * $0 }) }
        try backend.scale(g, by: -2.5, into: gx)
        expectClose(try backend.download(gx), expectedS, tolerance: Self.tolerance, "scale backward on \(name)")
    }
}

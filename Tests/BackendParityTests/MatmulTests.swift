import Foundation
import LDMEngine
import LDMReference
import Testing

/// matmul.cl (through CLBlast and through Kernels/matmul.cl on OpenCL, OpenBLAS on the CPU) against the Double
/// reference on odd and degenerate shapes, and its backward (``Backend/matmulBackward``) against central differences.
@Suite("matmul.cl")
struct MatmulTests {
    /// Odd sizes, degenerate sizes, every transpose combination, α/β, batches with padding and a shared
    /// operand (stride 0).
    static let cases: [MatmulShape] = {
        var cases: [MatmulShape] = []
        for (m, n, k) in [(1, 1, 1), (7, 33, 31), (33, 1, 7), (1000, 7, 33), (31, 1000, 3), (17, 19, 1000)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                cases.append(MatmulShape(m: m, n: n, k: k, transposeA: ta, transposeB: tb))
            }
        }
        cases.append(MatmulShape(m: 9, n: 5, k: 13, alpha: 0.5, beta: 0.25))
        cases.append(MatmulShape(m: 4, n: 6, k: 0, alpha: 1, beta: 0.5))                         // empty sum
        cases.append(MatmulShape(batch: 5, m: 7, n: 9, k: 11, transposeB: true))
        cases.append(MatmulShape(batch: 3, m: 33, n: 17, k: 5, transposeA: true, beta: 1))
        cases.append(MatmulShape(batch: 4, m: 6, n: 5, k: 7, strideA: 0))                         // shared A
        cases.append(MatmulShape(batch: 3, m: 5, n: 4, k: 3, strideA: 20, strideB: 15, strideC: 25))  // padded
        // Sizes the CPU backend splits over its threads: by rows, by columns (one row), a batch whose products are
        // split by rows, and a skinny product whose depth is split.
        cases.append(MatmulShape(m: 300, n: 40, k: 50, transposeA: true, beta: 0.5))
        cases.append(MatmulShape(m: 1, n: 3000, k: 200, transposeB: true))
        cases.append(MatmulShape(batch: 3, m: 70, n: 64, k: 64, transposeA: true))
        cases.append(MatmulShape(m: 3, n: 4, k: 20_000, transposeA: true, alpha: 0.5, beta: 0.25))
        return cases
    }()

    /// The product against the Double reference (β = 0 must not read C: it starts as NaN).
    @Test(arguments: TestBackends.withKernelMatmul, cases)
    func matchesTheReference(_ name: String, _ s: MatmulShape) throws {
        let backend = try TestBackends.named(name)
        let seed: UInt64 = 1
        var generator = SeededGenerator(seed: seed &+ UInt64(s.m * 131 + s.n * 17 + s.k))
        let hostA = generator.floats(s.requiredA, outliers: true), hostB = generator.floats(s.requiredB, outliers: true)
        var hostC = generator.floats(s.requiredC)
        if s.beta == 0 { hostC = hostC.map { _ in .nan } }   // β = 0 must not read C
        let a = try backend.upload(hostA, shape: [s.requiredA]), b = try backend.upload(hostB, shape: [s.requiredB])
        let c = try backend.upload(hostC, shape: [s.requiredC])
        try backend.matmul(a, b, into: c, s)
        var expected = Reference.matmul(hostA, hostB, hostC, s)
        var got = try backend.download(c)
        // Entries of C between padded batches are not part of the product: compare only the product's.
        if s.strideC > s.m * s.n {
            let inside = (0..<s.requiredC).filter { ($0 % s.strideC) < s.m * s.n }
            expected = inside.map { expected[$0] }
            got = inside.map { got[$0] }
        }
        expectClose(got, expected, tolerance: Tolerance.float32, "matmul \(s) on \(backend.info)")
    }

    static let gradientShapes: [MatmulShape] = [
        MatmulShape(m: 3, n: 4, k: 5), MatmulShape(m: 3, n: 4, k: 5, transposeA: true),
        MatmulShape(m: 3, n: 4, k: 5, transposeB: true), MatmulShape(m: 2, n: 3, k: 4, transposeA: true, transposeB: true, alpha: 0.5),
        MatmulShape(batch: 2, m: 3, n: 2, k: 4, transposeB: true),
    ]

    /// L(A, B) = Σ G ⊙ (α·op(A)·op(B)); `matmulBackward` must give ∂L/∂A and ∂L/∂B.
    @Test(arguments: TestBackends.withKernelMatmul, gradientShapes)
    func backwardMatchesFiniteDifferences(_ name: String, _ s: MatmulShape) throws {
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
        expectClose(try backend.download(ga), expectedA, tolerance: Tolerance.gradient, "∂/∂A \(s) on \(name)")
        expectClose(try backend.download(gb), expectedB, tolerance: Tolerance.gradient, "∂/∂B \(s) on \(name)")
    }
}

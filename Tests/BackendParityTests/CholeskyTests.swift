import Foundation
import LDMEngine
import LDMReference
import Testing

/// cholesky.cl on every backend: factors against the Double Cholesky, solves by their residual, and the Gaussian
/// log-det entropy built on them (value against the Double reference, gradient against central differences,
/// jitter on a singular covariance). The solves' gradients are checked where they are used (ICA, the Gaussian
/// model with a covariance).
@Suite("cholesky.cl")
struct CholeskyTests {
    /// A symmetric positive definite n × n matrix: G·Gᵀ/n + I for a seeded G.
    static func spd(_ n: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        let g = generator.floats(n * n)
        var a = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var total: Float = 0
                for t in 0..<n { total += g[i * n + t] * g[j * n + t] }
                a[i * n + j] = total / Float(n) + (i == j ? 1 : 0)
            }
        }
        return a
    }

    @Test(arguments: TestBackends.all, [1, 7, 33, 130])
    func factorsMatchTheReference(_ name: String, _ n: Int) throws {
        let backend = try TestBackends.named(name)
        let batch = 3
        let host = (0..<batch).flatMap { Self.spd(n, seed: UInt64(n * 10 + $0)) }
        let a = try backend.upload(host, shape: [batch, n, n]), factor = try backend.makeTensor([batch, n, n])
        let jitter = try backend.cholesky(a, into: factor, CholeskyShape(batch: batch, n: n))
        #expect(jitter == 0)
        let expected = (0..<batch).flatMap { b in
            Reference.cholesky(host[(b * n * n)..<((b + 1) * n * n)].map(Double.init), n: n)!
        }
        expectClose(try backend.download(factor), expected, tolerance: Tolerance.float32,
                    "cholesky \(batch)x\(n) on \(name)")
    }

    @Test(arguments: TestBackends.all)
    func aSingularMemberGetsJitter(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let n = 4
        var host = Self.spd(n, seed: 1) + Self.spd(n, seed: 2)
        for j in 0..<n { host[n * n + 3 * n + j] = 0; host[n * n + j * n + 3] = 0 }   // matrix 1: a zero row and column
        let a = try backend.upload(host, shape: [2, n, n]), factor = try backend.makeTensor([2, n, n])
        let jitter = try backend.cholesky(a, into: factor, CholeskyShape(batch: 2, n: n))
        #expect(jitter > 0)
        #expect(try backend.download(factor).allSatisfy { $0.isFinite })
    }

    /// (96, 200) is large enough for the CPU backend to split the right-hand sides over its threads.
    @Test(arguments: TestBackends.all, [(false, false, 9, 5), (false, true, 9, 5), (true, false, 9, 5), (true, true, 9, 5),
                                        (false, true, 96, 200), (true, false, 96, 200)])
    func solvesLeaveASmallResidual(_ name: String, _ variant: (Bool, Bool, Int, Int)) throws {
        let backend = try TestBackends.named(name)
        let (left, transposed, n, other) = variant
        let (rows, columns) = left ? (n, other) : (other, n)
        let lower = Reference.cholesky(Self.spd(n, seed: 3).map(Double.init), n: n)!
        var generator = SeededGenerator(seed: 4)
        let hostB = generator.floats(rows * columns)
        let factor = try backend.upload(lower.map(Float.init), shape: [n, n]), b = try backend.upload(hostB, shape: [rows, columns])
        let shape = TriangularSolveShape(rows: rows, columns: columns, left: left, transposed: transposed, alpha: 0.5)
        try backend.triangularSolve(factor, b, shape)
        let x = try backend.download(b).map(Double.init)
        // op(L)[i][j]
        let op = { (i: Int, j: Int) -> Double in transposed ? lower[j * n + i] : lower[i * n + j] }
        var product = [Double](repeating: 0, count: rows * columns)   // X·op(L) or op(L)·X
        for i in 0..<rows {
            for j in 0..<columns {
                product[i * columns + j] = left ? (0..<n).reduce(0) { $0 + op(i, $1) * x[$1 * columns + j] }
                                                : (0..<n).reduce(0) { $0 + x[i * columns + $1] * op($1, j) }
            }
        }
        expectClose(product.map(Float.init), hostB.map { 0.5 * Double($0) }, tolerance: Tolerance.float32,
                    "triangularSolve \(shape) residual on \(name)")
    }

    @Test(arguments: TestBackends.all, [(9, 4), (33, 7), (300, 31), (2048, 64)])
    func valueAndGradientMatchTheReference(_ name: String, _ size: (Int, Int)) throws {
        let cpu = try TestBackends.named(name)
        let (b, d) = size
        var generator = SeededGenerator(seed: UInt64(b * d))
        let host = generator.floats(b * d)
        let z = try cpu.upload(host, shape: [b, d]), gradient = try cpu.makeTensor([b, d])
        let result = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: b, dimension: d))
        let z64 = host.map(Double.init)
        let expected = try #require(Reference.gaussianLogDetEntropy(z64, d: d))
        #expect(result.jitter == 0)
        #expect(abs(result.value - expected) <= 1e-5 * max(1, abs(expected)), "\(result.value) vs \(expected)")
        if b * d <= 300 {   // finite differences cost b·d evaluations of a b·d² reference
            let fd = finiteDifferenceGradient(z64) { Reference.gaussianLogDetEntropy($0, d: d)! }
            expectClose(try cpu.download(gradient), fd, tolerance: Tolerance.gradient, "∂/∂z \(b)x\(d) on \(name)")
        }
    }

    @Test(arguments: TestBackends.all)
    func singularCovarianceGetsJitter(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        // A constant column has exactly zero variance on any backend, so Cholesky meets a zero pivot with ε = 0
        // and the jitter policy must step in.
        var generator = SeededGenerator(seed: 4)
        var host: [Float] = []
        for _ in 0..<20 { host += [Float(generator.normal()), Float(generator.normal()), 0.5] }
        let z = try cpu.upload(host, shape: [20, 3]), gradient = try cpu.makeTensor([20, 3])
        let result = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 20, dimension: 3, epsilon: 0))
        #expect(result.jitter > 0)
        #expect(result.value.isFinite)
        #expect(try cpu.download(gradient).allSatisfy { $0.isFinite })
    }

    @Test(arguments: TestBackends.all)
    func refusesBadShapesAndEpsilon(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        let z = try cpu.makeTensor([4, 2]), gradient = try cpu.makeTensor([4, 2])
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 2, dimension: 4, epsilon: -1)) }
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: z, LogDetShape(rows: 4, dimension: 2)) }
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 1, dimension: 8)) }
    }
}

import CBLAS
import Foundation
import LDMEngine

/// cholesky.cl family, log-det (CPU twin): the Gaussian log-determinant entropy `½·log det(C)`, `C = Z_cᵀZ_c/(B−1) + εI`, and its
/// gradient `∂/∂z = Z_c·C⁻¹/(B−1)` (the mean's own gradient vanishes because the rows of Z_c sum to zero).
///
/// C comes from one symmetric rank-k update (`ssyrk`), its factor from ``cholesky(_:into:_:)`` (LAPACK's
/// `spotrf` with the docs/mathematics.md §9 jitter policy; the jitter used is returned); the gradient is two triangular solves
/// against the factor, never an explicit inverse.
extension CPUBackend {
    public func uncheckedGaussianLogDet(_ z: Tensor, gradient: Tensor, _ s: LogDetShape) throws -> LogDetResult {
        let op = "gaussianLogDet \(s)"
        let pz = try floats(z, op), pg = try floats(gradient, op)
        let (b, d) = (s.rows, s.dimension)

        // Z_c = Z − mean, kept in the gradient's memory (the solves overwrite it with the gradient).
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<b { for k in 0..<d { mean[k] += Double(pz[i * d + k]) } }
        let means = mean.map { Float($0 / Double(b)) }
        Parallel.forChunks(b, threads: threads, costPerItem: d) { rows in
            for i in rows { for k in 0..<d { pg[i * d + k] = pz[i * d + k] - means[k] } }
        }

        // The lower triangle (row-major) of C = Z_cᵀZ_c/(B−1) + εI, then its factor with the jitter policy.
        let covariance = try makeTensor([d, d]), factor = try makeTensor([d, d])
        let pc = try floats(covariance, op), pl = try floats(factor, op)
        syrkLowerTransposed(n: d, k: b, alpha: 1 / Float(b - 1), pg, lda: d, pc, ldc: d)
        for k in 0..<d { pc[k * d + k] += s.epsilon }
        let jitter = try cholesky(covariance, into: factor, CholeskyShape(n: d))
        var value = 0.0   // ½·log det C = Σ log L_kk
        for k in 0..<d { value += log(Double(pl[k * d + k])) }

        // ∂/∂z = Z_c·C⁻¹/(B−1) = Z_c·L⁻ᵀ·L⁻¹/(B−1), two solves against the factor.
        try triangularSolve(factor, gradient, TriangularSolveShape(rows: b, columns: d, left: false, transposed: true,
                                                                   alpha: 1 / Float(b - 1)))
        try triangularSolve(factor, gradient, TriangularSolveShape(rows: b, columns: d, left: false, transposed: false))
        return LogDetResult(value: value, jitter: jitter)
    }
}

import CBLAS
import Foundation
import LDMEngine

/// logdet (CPU): the Gaussian log-determinant entropy `½·log det(C)`, `C = Z_cᵀZ_c/(B−1) + εI`, and its
/// gradient `∂/∂z = Z_c·C⁻¹/(B−1)` (the mean's own gradient vanishes because the rows of Z_c sum to zero).
///
/// C comes from one symmetric rank-k update (`ssyrk`), its Cholesky factor from LAPACK's `spotrf`; the
/// gradient is two triangular solves against the factor (`strsm`), never an explicit inverse. When the
/// factorisation fails, jitter `1e-6·mean(diag C)` is added and grown ×10 up to five times (SPEC §9); the jitter
/// used is returned.
extension CPUBackend {
    /// Jitter tries before giving up (SPEC §9).
    static let jitterTries = 5

    public func gaussianLogDet(_ z: Tensor, gradient: Tensor, _ s: LogDetShape) throws -> LogDetResult {
        try s.validate(z: z, gradient: gradient)
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

        // Upper triangle (row-major) of C = Z_cᵀZ_c/(B−1) + εI: the lower triangle in LAPACK's column-major view.
        let covariance = try makeTensor([d, d]), factor = try makeTensor([d, d])
        let pc = try floats(covariance, op), pu = try floats(factor, op)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(b), 1 / Float(b - 1), pg, Int32(d),
                    0, pc, Int32(d))
        var meanDiagonal = 0.0
        for k in 0..<d {
            pc[k * d + k] += s.epsilon
            meanDiagonal += Double(pc[k * d + k]) / Double(d)
        }

        var jitter: Float = 0
        var factored = false
        for attempt in 0...Self.jitterTries {
            if attempt > 0 { jitter = Float(1e-6 * meanDiagonal * pow(10, Double(attempt - 1))) }
            pu.update(from: pc, count: d * d)
            for k in 0..<d { pu[k * d + k] += jitter }
            var n = Int32(d), lda = Int32(d), info: Int32 = 0
            var uplo = CChar(UInt8(ascii: "L"))
            spotrf_(&uplo, &n, pu, &lda, &info)
            if info == 0 {
                factored = true
                break
            }
        }
        guard factored else {
            throw LDMError.notPositiveDefinite(what: "the covariance of z (\(s))",
                                               detail: "Cholesky failed even with jitter \(jitter) on the diagonal")
        }
        // In row-major terms the factor is upper triangular U with C = UᵀU, so ½·log det C = Σ log U_kk.
        var value = 0.0
        for k in 0..<d { value += log(Double(pu[k * d + k])) }

        // ∂/∂z = Z_c·C⁻¹/(B−1) = Z_c·U⁻¹·U⁻ᵀ/(B−1).
        cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(b), Int32(d),
                    1 / Float(b - 1), pu, Int32(d), pg, Int32(d))
        cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, Int32(b), Int32(d),
                    1, pu, Int32(d), pg, Int32(d))
        return LogDetResult(value: value, jitter: jitter)
    }
}

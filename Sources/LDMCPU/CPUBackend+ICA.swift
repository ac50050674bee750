import CBLAS
import Foundation
import LDMEngine

/// ica (CPU): the ICA objective of docs/mathematics.md §2/§4, `F = ½·log det(W·Wᵀ) − α·mean_i Σ_k |s_ik|^β` with `s = x·Wᵀ`.
///
/// `½·log det(W·Wᵀ) = Σ log L_kk` for the Cholesky factor of W·Wᵀ, and its gradient `(W·Wᵀ)⁻¹·W` comes from two
/// triangular solves against the same factor (no inverse). For the prior, with `D = ∂/∂s = −α·β·|s|^(β−1)·sign(s)/N`,
/// `∂/∂W = Dᵀ·x` and `∂/∂x = D·W`. The gradients written are those of the loss −F.
extension CPUBackend {
    public func uncheckedIcaTerms(_ x: Tensor, _ w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float)
        throws -> (logDet: Double, prior: Double) {
        let op = "icaTerms"
        let (n, d) = (x.shape.dims[0], x.shape.dims[1])
        let px = try floats(x, op), pw = try floats(w, op), gx = try floats(gradientX, op), gw = try floats(gradientW, op)

        // s = x·Wᵀ, the prior, and D = ∂(−F)/∂s = +α·β·|s|^(β−1)·sign(s)/N (the loss's sign).
        let sources = try makeTensor([n, d]), ps = try floats(sources, op)
        sgemm(transposeA: false, transposeB: true, m: n, n: d, k: d, alpha: 1,
              px, lda: d, pw, ldb: d, beta: 0, ps, ldc: d)
        var prior = 0.0
        let slope = Double(alpha) * Double(beta) / Double(n)
        if beta == beta.rounded(), (1...8).contains(beta) {
            // Integer β (2 and 4 in the reference demos): |s|^(β−1) by products, several times faster than pow.
            let power = Int(beta) - 1
            for t in 0..<(n * d) {
                let value = Double(ps[t]), magnitude = abs(value)
                var lower = 1.0
                for _ in 0..<power { lower *= magnitude }
                prior += lower * magnitude
                ps[t] = Float(slope * lower * (value < 0 ? -1 : 1))
            }
        } else {
            for t in 0..<(n * d) {
                let value = Double(ps[t]), magnitude = abs(value)
                prior += pow(magnitude, Double(beta))
                ps[t] = Float(slope * pow(magnitude, Double(beta) - 1) * (value < 0 ? -1 : 1))
            }
        }
        prior /= Double(n)
        // ∂(−F)/∂x = D·W;  ∂(−F)/∂W from the prior = Dᵀ·x.
        sgemm(transposeA: false, transposeB: false, m: n, n: d, k: d, alpha: 1,
              ps, lda: d, pw, ldb: d, beta: 0, gx, ldc: d)
        sgemm(transposeA: true, transposeB: false, m: d, n: d, k: n, alpha: 1,
              ps, lda: d, px, ldb: d, beta: 0, gw, ldc: d)

        // W·Wᵀ (upper triangle, row-major) and its Cholesky factor U (C = UᵀU in row-major terms).
        let gram = try makeTensor([d, d]), pu = try floats(gram, op)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(d), Int32(d), 1, pw, Int32(d), 0, pu, Int32(d))
        var size = Int32(d), lda = Int32(d), info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "L"))
        spotrf_(&uplo, &size, pu, &lda, &info)
        guard info == 0 else {
            throw LDMError.notPositiveDefinite(what: "W·Wᵀ", detail: "W (\(d) × \(d)) is singular or nearly so")
        }
        var logDet = 0.0
        for k in 0..<d { logDet += log(Double(pu[k * d + k])) }
        // (W·Wᵀ)⁻¹·W = U⁻¹·U⁻ᵀ·W: solve Uᵀ·Y = W, then U·Z = Y; subtract from the loss gradient.
        let solved = try makeTensor([d, d]), pz = try floats(solved, op)
        pz.update(from: pw, count: d * d)
        cblas_strsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, Int32(d), Int32(d), 1, pu, Int32(d),
                    pz, Int32(d))
        cblas_strsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(d), Int32(d), 1, pu, Int32(d),
                    pz, Int32(d))
        for t in 0..<(d * d) { gw[t] -= pz[t] }
        return (logDet, prior)
    }
}

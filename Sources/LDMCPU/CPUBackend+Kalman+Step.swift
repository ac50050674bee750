import Foundation
import LDMEngine

/// One step of the covariance recursion from P_{t−1}: P⁻_t, S_t and its factor (with the docs/mathematics.md §9
/// jitter), log det S_t, K_t and the Joseph-form P_t. The sequential recursion runs it step after step; the
/// time-parallel one runs it step after step within each chunk, every chunk at once from the start the scan gave
/// it (CPUBackend+Kalman.swift, CPUBackend+KalmanScan.swift).
struct KalmanCovarianceStep {
    let f: UnsafePointer<Float>, h: UnsafePointer<Float>
    let n: Int, m: Int
    let logDiagonal: Bool, extra: Float
    /// H = [I 0] (the Kalman-LDM loss's observation of the leading coordinates): the products with H are
    /// selections, and the Joseph update costs two n²·m products instead of 2n³ + n²·m (half a step at n = m).
    let selectsLeading: Bool

    init(_ x: KalmanCovarianceInputs, f: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        (self.f, self.h, n, m) = (UnsafePointer(f), UnsafePointer(h), x.n, x.m)
        (logDiagonal, extra) = (x.R.isLogDiagonal, x.R.extra)
        let (n, m) = (x.n, x.m)
        selectsLeading = (0..<(m * n)).allSatisfy { h[$0] == ($0 / n == $0 % n ? 1 : 0) }
    }

    /// Floats of scratch one step needs.
    var scratchCount: Int { 3 * n * n + 2 * n * m + m * m }

    /// R_{g,t} as a full m × m matrix: `r` points at the stored noise (a matrix, or m log-variances).
    func noise(_ r: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        for e in 0..<(m * m) {
            let (i, j) = (e / m, e % m)
            out[e] = logDiagonal ? (i == j ? Foundation.exp(r[i]) + extra : 0) : r[e]
        }
    }

    /// Writes P⁻, S, S's factor, K and P (when given) from `previous`; returns the jitter added to S, or nil when
    /// S cannot be factored even with jitter.
    func run(previous: UnsafePointer<Float>, q: UnsafePointer<Float>, r: UnsafePointer<Float>,
             predicted pred: UnsafeMutablePointer<Float>, innovation s: UnsafeMutablePointer<Float>,
             factor: UnsafeMutablePointer<Float>, gain k: UnsafeMutablePointer<Float>, logDeterminant: inout Float,
             filtered p: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>) -> Float? {
        let tmp = scratch, ikh = tmp + n * n, joseph = ikh + n * n
        let pht = joseph + n * n, kr = pht + n * m, rg = kr + n * m
        // P⁻ = F·P·Fᵀ + Q
        SmallMatrix.product(f, previous, n, n, n, into: tmp)
        SmallMatrix.product(tmp, f, n, n, n, transposeB: true, into: pred)
        for e in 0..<(n * n) { pred[e] += q[e] }
        // S = H·P⁻·Hᵀ + R
        noise(r, into: rg)
        if selectsLeading {
            for i in 0..<n { (pht + i * m).update(from: pred + i * n, count: m) }
            s.update(from: pht, count: m * m)
        } else {
            SmallMatrix.product(pred, h, n, n, m, transposeB: true, into: pht)
            SmallMatrix.product(h, pht, m, n, m, into: s)
        }
        for e in 0..<(m * m) { s[e] += rg[e] }
        guard let jitter = SmallMatrix.factorWithJitter(s, m, into: factor, tries: CPUBackend.jitterTries) else { return nil }
        var logDet: Float = 0
        for i in 0..<m { logDet += 2 * Foundation.log(factor[i * m + i]) }
        logDeterminant = logDet
        // K = P⁻Hᵀ·S⁻¹ through Kᵀ = S⁻¹·(P⁻Hᵀ)ᵀ, all n right-hand sides at once (S symmetric).
        for i in 0..<n { for j in 0..<m { kr[j * n + i] = pht[i * m + j] } }
        SmallMatrix.choleskySolve(factor, m, kr, columns: n)
        for i in 0..<n { for j in 0..<m { k[i * m + j] = kr[j * n + i] } }
        guard let p else { return jitter }
        // Joseph: P = (I − K·H)·P⁻·(I − K·H)ᵀ + K·R·Kᵀ, then symmetrised.
        if logDiagonal {
            for i in 0..<n { for j in 0..<m { kr[i * m + j] = k[i * m + j] * rg[j * m + j] } }
        } else {
            SmallMatrix.product(k, rg, n, m, m, into: kr)
        }
        if selectsLeading {
            // X = P⁻ − K·P⁻[0..<m, :]; P = X·(I − K·H)ᵀ + K·R·Kᵀ = X + (K·R − X[:, 0..<m])·Kᵀ,
            // one n²·m product (the bracket is K·S − P⁻Hᵀ, zero at the exact gain).
            SmallMatrix.product(k, pred, n, m, n, into: ikh)
            for e in 0..<(n * n) { tmp[e] = pred[e] - ikh[e] }
            for i in 0..<n { for j in 0..<m { pht[i * m + j] = kr[i * m + j] - tmp[i * n + j] } }
            SmallMatrix.product(pht, k, n, m, n, transposeB: true, into: joseph)
            for e in 0..<(n * n) { joseph[e] += tmp[e] }
        } else {
            SmallMatrix.product(k, h, n, m, n, into: ikh)
            for i in 0..<n { for j in 0..<n { ikh[i * n + j] = (i == j ? 1 : 0) - ikh[i * n + j] } }
            SmallMatrix.product(ikh, pred, n, n, n, into: tmp)
            SmallMatrix.product(tmp, ikh, n, n, n, transposeB: true, into: joseph)
            SmallMatrix.product(kr, k, n, m, n, transposeB: true, into: tmp)
            for e in 0..<(n * n) { joseph[e] += tmp[e] }
        }
        SmallMatrix.symmetrize(joseph, n, into: p)
        return jitter
    }
}

extension SmallMatrix {
    /// out = ½(a + aᵀ) for an n × n matrix (out may be a).
    static func symmetrize(_ a: UnsafePointer<Float>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            for j in 0...i {
                let v = 0.5 * (a[i * n + j] + a[j * n + i])
                out[i * n + j] = v
                out[j * n + i] = v
            }
        }
    }
}

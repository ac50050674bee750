import Foundation
import LDMEngine

/// The elements of the time-parallel covariance recursion (docs/mathematics.md §5, "Time-parallel covariances";
/// Särkkä & García-Fernández 2021, covariance part): step t of the filter is the element (A_t, C_t, J_t),
///     S = H·Pm·Hᵀ + R_t,  K = Pm·Hᵀ·S⁻¹,  A = (I − K·H)·Fe,  C = Pm − K·H·Pm,  J = (H·Fe)ᵀ·S⁻¹·(H·Fe)
/// with Pm = Q, Fe = F for t ≥ 1 and Pm = F·P0·Fᵀ + Q, Fe = 0 for t = 0 (so A_0 = J_0 = 0 and C_0 = P_0), and two
/// elements combine associatively (i before j), with U·Uᵀ = C_i and E = U·(I + Uᵀ·J_j·U)⁻¹·Uᵀ = (I + C_i·J_j)⁻¹·C_i:
///     A = A_j·(I − E·J_j)·A_i,  C = A_j·E·A_jᵀ + C_j,  J = A_iᵀ·(J_j − J_j·E·J_j)·A_i + J_i.
/// Only symmetric positive definite matrices are factored (C_i, and I + Uᵀ·J_j·U ≥ I), so the process noise Q must
/// be positive definite. A prefix that starts at step 0 has A = J = 0 and C = P_t: combining such a "posterior"
/// with the next element is one filter step.
struct KalmanScanElements {
    let f: UnsafePointer<Float>, h: UnsafePointer<Float>, p0: UnsafePointer<Float>
    let n: Int, m: Int
    let step: KalmanCovarianceStep

    /// Floats per element: A, C, J.
    var count: Int { 3 * n * n }
    /// Scratch floats `element` needs.
    var elementScratch: Int { 2 * n * n + 3 * m * m + 4 * m * n }
    /// Scratch floats `combine` needs.
    var combineScratch: Int { 10 * n * n }

    /// Element t from the step's Q and R (pointers as `KalmanCovarianceStep.run` takes them); the jitter added to
    /// S, or nil when S cannot be factored.
    func element(first: Bool, q: UnsafePointer<Float>, r: UnsafePointer<Float>, into e: UnsafeMutablePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>) -> Float? {
        let (a, c, j) = (e, e + n * n, e + 2 * n * n)
        let pm = scratch, tmp = pm + n * n, s = tmp + n * n, factor = s + m * m, rg = factor + m * m
        let hp = rg + m * m, y = hp + 2 * m * n   // [H·Pm | H·Fe] and S⁻¹ times it, m × 2n each
        if first {
            SmallMatrix.product(f, p0, n, n, n, into: tmp)
            SmallMatrix.product(tmp, f, n, n, n, transposeB: true, into: pm)
            for i in 0..<(n * n) { pm[i] += q[i] }
        } else {
            pm.update(from: q, count: n * n)
        }
        // H·Pm and H·Fe side by side (H·Fe = 0 for the first element).
        SmallMatrix.product(h, pm, m, n, n, into: tmp)
        for i in 0..<m {
            (hp + i * 2 * n).update(from: tmp + i * n, count: n)
            (hp + i * 2 * n + n).update(repeating: 0, count: n)
        }
        if !first {
            SmallMatrix.product(h, f, m, n, n, into: tmp)
            for i in 0..<m { (hp + i * 2 * n + n).update(from: tmp + i * n, count: n) }
        }
        // S = (H·Pm)·Hᵀ + R
        step.noise(r, into: rg)
        for i in 0..<m {
            for k in 0..<m {
                var v = rg[i * m + k]
                for p in 0..<n { v += hp[i * 2 * n + p] * h[k * n + p] }
                s[i * m + k] = v
            }
        }
        guard let jitter = SmallMatrix.factorWithJitter(s, m, into: factor, tries: CPUBackend.jitterTries) else { return nil }
        y.update(from: hp, count: 2 * m * n)
        SmallMatrix.choleskySolve(factor, m, y, columns: 2 * n)   // [Kᵀ | S⁻¹·H·Fe]
        // C = Pm − (H·Pm)ᵀ·Kᵀ, A = Fe − K·(H·Fe), J = (H·Fe)ᵀ·S⁻¹·(H·Fe): all from the columns of hp and y.
        for i in 0..<n {
            for k in 0..<n {
                var cv = pm[i * n + k], av: Float = first ? 0 : f[i * n + k], jv: Float = 0
                for p in 0..<m {
                    let row = p * 2 * n
                    cv -= hp[row + i] * y[row + k]
                    av -= y[row + i] * hp[row + n + k]
                    jv += hp[row + n + i] * y[row + n + k]
                }
                (c[i * n + k], a[i * n + k], j[i * n + k]) = (cv, first ? 0 : av, jv)
            }
        }
        SmallMatrix.symmetrize(c, n, into: c)
        SmallMatrix.symmetrize(j, n, into: j)
        return jitter
    }

    /// `i ⊗ j` into `out` (which may be i or j: it is written last). With `posterior`, i is (0, C_i, 0) (its A and J are not read, only C is
    /// written). Returns the largest jitter the two factorisations needed, or nil when one failed.
    func combine(_ i: UnsafePointer<Float>, _ j: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, posterior: Bool,
                 scratch: UnsafeMutablePointer<Float>) -> Float? {
        let nn = n * n
        let (ai, ci, ji) = (i, i + nn, i + 2 * nn), (aj, cj, jj) = (j, j + nn, j + 2 * nn)
        let u = scratch, w = u + nn, lw = w + nn, z = lw + nn, e = z + nn
        let t1 = e + nn, t2 = t1 + nn, newA = t2 + nn, newC = newA + nn, newJ = newC + nn
        guard let jitterC = SmallMatrix.factorWithJitter(ci, n, into: u, tries: CPUBackend.jitterTries) else { return nil }
        // W = I + Uᵀ·J_j·U, E = U·W⁻¹·Uᵀ
        SmallMatrix.product(jj, u, n, n, n, into: t1)
        SmallMatrix.transposedProduct(u, t1, n, n, n, into: w)
        for d in 0..<n { w[d * n + d] += 1 }
        guard let jitterW = SmallMatrix.factorWithJitter(w, n, into: lw, tries: CPUBackend.jitterTries) else { return nil }
        for r in 0..<n { for c in 0..<n { z[r * n + c] = u[c * n + r] } }
        SmallMatrix.choleskySolve(lw, n, z, columns: n)
        SmallMatrix.product(u, z, n, n, n, into: e)
        SmallMatrix.symmetrize(e, n, into: e)
        // C = A_j·E·A_jᵀ + C_j
        SmallMatrix.product(aj, e, n, n, n, into: t1)
        SmallMatrix.product(t1, aj, n, n, n, transposeB: true, into: newC)
        for x in 0..<nn { newC[x] += cj[x] }
        SmallMatrix.symmetrize(newC, n, into: newC)
        if !posterior {
            // A = A_j·(A_i − E·J_j·A_i); J = A_iᵀ·(J_j − J_j·E·J_j)·A_i + J_i
            SmallMatrix.product(e, jj, n, n, n, into: t1)          // E·J_j
            SmallMatrix.product(t1, ai, n, n, n, into: t2)
            for x in 0..<nn { t2[x] = ai[x] - t2[x] }
            SmallMatrix.product(aj, t2, n, n, n, into: newA)
            SmallMatrix.product(jj, t1, n, n, n, into: t2)         // J_j·E·J_j
            for x in 0..<nn { t2[x] = jj[x] - t2[x] }
            SmallMatrix.product(t2, ai, n, n, n, into: t1)
            SmallMatrix.transposedProduct(ai, t1, n, n, n, into: newJ)
            for x in 0..<nn { newJ[x] += ji[x] }
            SmallMatrix.symmetrize(newJ, n, into: newJ)
            out.update(from: newA, count: nn)
            (out + 2 * nn).update(from: newJ, count: nn)
        }
        (out + nn).update(from: newC, count: nn)
        return max(jitterC, jitterW)
    }
}

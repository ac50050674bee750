import Foundation

extension Reference {
    /// The Kalman-LDM loss of docs/mathematics.md §5 for one sequence, in Double, stop-gradient form:
    /// `Σ_t [½·log det S_t + ½·(z_t − ẑ_t)ᵀ·S_t⁻¹·(z_t − ẑ_t)]` with D = [I_{d_l} 0], ĥ_0 = 0, P_0 = I,
    /// `h⁻_t = A(ĥ_{t−1} − b) + b`, `P⁻_t = A·P_{t−1}·Aᵀ + Σ_A`, `Σ_A = e^s·diag(e^a)`, `Σ_D = e^s·I`.
    ///
    /// `filterZ` feeds the filter's updates and `targetZ` the loss's residuals: the stop-gradient form's gradient
    /// with respect to z is the derivative in `filterZ` alone at `filterZ = targetZ = z`, which finite
    /// differences of this function can check (for the kNN form pass the same z to both). `z` is [T][d_l]; A is
    /// d_s × d_s row-major. `logObservationNoise` ([T][d_l]) makes Σ_D,t = e^s·diag(e^ℓ_t); `extraDiagonal` is
    /// added to S_t (the kNN form's 1e-6).
    public static func kalmanLDMLoss(filterZ: [[Double]], targetZ: [[Double]], A: [Double], b: [Double],
                                     logNoise a: [Double], logScale s: Double,
                                     logObservationNoise: [[Double]]? = nil, extraDiagonal: Double = 0) -> Double {
        let n = b.count, dl = filterZ.first?.count ?? 0
        var mean = [Double](repeating: 0, count: n), cov = identity(n)
        var loss = 0.0
        let sigmaA = (0..<(n * n)).map { $0 / n == $0 % n ? exp(s + a[$0 / n]) : 0 }
        for (step, (z, target)) in zip(filterZ, targetZ).enumerated() {
            let u = zip(mean, b).map { $0 - $1 }
            let predicted = zip(mul(A, u, n, n, 1), b).map { $0 + $1 }
            let predictedCov = add(mul(mul(A, cov, n, n, n), transpose(A, n, n), n, n, n), sigmaA)
            var sMatrix = [Double](repeating: 0, count: dl * dl)
            for i in 0..<dl { for j in 0..<dl { sMatrix[i * dl + j] = predictedCov[i * n + j] } }
            for i in 0..<dl { sMatrix[i * dl + i] += exp(s + (logObservationNoise?[step][i] ?? 0)) + extraDiagonal }
            let sInverse = inverse(sMatrix, dl)
            let residual = (0..<dl).map { target[$0] - predicted[$0] }
            let quadratic = zip(residual, mul(sInverse, residual, dl, dl, 1)).reduce(0) { $0 + $1.0 * $1.1 }
            loss += 0.5 * logDeterminant(sMatrix, dl) + 0.5 * quadratic
            // Update with the filter's observation: K = P⁻Dᵀ S⁻¹, ĥ = h⁻ + K e, P = P⁻ − K·S·Kᵀ.
            var c = [Double](repeating: 0, count: n * dl)
            for i in 0..<n { for j in 0..<dl { c[i * dl + j] = predictedCov[i * n + j] } }
            let gain = mul(c, sInverse, n, dl, dl)
            let innovation = (0..<dl).map { z[$0] - predicted[$0] }
            mean = zip(predicted, mul(gain, innovation, n, dl, 1)).map { $0 + $1 }
            cov = add(predictedCov, mul(mul(gain, sMatrix, n, dl, dl), transpose(gain, n, dl), n, dl, n).map { -$0 })
        }
        return loss
    }
}

extension Reference {
    /// kalman_ldm_unpack in Double: from θ = [A | b | a | s], (A, Q = e^s·diag(e^a), b − A·b).
    public static func kalmanLDMUnpack(_ theta: [Double], n: Int) -> (A: [Double], Q: [Double], offset: [Double]) {
        let a = Array(theta[0..<(n * n)]), b = Array(theta[(n * n)..<(n * n + n)]), s = theta[n * n + 2 * n]
        let q = (0..<(n * n)).map { $0 / n == $0 % n ? Foundation.exp(s + theta[n * n + n + $0 / n]) : 0 }
        let offset = (0..<n).map { i in b[i] - (0..<n).reduce(0) { $0 + a[i * n + $1] * b[$1] } }
        return (a, q, offset)
    }

    /// kalman_ldm_pack_gradient in Double: θ̄ from v = Σh̄⁻, M, the per-group C_g [G·n·n] and q_g [G·n], ρ = Σ ∂/∂ℓ.
    public static func kalmanLDMPackGradient(_ theta: [Double], n: Int, v: [Double], M: [Double], C: [Double],
                                             q: [Double], rho: Double, groups: Int, batch: Int) -> [Double] {
        let inverseB = 1 / Double(batch)
        var out = [Double](repeating: 0, count: n * n + 2 * n + 1)
        for e in 0..<(n * n) {
            out[e] = (M[e] - v[e / n] * theta[n * n + e % n] + (0..<groups).reduce(0) { $0 + C[$1 * n * n + e] }) * inverseB
        }
        for i in 0..<n {
            out[n * n + i] = (v[i] - (0..<n).reduce(0) { $0 + theta[$1 * n + i] * v[$1] }) * inverseB
            out[n * n + n + i] = (0..<groups).reduce(0) { $0 + q[$1 * n + i] } * inverseB
        }
        out[n * n + 2 * n] = (0..<n).reduce(rho * inverseB) { $0 + out[n * n + n + $1] }
        return out
    }
}

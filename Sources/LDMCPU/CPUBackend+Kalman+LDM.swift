import Foundation
import LDMEngine

/// kalman (CPU twin of kalman.cl's reverse kernels): the Kalman-LDM loss's reverse pass through time.
///
/// Per step the loss is ℓ = ½·log det S + ½·eᵀS⁻¹e with e = z − D·h⁻. The covariance update is differentiated as
/// P = P⁻ − C·S⁻¹·Cᵀ (C = P⁻·Dᵀ), which equals the Joseph form and has the same derivative at the optimal gain.
/// Means, per sequence, with r = S⁻¹e: ē = Kᵀ·h̄ (∂/∂z, plus r without stop-gradient), h̄⁻ = h̄ − D ᵀ(ē + r),
/// h̄_{t−1} = Aᵀ·h̄⁻. Covariances, per group, seeded with C̄₀ = Σ_q h̄·rᵀ and S̄₀ = −Σ_q (ē + ½r)·rᵀ + ½·B_g·S⁻¹:
/// C̄ = C̄₀ − (P̄ + P̄ᵀ)·K, S̄ = S̄₀ + Kᵀ·P̄·K, P̄⁻ = P̄ + [C̄ 0] + [S̄ 0; 0 0], Ā += (P̄⁻ + P̄⁻ᵀ)·A·P_{t−1},
/// ∂/∂log Q_ii = P̄⁻_ii·Q_ii, ∂/∂log R_ii = S̄_ii·R_ii, P̄_{t−1} = Aᵀ·½(P̄⁻ + P̄⁻ᵀ)·A.
extension CPUBackend {
    public func uncheckedKalmanLDMMeanBackward(_ tape: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                                      gradientScale: Float, stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints) throws {
        let op = "kalmanLDMMeanBackward"
        let (b, n, m, steps, g) = (means.batch, means.n, means.m, means.steps, tape.groups)
        let a = try floats(A, op), gains = try floats(tape.gains, op), whitened = try floats(means.whitened, op)
        let gradZ = try floats(adjoints.gradZ, op), hBarOut = try floats(adjoints.hBar, op)
        let hBarMinusOut = try floats(adjoints.hBarMinus, op), wOut = try floats(adjoints.w, op)
        if g == 1 && n >= Self.kalmanProductsOrder {
            return kalmanLDMMeanBackwardProducts(A: a, gains: gains, whitened: whitened, gradientScale: gradientScale,
                                                 stopGradient: stopGradient, gradZ: gradZ, hBarOut: hBarOut,
                                                 hBarMinusOut: hBarMinusOut, wOut: wOut, b: b, steps: steps, n: n, m: m)
        }
        if g == 1 {
            return kalmanLDMMeanBackwardLanes(A: a, gains: gains, whitened: whitened, gradientScale: gradientScale,
                                              stopGradient: stopGradient, gradZ: gradZ, hBarOut: hBarOut,
                                              hBarMinusOut: hBarMinusOut, wOut: wOut, b: b, steps: steps, n: n, m: m)
        }
        let perGroup = b / g
        Parallel.forChunks(b, threads: threads, costPerItem: steps * (n * n + n * m)) { sequences in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n + m) { scratch in
                let hBar = scratch.baseAddress!, hMinus = hBar + n, eBar = hMinus + n
                for q in sequences {
                    let group = q / perGroup
                    hBar.update(repeating: 0, count: n)
                    for t in stride(from: steps - 1, through: 0, by: -1) {
                        let k = gains + (t * g + group) * n * m, r = whitened + (t * b + q) * m
                        let slot = t * b + q
                        (hBarOut + slot * n).update(from: hBar, count: n)
                        for j in 0..<m {
                            var v: Float = 0
                            for i in 0..<n { v += k[i * m + j] * hBar[i] }
                            eBar[j] = v
                        }
                        for j in 0..<m {
                            gradZ[(q * steps + t) * m + j] = gradientScale * (stopGradient ? eBar[j] : eBar[j] + r[j])
                            wOut[slot * m + j] = eBar[j] + 0.5 * r[j]
                        }
                        hMinus.update(from: hBar, count: n)
                        for j in 0..<m { hMinus[j] -= eBar[j] + r[j] }
                        (hBarMinusOut + slot * n).update(from: hMinus, count: n)
                        // h̄_{t−1} = Aᵀ·h̄⁻
                        hBar.update(repeating: 0, count: n)
                        for i in 0..<n {
                            let v = hMinus[i], row = a + i * n
                            for j in 0..<n { hBar[j] += row[j] * v }
                        }
                    }
                }
            }
        }
    }

    public func uncheckedKalmanLDMCovarianceBackward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape, seedC: Tensor,
                                            seedS: Tensor, sequencesPerGroup: Int,
                                            into grads: KalmanLDMCovarianceGradients) throws {
        let op = "kalmanLDMCovarianceBackward"
        let (n, m, g, steps) = (x.n, x.m, x.groups, x.steps)
        let a = try floats(x.F, op), q = try floats(x.Q, op), r = try floats(x.R.tensor, op), p0 = try floats(x.P0, op)
        let filtered = try floats(tape.filtered, op), factors = try floats(tape.factors, op), gains = try floats(tape.gains, op)
        let cSeeds = try floats(seedC, op), sSeeds = try floats(seedS, op)
        let gradA = try floats(grads.gradA, op), gradQ = try floats(grads.gradLogQ, op), gradR = try floats(grads.gradLogR, op)
        let rStrides = x.R.strides(perStep: m)
        let half = 0.5 * Float(sequencesPerGroup)
        Parallel.forChunks(g, threads: threads, costPerItem: steps * n * n * n) { groups in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * n * n + n * m + 2 * m * m) { scratch in
                let pBar = scratch.baseAddress!, pMinusBar = pBar + n * n, tmp = pMinusBar + n * n, sym = tmp + n * n
                let x2 = sym + n * n, sInverse = x2 + n * m, kx = sInverse + m * m
                for group in groups {
                    pBar.update(repeating: 0, count: n * n)
                    let aBar = gradA + group * n * n, qBar = gradQ + group * n
                    aBar.update(repeating: 0, count: n * n)
                    qBar.update(repeating: 0, count: n)
                    let qg = q + group * x.qGroupStride
                    for t in stride(from: steps - 1, through: 0, by: -1) {
                        let at = t * g + group
                        let k = gains + at * n * m, factor = factors + at * m * m
                        let prev = t == 0 ? p0 : filtered + (at - g) * n * n
                        // X = P̄·K; C̄ = C̄₀ − (P̄ + P̄ᵀ)·K = C̄₀ − 2X (P̄ is kept symmetric) goes into P̄⁻'s first m columns.
                        SmallMatrix.product(pBar, k, n, n, m, into: x2)
                        pMinusBar.update(from: pBar, count: n * n)
                        let cSeed = cSeeds + at * n * m
                        for i in 0..<n {
                            for j in 0..<m { pMinusBar[i * n + j] += cSeed[i * m + j] - 2 * x2[i * m + j] }
                        }
                        // S̄ = S̄₀ + Kᵀ·X + ½·B_g·S⁻¹ goes into P̄⁻'s top-left block; ∂/∂log R_ii = S̄_ii·R_ii.
                        for e in 0..<(m * m) { sInverse[e] = e / m == e % m ? 1 : 0 }
                        SmallMatrix.choleskySolve(factor, m, sInverse, columns: m)
                        SmallMatrix.transposedProduct(k, x2, n, m, m, into: kx)
                        let rAt = r + group * rStrides.group + t * rStrides.step, sSeed = sSeeds + at * m * m
                        for i in 0..<m {
                            for j in 0..<m {
                                let v = sSeed[i * m + j] + half * sInverse[i * m + j] + kx[i * m + j]
                                pMinusBar[i * n + j] += v
                                // The extra diagonal is a constant: only exp ℓ has a log-variance to differentiate.
                                if i == j { gradR[(group * steps + t) * m + i] = v * Foundation.exp(rAt[i]) }
                            }
                        }
                        // Predict, with M = (P̄⁻ + P̄⁻ᵀ)·A: Ā += M·P_{t−1}; ∂/∂log Q_ii; P̄_{t−1} = ½·Aᵀ·M.
                        for i in 0..<n { for j in 0..<n { sym[i * n + j] = pMinusBar[i * n + j] + pMinusBar[j * n + i] } }
                        SmallMatrix.product(sym, a, n, n, n, into: tmp)
                        SmallMatrix.product(tmp, prev, n, n, n, into: pBar)
                        for e in 0..<(n * n) { aBar[e] += pBar[e] }
                        for i in 0..<n { qBar[i] += pMinusBar[i * n + i] * qg[i * n + i] }
                        // Only P̄⁻'s symmetric part carries gradient (P⁻ is symmetric): propagate ½(P̄⁻ + P̄⁻ᵀ).
                        // P̄⁻ itself has an antisymmetric part that grows by ~(1 + ‖K‖²) per step and, after ~70
                        // steps, swamps the symmetric part in float32 rounding. P̄ is symmetrised for the same reason.
                        SmallMatrix.transposedProduct(a, tmp, n, n, n, into: sym)
                        for i in 0..<n {
                            for j in 0...i {
                                let v = 0.25 * (sym[i * n + j] + sym[j * n + i])
                                pBar[i * n + j] = v
                                pBar[j * n + i] = v
                            }
                        }
                    }
                }
            }
        }
    }
}

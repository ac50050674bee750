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

    /// The covariance recursion's reverse pass, its steps split into `chunks` (1: the sequential pass). The pass is
    /// affine in P̄ (P̄_{t−1} = Φ_tᵀ·P̄_t·Φ_t + Aᵀ·Y_t·A, Φ_t = (I − K_t·D)·A; docs/mathematics.md §5), so with several
    /// chunks each chunk but the first runs from P̄ = 0 while forming Ψ = Φ_end···Φ_first, the chunks' starting P̄
    /// are carried over from the last chunk back, and then every chunk reruns from its start, all at once, its
    /// sums of ∂/∂A and ∂/∂log Q added in chunk order.
    public func uncheckedKalmanLDMCovarianceBackward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape, seedC: Tensor,
                                                     seedS: Tensor, sequencesPerGroup: Int, into grads: KalmanLDMCovarianceGradients,
                                                     chunks: Int) throws {
        let op = "kalmanLDMCovarianceBackward"
        let (n, g, steps) = (x.n, x.groups, x.steps)
        let reverse = CovarianceReverse(
            a: try floats(x.F, op), q: try floats(x.Q, op), r: try floats(x.R.tensor, op), p0: try floats(x.P0, op),
            filtered: try floats(tape.filtered, op), factors: try floats(tape.factors, op), gains: try floats(tape.gains, op),
            cSeeds: try floats(seedC, op), sSeeds: try floats(seedS, op), gradR: try floats(grads.gradLogR, op),
            n: n, m: x.m, groups: g, steps: steps, qGroupStride: x.qGroupStride, rStrides: x.R.strides(perStep: x.m),
            half: 0.5 * Float(sequencesPerGroup))
        let (length, count) = AffineScanShape.chunking(steps: steps, chunks)
        let range = { (k: Int) in (k * length)..<min(steps, (k + 1) * length) }
        // P̄ entering each chunk at its last step ([count, G, n, n]; the last chunk's is zero).
        let starts = UnsafeMutablePointer<Float>.allocate(capacity: count * g * n * n)
        defer { starts.deallocate() }
        starts.update(repeating: 0, count: count * g * n * n)
        if count > 1 {
            // Chunks 1…count−1 from zero: their P̄ at the first step's end (X) and Ψ, [count, G, n, n] each.
            let folded = UnsafeMutablePointer<Float>.allocate(capacity: 2 * count * g * n * n)
            defer { folded.deallocate() }
            let psi = folded + count * g * n * n
            Parallel.forChunks((count - 1) * g, threads: threads, costPerItem: 6 * length * n * n * n) { items in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: reverse.scratchCount + 4 * n * n) { scratch in
                    let work = scratch.baseAddress!, aBar = work + reverse.scratchCount, qBar = aBar + n * n
                    let phi = qBar + n * n, product = phi + n * n
                    for item in items {
                        let (k, group) = (item / g + 1, item % g), slot = k * g + group
                        let pBar = folded + slot * n * n, psiK = psi + slot * n * n
                        pBar.update(repeating: 0, count: n * n)
                        for e in 0..<(n * n) { psiK[e] = e / n == e % n ? 1 : 0 }
                        for t in range(k).reversed() {
                            reverse.step(t, group: group, pBar: pBar, aBar: aBar, qBar: qBar, writeR: false, scratch: work)
                            // Ψ ← Ψ·Φ_t with Φ_t = A − K_t·(D·A), D·A being A's first m rows.
                            reverse.transition(t, group: group, into: phi)
                            SmallMatrix.product(psiK, phi, n, n, n, into: product)
                            psiK.update(from: product, count: n * n)
                        }
                    }
                }
            }
            // start(k − 1) = Ψ_kᵀ·start(k)·Ψ_k + X_k, from the last chunk back.
            Parallel.forChunks(g, threads: threads, costPerItem: 2 * count * n * n * n) { groups in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: n * n) { scratch in
                    let tmp = scratch.baseAddress!
                    for group in groups {
                        for k in stride(from: count - 1, through: 1, by: -1) {
                            let slot = k * g + group, into = starts + (slot - g) * n * n
                            SmallMatrix.product(starts + slot * n * n, psi + slot * n * n, n, n, n, into: tmp)
                            SmallMatrix.transposedProduct(psi + slot * n * n, tmp, n, n, n, into: into)
                            for e in 0..<(n * n) { into[e] += folded[slot * n * n + e] }
                            SmallMatrix.symmetrize(into, n, into: into)
                        }
                    }
                }
            }
        }
        // Every chunk from its start; its sums of ∂/∂A and ∂/∂log Q into [count, G, …], then added in chunk order.
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: count * g * (n * n + n))
        defer { partials.deallocate() }
        Parallel.forChunks(count * g, threads: threads, costPerItem: 3 * length * n * n * n) { items in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: reverse.scratchCount + n * n) { scratch in
                let work = scratch.baseAddress!, pBar = work + reverse.scratchCount
                for item in items {
                    let (k, group) = (item / g, item % g)
                    let aBar = partials + item * (n * n + n), qBar = aBar + n * n
                    aBar.update(repeating: 0, count: n * n + n)
                    pBar.update(from: starts + item * n * n, count: n * n)
                    for t in range(k).reversed() {
                        reverse.step(t, group: group, pBar: pBar, aBar: aBar, qBar: qBar, writeR: true, scratch: work)
                    }
                }
            }
        }
        let gradA = try floats(grads.gradA, op), gradQ = try floats(grads.gradLogQ, op)
        for group in 0..<g {
            let aBar = gradA + group * n * n, qBar = gradQ + group * n
            aBar.update(repeating: 0, count: n * n)
            qBar.update(repeating: 0, count: n)
            for k in 0..<count {
                let partial = partials + (k * g + group) * (n * n + n)
                for e in 0..<(n * n) { aBar[e] += partial[e] }
                for i in 0..<n { qBar[i] += partial[n * n + i] }
            }
        }
    }
}

/// One step of the Kalman-LDM covariance reverse pass (see the top of this file), for the sequential pass and the
/// chunks of the time-parallel one.
struct CovarianceReverse {
    let a: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>, r: UnsafeMutablePointer<Float>, p0: UnsafeMutablePointer<Float>
    let filtered: UnsafeMutablePointer<Float>, factors: UnsafeMutablePointer<Float>, gains: UnsafeMutablePointer<Float>
    let cSeeds: UnsafeMutablePointer<Float>, sSeeds: UnsafeMutablePointer<Float>, gradR: UnsafeMutablePointer<Float>
    let n: Int, m: Int, groups: Int, steps: Int, qGroupStride: Int
    let rStrides: (group: Int, step: Int)
    let half: Float

    var scratchCount: Int { 3 * n * n + n * m + 2 * m * m }

    /// P̄_t → P̄_{t−1} in place, adding step t's share of ∂/∂A and ∂/∂log Q to aBar and qBar and, with `writeR`,
    /// writing its ∂/∂log R.
    func step(_ t: Int, group: Int, pBar: UnsafeMutablePointer<Float>, aBar: UnsafeMutablePointer<Float>,
              qBar: UnsafeMutablePointer<Float>, writeR: Bool, scratch: UnsafeMutablePointer<Float>) {
        let pMinusBar = scratch, tmp = pMinusBar + n * n, sym = tmp + n * n
        let x2 = sym + n * n, sInverse = x2 + n * m, kx = sInverse + m * m
        let at = t * groups + group
        let k = gains + at * n * m, factor = factors + at * m * m
        let prev = t == 0 ? p0 : filtered + (at - groups) * n * n
        let qg = q + group * qGroupStride
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
                if writeR && i == j { gradR[(group * steps + t) * m + i] = v * Foundation.exp(rAt[i]) }
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

    /// Φ_t = (I − K_t·D)·A = A − K_t·(A's first m rows).
    func transition(_ t: Int, group: Int, into phi: UnsafeMutablePointer<Float>) {
        let k = gains + (t * groups + group) * n * m
        SmallMatrix.product(k, a, n, m, n, into: phi)
        for e in 0..<(n * n) { phi[e] = a[e] - phi[e] }
    }
}

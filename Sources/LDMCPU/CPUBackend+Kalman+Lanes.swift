import Foundation
import LDMEngine

/// The kalman mean kernels vectorised across the batch, for shared covariances (one group): blocks of 16
/// sequences advance through time together, each state entry a `SIMD16<Float>` holding it for the 16 sequences,
/// so every multiply-add of a step is one vector operation over the block. (With one covariance group per sequence
/// the gains differ per sequence, and the per-sequence loops of CPUBackend+Kalman run instead.)
extension CPUBackend {
    typealias Lanes = SIMD16<Float>
    static let kalmanLanes = Lanes.scalarCount

    /// kalman_mean_forward for G = 1.
    func kalmanMeanForwardLanes(z pz: UnsafeMutablePointer<Float>, F f: UnsafeMutablePointer<Float>,
                                offset c: UnsafeMutablePointer<Float>, H h: UnsafeMutablePointer<Float>,
                                m0: UnsafeMutablePointer<Float>, factors: UnsafeMutablePointer<Float>,
                                gains: UnsafeMutablePointer<Float>, logDets: UnsafeMutablePointer<Float>,
                                predicted: UnsafeMutablePointer<Float>, filtered: UnsafeMutablePointer<Float>,
                                previous: UnsafeMutablePointer<Float>, whitened: UnsafeMutablePointer<Float>,
                                logLikelihood: UnsafeMutablePointer<Float>, b: Int, steps: Int, n: Int, m: Int) {
        let w = Self.kalmanLanes, blocks = (b + w - 1) / w
        // Σ_t −½(log det S_t + m·log 2π), the same for every sequence; sums over time in Double (in float32,
        // T = 10 000 steps lost 3e-5 of the log-likelihood).
        var constant = 0.0
        for t in 0..<steps { constant += -0.5 * (Double(logDets[t]) + Double(m) * Foundation.log(2 * Double.pi)) }
        Parallel.forChunks(blocks, threads: threads, costPerItem: w * steps * (n * n + 2 * n * m + m * m)) { range in
            withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 2 * n + 3 * m) { scratch in
                let state = scratch.baseAddress!, hp = state + n, e = hp + n, r = e + m, observed = r + m
                // Gathers go through memory as whole vectors: inserting lane by lane into a SIMD value would
                // spill and reload it for every element.
                let observedLanes = UnsafeMutableRawPointer(observed).assumingMemoryBound(to: Float.self)
                observedLanes.update(repeating: 0, count: m * w)
                for block in range {
                    let q0 = block * w, lanes = min(w, b - q0)
                    for i in 0..<n { state[i] = Lanes(repeating: m0[i]) }
                    var quadratic = SIMD16<Double>()
                    for t in 0..<steps {
                        let k = gains + t * n * m, factor = factors + t * m * m
                        for l in 0..<lanes { for i in 0..<n { previous[(t * b + q0 + l) * n + i] = state[i][l] } }
                        // h⁻ = F·ĥ + c
                        for i in 0..<n {
                            var v = Lanes(repeating: c[i])
                            for j in 0..<n { v += f[i * n + j] * state[j] }
                            hp[i] = v
                        }
                        for l in 0..<lanes { for i in 0..<n { predicted[((q0 + l) * steps + t) * n + i] = hp[i][l] } }
                        // e = z − H·h⁻
                        for l in 0..<lanes { for i in 0..<m { observedLanes[i * w + l] = pz[((q0 + l) * steps + t) * m + i] } }
                        for i in 0..<m {
                            var v = observed[i]
                            for j in 0..<n { v -= h[i * n + j] * hp[j] }
                            e[i] = v
                        }
                        // r = S⁻¹e by forward and back substitution
                        for i in 0..<m {
                            var v = e[i]
                            for p in 0..<i { v -= factor[i * m + p] * r[p] }
                            r[i] = v / factor[i * m + i]
                        }
                        for i in stride(from: m - 1, through: 0, by: -1) {
                            var v = r[i]
                            for p in (i + 1)..<max(i + 1, m) { v -= factor[p * m + i] * r[p] }
                            r[i] = v / factor[i * m + i]
                        }
                        var stepQuadratic = Lanes()
                        for i in 0..<m { stepQuadratic += e[i] * r[i] }
                        quadratic += SIMD16<Double>(stepQuadratic)
                        for l in 0..<lanes { for i in 0..<m { whitened[(t * b + q0 + l) * m + i] = r[i][l] } }
                        // ĥ = h⁻ + K·e
                        for i in 0..<n {
                            var v = hp[i]
                            for j in 0..<m { v += k[i * m + j] * e[j] }
                            state[i] = v
                        }
                        for l in 0..<lanes { for i in 0..<n { filtered[((q0 + l) * steps + t) * n + i] = state[i][l] } }
                    }
                    for l in 0..<lanes { logLikelihood[q0 + l] = Float(constant - 0.5 * quadratic[l]) }
                }
            }
        }
    }

    /// kalman_ldm_mean_backward for G = 1.
    func kalmanLDMMeanBackwardLanes(A a: UnsafeMutablePointer<Float>, gains: UnsafeMutablePointer<Float>,
                                    whitened: UnsafeMutablePointer<Float>, gradientScale: Float, stopGradient: Bool,
                                    gradZ: UnsafeMutablePointer<Float>, hBarOut: UnsafeMutablePointer<Float>,
                                    hBarMinusOut: UnsafeMutablePointer<Float>, wOut: UnsafeMutablePointer<Float>,
                                    b: Int, steps: Int, n: Int, m: Int) {
        let w = Self.kalmanLanes, blocks = (b + w - 1) / w
        Parallel.forChunks(blocks, threads: threads, costPerItem: w * steps * (n * n + n * m)) { range in
            withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 2 * n + 2 * m) { scratch in
                let hBar = scratch.baseAddress!, hMinus = hBar + n, eBar = hMinus + n, r = eBar + m
                let rLanes = UnsafeMutableRawPointer(r).assumingMemoryBound(to: Float.self)
                rLanes.update(repeating: 0, count: m * w)
                for block in range {
                    let q0 = block * w, lanes = min(w, b - q0)
                    hBar.update(repeating: Lanes(), count: n)
                    for t in stride(from: steps - 1, through: 0, by: -1) {
                        let k = gains + t * n * m
                        for l in 0..<lanes {
                            let slot = t * b + q0 + l
                            for j in 0..<m { rLanes[j * w + l] = whitened[slot * m + j] }
                            for i in 0..<n { hBarOut[slot * n + i] = hBar[i][l] }
                        }
                        // ē = Kᵀ·h̄
                        for j in 0..<m {
                            var v = Lanes()
                            for i in 0..<n { v += k[i * m + j] * hBar[i] }
                            eBar[j] = v
                        }
                        for l in 0..<lanes {
                            let slot = t * b + q0 + l, row = (q0 + l) * steps + t
                            for j in 0..<m {
                                let (eb, rj) = (eBar[j][l], r[j][l])
                                gradZ[row * m + j] = gradientScale * (stopGradient ? eb : eb + rj)
                                wOut[slot * m + j] = eb + 0.5 * rj
                            }
                        }
                        // h̄⁻ = h̄ − Dᵀ(ē + r); h̄_{t−1} = Aᵀ·h̄⁻
                        hMinus.update(from: hBar, count: n)
                        for j in 0..<m { hMinus[j] -= eBar[j] + r[j] }
                        for l in 0..<lanes { for i in 0..<n { hBarMinusOut[(t * b + q0 + l) * n + i] = hMinus[i][l] } }
                        for j in 0..<n {
                            var v = Lanes()
                            for i in 0..<n { v += a[i * n + j] * hMinus[i] }
                            hBar[j] = v
                        }
                    }
                }
            }
        }
    }
}

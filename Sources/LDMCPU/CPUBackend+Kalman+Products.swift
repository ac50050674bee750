import CBLAS
import Foundation
import LDMEngine

/// The kalman mean kernels (filter, smoother, Kalman-LDM reverse pass) as matrix products, for shared covariances (one group) and states of
/// ``kalmanProductsOrder`` dimensions and up: a chunk of sequences advances through time together and every step
/// is a few [rows, n] × [n, n] OpenBLAS products and triangular solves on the chunk's rows, read and written in place
/// in the tapes (a step's rows of the [B, T, n] tapes are T·n apart, a leading dimension BLAS takes as it is).
/// Below that order the per-call cost of BLAS outweighs its speed, and the SIMD lanes of CPUBackend+Kalman+Lanes run.
extension CPUBackend {
    /// The smallest state dimension n that takes the products path (measured: at n = 10 the lanes are faster).
    static let kalmanProductsOrder = 16

    /// Rows per chunk: OpenBLAS threads a product above 262 144 multiply-adds by itself, which would oversubscribe
    /// the cores the chunks already run on, so chunks stay under that and are spread over the cores instead.
    func kalmanProductRanges(batch b: Int, n: Int, m: Int) -> [Range<Int>] {
        let rows = max(1, min((b + threads - 1) / threads, 262_144 / (n * max(n, m))))
        return stride(from: 0, to: b, by: rows).map { $0..<min(b, $0 + rows) }
    }

    /// kalman_mean_forward for G = 1 as products: h⁻ = ĥ·Fᵀ + c, e = z − h⁻·Hᵀ, r = e·S⁻¹ (two triangular solves
    /// with the step's Cholesky factor), ĥ = h⁻ + e·Kᵀ.
    func kalmanMeanForwardProducts(z pz: UnsafeMutablePointer<Float>, F f: UnsafeMutablePointer<Float>,
                                   offset c: UnsafeMutablePointer<Float>, H h: UnsafeMutablePointer<Float>,
                                   m0: UnsafeMutablePointer<Float>, factors: UnsafeMutablePointer<Float>,
                                   gains: UnsafeMutablePointer<Float>, logDets: UnsafeMutablePointer<Float>,
                                   predicted: UnsafeMutablePointer<Float>, filtered: UnsafeMutablePointer<Float>,
                                   previous: UnsafeMutablePointer<Float>, whitened: UnsafeMutablePointer<Float>,
                                   logLikelihood: UnsafeMutablePointer<Float>, b: Int, steps: Int, n: Int, m: Int) {
        // Σ_t −½(log det S_t + m·log 2π), the same for every sequence; sums over time in Double.
        var constant = 0.0
        for t in 0..<steps { constant += -0.5 * (Double(logDets[t]) + Double(m) * Foundation.log(2 * Double.pi)) }
        // S⁻¹ once per step from its Cholesky factor, so that r = e·S⁻¹ is one product per chunk (OpenBLAS's
        // right-sided triangular solves on a few rows ran at a fraction of its product speed).
        let inverses = UnsafeMutablePointer<Float>.allocate(capacity: steps * m * m)
        defer { inverses.deallocate() }
        Parallel.forChunks(steps, threads: threads, costPerItem: m * m * m) { range in
            for t in range {
                let inverse = inverses + t * m * m
                for e in 0..<(m * m) { inverse[e] = e / m == e % m ? 1 : 0 }
                SmallMatrix.choleskySolve(factors + t * m * m, m, inverse, columns: m)
            }
        }
        // H = [I 0] (the Kalman-LDM loss): H·h⁻ is h⁻'s leading m coordinates, no product.
        let selectsLeading = (0..<(m * n)).allSatisfy { h[$0] == ($0 / n == $0 % n ? 1 : 0) }
        let ranges = kalmanProductRanges(batch: b, n: n, m: m)
        let tn = Int32(steps * n)
        let (n32, m32) = (Int32(n), Int32(m))
        Parallel.run(ranges.count) { chunk in
            let range = ranges[chunk], rows = range.count, r32 = Int32(rows), q0 = range.lowerBound
            var quadratic = [Double](repeating: 0, count: rows)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * (n + m)) { scratch in
                let start = scratch.baseAddress!, e = start + rows * n
                for q in 0..<rows { (start + q * n).update(from: m0, count: n) }
                for t in 0..<steps {
                    let (prev, ldPrev) = t == 0 ? (start, n32) : (filtered + (q0 * steps + t - 1) * n, tn)
                    let stepPrevious = previous + (t * b + q0) * n, pred = predicted + (q0 * steps + t) * n
                    let filt = filtered + (q0 * steps + t) * n, w = whitened + (t * b + q0) * m
                    let zt = pz + (q0 * steps + t) * m, k = gains + t * n * m
                    for q in 0..<rows {
                        (stepPrevious + q * n).update(from: prev + q * Int(ldPrev), count: n)
                        (pred + q * steps * n).update(from: c, count: n)
                        (e + q * m).update(from: zt + q * steps * m, count: m)
                    }
                    // h⁻ = ĥ·Fᵀ + c; e = z − h⁻·Hᵀ
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r32, n32, n32, 1, prev, ldPrev, f, n32, 1, pred, tn)
                    if selectsLeading {
                        for q in 0..<rows { for j in 0..<m { e[q * m + j] -= pred[q * steps * n + j] } }
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r32, m32, n32, -1, pred, tn, h, n32, 1, e, m32)
                    }
                    // r = e·S⁻¹ (S symmetric)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r32, m32, m32, 1, e, m32, inverses + t * m * m, m32,
                                0, w, m32)
                    for q in 0..<rows {
                        var v: Float = 0
                        for j in 0..<m { v += e[q * m + j] * w[q * m + j] }
                        quadratic[q] += Double(v)
                        (filt + q * steps * n).update(from: pred + q * steps * n, count: n)
                    }
                    // ĥ = h⁻ + e·Kᵀ
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r32, n32, m32, 1, e, m32, k, m32, 1, filt, tn)
                }
                for q in 0..<rows { logLikelihood[q0 + q] = Float(constant - 0.5 * quadratic[q]) }
            }
        }
    }

    /// kalman_ldm_mean_backward for G = 1 as products: ē = h̄·K, h̄⁻ = h̄ − [ē + r, 0], h̄_{t−1} = h̄⁻·A, each
    /// written straight into its tape (h̄_{t−1} is the next step's input).
    func kalmanLDMMeanBackwardProducts(A a: UnsafeMutablePointer<Float>, gains: UnsafeMutablePointer<Float>,
                                       whitened: UnsafeMutablePointer<Float>, gradientScale: Float, stopGradient: Bool,
                                       gradZ: UnsafeMutablePointer<Float>, hBarOut: UnsafeMutablePointer<Float>,
                                       hBarMinusOut: UnsafeMutablePointer<Float>, wOut: UnsafeMutablePointer<Float>,
                                       b: Int, steps: Int, n: Int, m: Int) {
        let ranges = kalmanProductRanges(batch: b, n: n, m: m)
        let (n32, m32) = (Int32(n), Int32(m))
        Parallel.run(ranges.count) { chunk in
            let range = ranges[chunk], rows = range.count, r32 = Int32(rows), q0 = range.lowerBound
            withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * m) { scratch in
                let eBar = scratch.baseAddress!
                (hBarOut + ((steps - 1) * b + q0) * n).update(repeating: 0, count: rows * n)
                for t in stride(from: steps - 1, through: 0, by: -1) {
                    let slot = t * b + q0
                    let hBar = hBarOut + slot * n, hMinus = hBarMinusOut + slot * n
                    let r = whitened + slot * m, w = wOut + slot * m
                    // ē = h̄·K
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r32, m32, n32, 1, hBar, n32, gains + t * n * m,
                                m32, 0, eBar, m32)
                    hMinus.update(from: hBar, count: rows * n)
                    for q in 0..<rows {
                        let gz = gradZ + ((q0 + q) * steps + t) * m
                        for j in 0..<m {
                            let (eb, rj) = (eBar[q * m + j], r[q * m + j])
                            gz[j] = gradientScale * (stopGradient ? eb : eb + rj)
                            w[q * m + j] = eb + 0.5 * rj
                            hMinus[q * n + j] -= eb + rj
                        }
                    }
                    // h̄_{t−1} = h̄⁻·A (row vectors: Aᵀ·h̄⁻)
                    if t > 0 {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r32, n32, n32, 1, hMinus, n32, a, n32, 0,
                                    hBarOut + (slot - b) * n, n32)
                    }
                }
            }
        }
    }

    /// kalman_mean_smoother for G = 1 as products: ĥˢ_t = ĥ_t + (ĥˢ_{t+1} − h⁻_{t+1})·Gᵀ.
    func kalmanMeanSmootherProducts(filtered: UnsafeMutablePointer<Float>, predicted: UnsafeMutablePointer<Float>,
                                    gains: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                                    b: Int, steps: Int, n: Int) {
        let ranges = kalmanProductRanges(batch: b, n: n, m: n)
        let (n32, tn) = (Int32(n), Int32(steps * n))
        Parallel.run(ranges.count) { chunk in
            let range = ranges[chunk], rows = range.count, q0 = range.lowerBound
            withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * n) { scratch in
                let difference = scratch.baseAddress!
                for q in range { (out + (q * steps + steps - 1) * n).update(from: filtered + (q * steps + steps - 1) * n, count: n) }
                for t in stride(from: steps - 2, through: 0, by: -1) {
                    for q in 0..<rows {
                        let next = ((q0 + q) * steps + t + 1) * n, now = next - n
                        for i in 0..<n { difference[q * n + i] = out[next + i] - predicted[next + i] }
                        (out + now).update(from: filtered + now, count: n)
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), n32, n32, 1, difference, n32,
                                gains + t * n * n, n32, 1, out + (q0 * steps + t) * n, tn)
                }
            }
        }
    }
}

extension CPUBackend {
    public func uncheckedKalmanInnovationInverses(_ tape: KalmanCovarianceTape, into inverses: Tensor) throws {
        let op = "kalmanInnovationInverses"
        let m = tape.m, factors = try floats(tape.factors, op), out = try floats(inverses, op)
        Parallel.forChunks(tape.steps * tape.groups, threads: threads, costPerItem: m * m * m) { range in
            for s in range {
                let inverse = out + s * m * m
                for e in 0..<(m * m) { inverse[e] = e / m == e % m ? 1 : 0 }
                SmallMatrix.choleskySolve(factors + s * m * m, m, inverse, columns: m)
            }
        }
    }

    public func uncheckedKalmanLogLikelihood(_ innovations: Tensor, whitened: Tensor, _ tape: KalmanCovarianceTape,
                                             into logLikelihood: Tensor) throws {
        let op = "kalmanLogLikelihood"
        let (e, r, logDets, out) = (try floats(innovations, op), try floats(whitened, op), try floats(tape.logDeterminants, op),
                                    try floats(logLikelihood, op))
        let (b, steps, m, g) = (logLikelihood.count, tape.steps, tape.m, tape.groups)
        var constants = [Double](repeating: 0, count: g)   // −½·Σ_t (log det S_t + m·log 2π) per noise group
        for t in 0..<steps {
            for group in 0..<g { constants[group] += -0.5 * (Double(logDets[t * g + group]) + Double(m) * Foundation.log(2 * Double.pi)) }
        }
        Parallel.forChunks(b, threads: threads, costPerItem: steps * m) { sequences in
            for q in sequences {
                let constant = constants[q / (b / g)]
                var quadratic = 0.0
                for t in 0..<steps {
                    let slot = (t * b + q) * m
                    var v: Float = 0
                    for i in 0..<m { v += e[slot + i] * r[slot + i] }
                    quadratic += Double(v)
                }
                out[q] = Float(constant - 0.5 * quadratic)
            }
        }
    }

    /// The sequential means win on the CPU at every measured size: its per-step products already split the batch
    /// over the cores, and the time-parallel form adds the products over all steps and the scan's carries
    /// (docs/benchmarks.md, "Time-parallel Kalman means").
    public func kalmanTimeParallelPreferred(batch: Int, steps: Int, n: Int) -> Bool { false }

    /// One chunk (the sequential recursion): a scan element and its combination cost about 5× a sequential step,
    /// which two cores cannot win back (docs/benchmarks.md); the groups already share the threads.
    public func kalmanCovarianceChunks(groups: Int, steps: Int, n: Int) -> Int { 1 }
}

import Foundation
import LDMEngine

/// kalman (CPU): batched linear-Gaussian filtering (predict, Joseph-form update, symmetrise; S factored by
/// Cholesky with the SPEC §9 jitter policy, never inverted) and the Rauch–Tung–Striebel smoother. Sequences run in
/// parallel; each one's time loop works on small dense matrices.
extension CPUBackend {
    /// Filters `z` ([B, T, m]) under `model` into `out`; returns the largest jitter added to any S_t.
    public func kalmanFilter(_ z: Tensor, _ model: LinearGaussianModel, into out: KalmanFilterOutputs) throws -> Float {
        let (b, t, n, m) = try KalmanChecks.filter(z, model, out)
        let op = "kalmanFilter"
        let pz = try floats(z, op), pmOut = try floats(out.predictedMeans, op), pcOut = try floats(out.predictedCovariances, op)
        let fmOut = try floats(out.filteredMeans, op), fcOut = try floats(out.filteredCovariances, op)
        let sOut = try floats(out.innovationCovariances, op), llOut = try floats(out.logLikelihood, op)
        var failures = [Int](repeating: -1, count: b), jitters = [Float](repeating: 0, count: b)
        let logTwoPi = Float(log(2 * Double.pi))
        failures.withUnsafeMutableBufferPointer { failed in
            jitters.withUnsafeMutableBufferPointer { jitterUsed in
                Parallel.forChunks(b, threads: threads, costPerItem: t * n * n * n) { sequences in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * n * n + 4 * n * m + 3 * m * m + 2 * n + 2 * m) { scratch in
                        var cursor = scratch.baseAddress!
                        func take(_ count: Int) -> UnsafeMutablePointer<Float> { defer { cursor += count }; return cursor }
                        let mean = take(n), cov = take(n * n), tmp = take(n * n), ikh = take(n * n), tmp2 = take(n * n)
                        let pm = take(n), pc = take(n * n), phT = take(n * m), gainT = take(m * n), gain = take(n * m)
                        let kr = take(n * m), s = take(m * m), factor = take(m * m), rCopy = take(m * m), e = take(m), se = take(m)
                        _ = tmp2
                        for q in sequences {
                            model.m0.withUnsafeBufferPointer { mean.update(from: $0.baseAddress!, count: n) }
                            model.P0.withUnsafeBufferPointer { cov.update(from: $0.baseAddress!, count: n * n) }
                            var logLikelihood = 0.0
                            for step in 0..<t {
                                let at = q * t + step
                                // Predict.
                                model.F.withUnsafeBufferPointer { f in
                                    SmallMatrix.multiply(f.baseAddress!, mean, n, n, 1, into: pm)
                                    SmallMatrix.multiply(f.baseAddress!, cov, n, n, n, into: tmp)
                                    SmallMatrix.multiply(tmp, f.baseAddress!, n, n, n, transposeB: true, into: pc)
                                }
                                for i in 0..<n { pm[i] += model.offset[i] }
                                for e in 0..<(n * n) { pc[e] += model.Q[e] }
                                // Innovation and its covariance S = H·P⁻·Hᵀ + R.
                                model.H.withUnsafeBufferPointer { h in
                                    SmallMatrix.multiply(pc, h.baseAddress!, n, n, m, transposeB: true, into: phT)
                                    SmallMatrix.multiply(h.baseAddress!, phT, m, n, m, into: s)
                                    SmallMatrix.multiply(h.baseAddress!, pm, m, n, 1, into: se)
                                }
                                for e in 0..<(m * m) { s[e] += model.R[e] }
                                for i in 0..<m { e[i] = pz[at * m + i] - se[i] }
                                // Factor S (jitter if needed).
                                var meanDiagonal: Float = 0
                                for i in 0..<m { meanDiagonal += s[i * m + i] / Float(m) }
                                var jitter: Float = 0, factored = false
                                for attempt in 0...Self.jitterTries {
                                    if attempt > 0 { jitter = 1e-6 * meanDiagonal * Float(pow(10, Double(attempt - 1))) }
                                    factor.update(from: s, count: m * m)
                                    for i in 0..<m { factor[i * m + i] += jitter }
                                    if SmallMatrix.cholesky(factor, m) { factored = true; break }
                                }
                                guard factored else { failed[q] = step; break }
                                jitterUsed[q] = max(jitterUsed[q], jitter)
                                // Gain K = P⁻Hᵀ·S⁻¹ through Kᵀ = S⁻¹·(P⁻Hᵀ)ᵀ.
                                for i in 0..<m { for j in 0..<n { gainT[i * n + j] = phT[j * m + i] } }
                                SmallMatrix.choleskySolve(factor, m, gainT, columns: n)
                                for i in 0..<n { for j in 0..<m { gain[i * m + j] = gainT[j * n + i] } }
                                // Log-likelihood of the innovation.
                                se.update(from: e, count: m)
                                SmallMatrix.choleskySolve(factor, m, se, columns: 1)
                                var quadratic: Float = 0, logDet: Float = 0
                                for i in 0..<m { quadratic += e[i] * se[i]; logDet += 2 * log(factor[i * m + i]) }
                                logLikelihood += Double(-0.5 * (quadratic + logDet + Float(m) * logTwoPi))
                                // Update: mean = m⁻ + K·e; P = (I − KH)·P⁻·(I − KH)ᵀ + K·R·Kᵀ, symmetrised.
                                for i in 0..<n {
                                    var total = pm[i]
                                    for j in 0..<m { total += gain[i * m + j] * e[j] }
                                    mean[i] = total
                                }
                                model.H.withUnsafeBufferPointer { h in SmallMatrix.multiply(gain, h.baseAddress!, n, m, n, into: ikh) }
                                for i in 0..<n { for j in 0..<n { ikh[i * n + j] = (i == j ? 1 : 0) - ikh[i * n + j] } }
                                SmallMatrix.multiply(ikh, pc, n, n, n, into: tmp)
                                SmallMatrix.multiply(tmp, ikh, n, n, n, transposeB: true, into: cov)
                                model.R.withUnsafeBufferPointer { rCopy.update(from: $0.baseAddress!, count: m * m) }
                                SmallMatrix.multiply(gain, rCopy, n, m, m, into: kr)
                                SmallMatrix.multiply(kr, gain, n, m, n, transposeB: true, into: tmp)
                                for i in 0..<n {
                                    for j in 0...i {
                                        let value = 0.5 * ((cov[i * n + j] + tmp[i * n + j]) + (cov[j * n + i] + tmp[j * n + i]))
                                        cov[i * n + j] = value
                                        cov[j * n + i] = value
                                    }
                                }
                                (pmOut + at * n).update(from: pm, count: n)
                                (pcOut + at * n * n).update(from: pc, count: n * n)
                                (fmOut + at * n).update(from: mean, count: n)
                                (fcOut + at * n * n).update(from: cov, count: n * n)
                                (sOut + at * m * m).update(from: s, count: m * m)
                            }
                            llOut[q] = Float(logLikelihood)
                        }
                    }
                }
            }
        }
        if let q = failures.firstIndex(where: { $0 >= 0 }) {
            throw LDMError.notPositiveDefinite(what: "the innovation covariance S of sequence \(q) at step \(failures[q])",
                                               detail: "Cholesky failed even after jitter; check Q, R and P0")
        }
        return jitters.max() ?? 0
    }

    /// Rauch–Tung–Striebel smoothing of a filter's outputs: `G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹` through a Cholesky solve.
    public func rtsSmoother(_ filtered: KalmanFilterOutputs, _ model: LinearGaussianModel, means: Tensor,
                            covariances: Tensor) throws {
        let op = "rtsSmoother"
        let dims = filtered.filteredMeans.shape.dims
        let (b, t, n) = (dims[0], dims[1], dims[2])
        try KernelChecks.count(op, "means", means, b * t * n)
        try KernelChecks.count(op, "covariances", covariances, b * t * n * n)
        let fm = try floats(filtered.filteredMeans, op), fc = try floats(filtered.filteredCovariances, op)
        let pm = try floats(filtered.predictedMeans, op), pc = try floats(filtered.predictedCovariances, op)
        let sm = try floats(means, op), sc = try floats(covariances, op)
        sm.update(from: fm, count: b * t * n)
        sc.update(from: fc, count: b * t * n * n)
        guard t > 1 else { return }
        var failures = [Int](repeating: -1, count: b)
        failures.withUnsafeMutableBufferPointer { failed in
            Parallel.forChunks(b, threads: threads, costPerItem: t * n * n * n) { sequences in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 5 * n * n + n) { scratch in
                    let factor = scratch.baseAddress!, gainT = factor + n * n, gain = gainT + n * n
                    let diff = gain + n * n, tmp = diff + n * n, meanStep = tmp + n * n
                    for q in sequences {
                        for step in stride(from: t - 2, through: 0, by: -1) {
                            let now = q * t + step, next = now + 1
                            factor.update(from: pc + next * n * n, count: n * n)
                            guard SmallMatrix.cholesky(factor, n) else { failed[q] = step; break }
                            // Gᵀ = (P⁻_{t+1})⁻¹·F·P_t (P_t and P⁻ symmetric).
                            model.F.withUnsafeBufferPointer { f in
                                SmallMatrix.multiply(f.baseAddress!, fc + now * n * n, n, n, n, into: gainT)
                            }
                            SmallMatrix.choleskySolve(factor, n, gainT, columns: n)
                            for i in 0..<n { for j in 0..<n { gain[i * n + j] = gainT[j * n + i] } }
                            for i in 0..<n { meanStep[i] = sm[next * n + i] - pm[next * n + i] }
                            for i in 0..<n {
                                var total = fm[now * n + i]
                                for j in 0..<n { total += gain[i * n + j] * meanStep[j] }
                                sm[now * n + i] = total
                            }
                            for e in 0..<(n * n) { diff[e] = sc[next * n * n + e] - pc[next * n * n + e] }
                            SmallMatrix.multiply(gain, diff, n, n, n, into: tmp)
                            SmallMatrix.multiply(tmp, gain, n, n, n, transposeB: true, into: diff)
                            for e in 0..<(n * n) { sc[now * n * n + e] = fc[now * n * n + e] + diff[e] }
                        }
                    }
                }
            }
        }
        if let q = failures.firstIndex(where: { $0 >= 0 }) {
            throw LDMError.notPositiveDefinite(what: "the predicted covariance of sequence \(q) at step \(failures[q] + 1)",
                                               detail: "the smoother cannot factor it")
        }
    }
}

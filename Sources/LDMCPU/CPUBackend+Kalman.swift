import Foundation
import LDMEngine

/// kalman (CPU twin of Kernels/kalman.cl): the covariance half of the filter once per group, the means half one
/// sequence per task, and the Rauch–Tung–Striebel smoother split the same way. Layouts: KalmanKernels.swift.
extension CPUBackend {
    public func uncheckedKalmanCovarianceForward(_ x: KalmanCovarianceInputs, into tape: KalmanCovarianceTape) throws -> Float {
        let op = "kalmanCovarianceForward"
        let (n, m, g, steps) = (x.n, x.m, x.groups, x.steps)
        let f = try floats(x.F, op), h = try floats(x.H, op), q = try floats(x.Q, op), r = try floats(x.R.tensor, op)
        let p0 = try floats(x.P0, op)
        let predicted = try floats(tape.predicted, op), filtered = try floats(tape.filtered, op)
        let innovation = try floats(tape.innovation, op), factors = try floats(tape.factors, op)
        let gains = try floats(tape.gains, op), logDets = try floats(tape.logDeterminants, op)
        let rStrides = x.R.strides(perStep: x.R.isLogDiagonal ? m : m * m)
        let (extra, logDiagonal) = (x.R.extra, x.R.isLogDiagonal)
        var failures = [Int](repeating: -1, count: g), jitters = [Float](repeating: 0, count: g)
        // H = [I 0] (the Kalman-LDM loss's observation of the leading coordinates): the products with H are
        // selections, and the Joseph update costs two n²·m products instead of 2n³ + n²·m (half a step at n = m).
        let selectsLeading = (0..<(m * n)).allSatisfy { h[$0] == ($0 / n == $0 % n ? 1 : 0) }
        let timeInvariant = x.R.extent.steps == 1
        failures.withUnsafeMutableBufferPointer { failed in
            jitters.withUnsafeMutableBufferPointer { jitterUsed in
                Parallel.forChunks(g, threads: threads, costPerItem: steps * n * n * n) { groups in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n * n + 2 * n * m + m * m) { scratch in
                        let tmp = scratch.baseAddress!, ikh = tmp + n * n, joseph = ikh + n * n
                        let pht = joseph + n * n, kr = pht + n * m, rg = kr + n * m
                        for group in groups {
                            for t in 0..<steps {
                                let at = t * g + group
                                let prev = t == 0 ? UnsafePointer(p0) : UnsafePointer(filtered + (at - g) * n * n)
                                let pred = predicted + at * n * n, s = innovation + at * m * m
                                let factor = factors + at * m * m, k = gains + at * n * m, p = filtered + at * n * n
                                // P⁻ = F·P·Fᵀ + Q
                                SmallMatrix.product(f, prev, n, n, n, into: tmp)
                                SmallMatrix.product(tmp, f, n, n, n, transposeB: true, into: pred)
                                let qg = q + group * x.qGroupStride
                                for e in 0..<(n * n) { pred[e] += qg[e] }
                                // R_{g,t} and S = H·P⁻·Hᵀ + R
                                let rAt = r + group * rStrides.group + t * rStrides.step
                                for e in 0..<(m * m) {
                                    let (i, j) = (e / m, e % m)
                                    rg[e] = logDiagonal ? (i == j ? Foundation.exp(rAt[i]) + extra : 0) : rAt[e]
                                }
                                if selectsLeading {
                                    for i in 0..<n { (pht + i * m).update(from: pred + i * n, count: m) }
                                    s.update(from: pht, count: m * m)
                                } else {
                                    SmallMatrix.product(pred, h, n, n, m, transposeB: true, into: pht)
                                    SmallMatrix.product(h, pht, m, n, m, into: s)
                                }
                                for e in 0..<(m * m) { s[e] += rg[e] }
                                guard let jitter = SmallMatrix.factorWithJitter(s, m, into: factor, tries: Self.jitterTries) else { failed[group] = t; break }
                                jitterUsed[group] = max(jitterUsed[group], jitter)
                                var logDet: Float = 0
                                for i in 0..<m { logDet += 2 * Foundation.log(factor[i * m + i]) }
                                logDets[at] = logDet
                                // K = P⁻Hᵀ·S⁻¹ through Kᵀ = S⁻¹·(P⁻Hᵀ)ᵀ, all n right-hand sides at once (S symmetric).
                                for i in 0..<n { for j in 0..<m { kr[j * n + i] = pht[i * m + j] } }
                                SmallMatrix.choleskySolve(factor, m, kr, columns: n)
                                for i in 0..<n { for j in 0..<m { k[i * m + j] = kr[j * n + i] } }
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
                                for i in 0..<n {
                                    for j in 0...i {
                                        let v = 0.5 * (joseph[i * n + j] + joseph[j * n + i])
                                        p[i * n + j] = v
                                        p[j * n + i] = v
                                    }
                                }
                                // With R the same at every step (Q always is), a step is a fixed function of
                                // P_{t−1}. Once P_t equals P_{t−p} bit for bit (p = 1, or 2 where rounding
                                // alternates), step s computes exactly what step s − p did for every later s, so
                                // the rest of the tape is copies, in order.
                                let bytes = n * n * MemoryLayout<Float>.size
                                let repeats = { (period: Int) in period <= t && memcmp(p, filtered + (at - period * g) * n * n, bytes) == 0 }
                                if timeInvariant, let period = (1...2).first(where: repeats) {
                                    for later in (t + 1)..<steps {
                                        let to = later * g + group, from = to - period * g
                                        (predicted + to * n * n).update(from: predicted + from * n * n, count: n * n)
                                        (filtered + to * n * n).update(from: filtered + from * n * n, count: n * n)
                                        (innovation + to * m * m).update(from: innovation + from * m * m, count: m * m)
                                        (factors + to * m * m).update(from: factors + from * m * m, count: m * m)
                                        (gains + to * n * m).update(from: gains + from * n * m, count: n * m)
                                        logDets[to] = logDets[from]
                                    }
                                    break
                                }
                            }
                        }
                    }
                }
            }
        }
        if let group = failures.firstIndex(where: { $0 >= 0 }) {
            throw KalmanChecks.innovationFailure(group: group, step: failures[group])
        }
        return jitters.max() ?? 0
    }

    public func uncheckedKalmanMeanForward(_ z: Tensor, _ x: KalmanMeanInputs, _ tape: KalmanCovarianceTape,
                                  into means: KalmanMeanTape) throws {
        let b = z.shape.dims[0]
        let op = "kalmanMeanForward"
        let (n, m, steps, g) = (tape.n, tape.m, tape.steps, tape.groups)
        let pz = try floats(z, op), f = try floats(x.F, op), c = try floats(x.offset, op), h = try floats(x.H, op)
        let m0 = try floats(x.m0, op), factors = try floats(tape.factors, op), gains = try floats(tape.gains, op)
        let logDets = try floats(tape.logDeterminants, op)
        let predicted = try floats(means.predictedMeans, op), filtered = try floats(means.filteredMeans, op)
        let previous = try floats(means.previousMeans, op), whitened = try floats(means.whitened, op)
        let logLikelihood = try floats(means.logLikelihood, op)
        if g == 1 && n >= Self.kalmanProductsOrder {
            return kalmanMeanForwardProducts(z: pz, F: f, offset: c, H: h, m0: m0, factors: factors, gains: gains,
                                             logDets: logDets, predicted: predicted, filtered: filtered, previous: previous,
                                             whitened: whitened, logLikelihood: logLikelihood, b: b, steps: steps, n: n, m: m)
        }
        if g == 1 {
            return kalmanMeanForwardLanes(z: pz, F: f, offset: c, H: h, m0: m0, factors: factors, gains: gains, logDets: logDets,
                                          predicted: predicted, filtered: filtered, previous: previous, whitened: whitened,
                                          logLikelihood: logLikelihood, b: b, steps: steps, n: n, m: m)
        }
        let perGroup = b / g, logTwoPi = Float(Foundation.log(2 * Double.pi))
        Parallel.forChunks(b, threads: threads, costPerItem: steps * (n * n + 2 * n * m + m * m)) { sequences in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * m) { scratch in
                let e = scratch.baseAddress!, r = e + m
                for q in sequences {
                    let group = q / perGroup
                    var total = 0.0   // over time in Double: float32 loses 3e-5 of it in 10 000 steps
                    for t in 0..<steps {
                        let at = t * g + group, row = q * steps + t
                        let prev = t == 0 ? m0 : filtered + (row - 1) * n
                        (previous + (t * b + q) * n).update(from: prev, count: n)
                        let pm = predicted + row * n
                        SmallMatrix.product(f, prev, n, n, 1, into: pm)
                        for i in 0..<n { pm[i] += c[i] }
                        SmallMatrix.product(h, pm, m, n, 1, into: e)
                        for i in 0..<m { e[i] = pz[row * m + i] - e[i] }
                        r.update(from: e, count: m)
                        SmallMatrix.choleskySolve(factors + at * m * m, m, r, columns: 1)
                        var quadratic: Float = 0
                        for i in 0..<m { quadratic += e[i] * r[i] }
                        total += -0.5 * Double(quadratic + logDets[at] + Float(m) * logTwoPi)
                        (whitened + (t * b + q) * m).update(from: r, count: m)
                        let k = gains + at * n * m, fm = filtered + row * n
                        for i in 0..<n {
                            var v = pm[i]
                            for j in 0..<m { v += k[i * m + j] * e[j] }
                            fm[i] = v
                        }
                    }
                    logLikelihood[q] = Float(total)
                }
            }
        }
    }

    public func uncheckedKalmanCovarianceSmoother(_ tape: KalmanCovarianceTape, F: Tensor, into smoother: KalmanSmootherTape) throws {
        let op = "kalmanCovarianceSmoother"
        let (n, g, steps) = (tape.n, tape.groups, tape.steps)
        let f = try floats(F, op), predicted = try floats(tape.predicted, op), filtered = try floats(tape.filtered, op)
        let gains = try floats(smoother.gains, op), smoothed = try floats(smoother.covariances, op)
        var failures = [Int](repeating: -1, count: g)
        failures.withUnsafeMutableBufferPointer { failed in
            Parallel.forChunks(g, threads: threads, costPerItem: steps * n * n * n) { groups in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n * n) { scratch in
                    let factor = scratch.baseAddress!, diff = factor + n * n, tmp = diff + n * n
                    for group in groups {
                        let last = (steps - 1) * g + group
                        (smoothed + last * n * n).update(from: filtered + last * n * n, count: n * n)
                        (gains + last * n * n).update(repeating: 0, count: n * n)
                        for t in stride(from: steps - 2, through: 0, by: -1) {
                            let now = t * g + group, next = now + g
                            factor.update(from: predicted + next * n * n, count: n * n)
                            guard SmallMatrix.cholesky(factor, n) else { failed[group] = t + 1; break }
                            // Gᵀ = (P⁻_{t+1})⁻¹·F·P_t, one column at a time; stored transposed into G.
                            SmallMatrix.product(f, filtered + now * n * n, n, n, n, into: tmp)
                            let gain = gains + now * n * n
                            for j in 0..<n {
                                for i in 0..<n { diff[i] = tmp[i * n + j] }
                                SmallMatrix.choleskySolve(factor, n, diff, columns: 1)
                                (gain + j * n).update(from: diff, count: n)
                            }
                            // P^s_t = P_t + G·(P^s_{t+1} − P⁻_{t+1})·Gᵀ
                            for e in 0..<(n * n) { diff[e] = smoothed[next * n * n + e] - predicted[next * n * n + e] }
                            SmallMatrix.product(gain, diff, n, n, n, into: tmp)
                            SmallMatrix.product(tmp, gain, n, n, n, transposeB: true, into: diff)
                            for e in 0..<(n * n) { smoothed[now * n * n + e] = filtered[now * n * n + e] + diff[e] }
                        }
                    }
                }
            }
        }
        if let group = failures.firstIndex(where: { $0 >= 0 }) {
            throw KalmanChecks.smootherFailure(group: group, step: failures[group])
        }
    }

    public func uncheckedKalmanMeanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups g: Int,
                                   into smoothedMeans: Tensor) throws {
        let op = "kalmanMeanSmoother"
        let (b, n, steps) = (means.batch, means.n, means.steps)
        let filtered = try floats(means.filteredMeans, op), predicted = try floats(means.predictedMeans, op)
        let gains = try floats(smoother.gains, op), out = try floats(smoothedMeans, op)
        if g == 1 && n >= Self.kalmanProductsOrder {
            return kalmanMeanSmootherProducts(filtered: filtered, predicted: predicted, gains: gains, out: out, b: b,
                                              steps: steps, n: n)
        }
        let perGroup = b / g
        Parallel.forChunks(b, threads: threads, costPerItem: steps * n * n) { sequences in
            for q in sequences {
                let group = q / perGroup, last = q * steps + steps - 1
                (out + last * n).update(from: filtered + last * n, count: n)
                for t in stride(from: steps - 2, through: 0, by: -1) {
                    let row = q * steps + t, gain = gains + (t * g + group) * n * n
                    for i in 0..<n {
                        var v = filtered[row * n + i]
                        for j in 0..<n { v += gain[i * n + j] * (out[(row + 1) * n + j] - predicted[(row + 1) * n + j]) }
                        out[row * n + i] = v
                    }
                }
            }
        }
    }
}

import Foundation
import LDMEngine

/// kalman (CPU twin of Kernels/kalman.cl): the covariance half of the filter once per group, the means half one
/// sequence per task, and the Rauch–Tung–Striebel smoother split the same way. Layouts: KalmanKernels.swift.
extension CPUBackend {
    /// The covariance recursion per group, its steps split into `chunks` (1: the sequential recursion). With several
    /// chunks, each chunk but the last first folds its steps' scan elements into one (KalmanScanElements), those are
    /// carried over in order to give each chunk its P before its first step, and then every chunk runs the
    /// sequential steps from there, all chunks at once: about 5× the arithmetic, so worth it only where the groups
    /// alone leave most of the device idle.
    public func uncheckedKalmanCovarianceForward(_ x: KalmanCovarianceInputs, into tape: KalmanCovarianceTape,
                                                 chunks: Int) throws -> Float {
        let op = "kalmanCovarianceForward"
        let (n, m, g, steps) = (x.n, x.m, x.groups, x.steps)
        let f = try floats(x.F, op), h = try floats(x.H, op), q = try floats(x.Q, op), r = try floats(x.R.tensor, op)
        let p0 = try floats(x.P0, op)
        let predicted = try floats(tape.predicted, op), filtered = try floats(tape.filtered, op)
        let innovation = try floats(tape.innovation, op), factors = try floats(tape.factors, op)
        let gains = try floats(tape.gains, op), logDets = try floats(tape.logDeterminants, op)
        let rStrides = x.R.strides(perStep: x.R.isLogDiagonal ? m : m * m)
        let noise = { (group: Int, t: Int) in UnsafePointer(r + group * rStrides.group + t * rStrides.step) }
        let processNoise = { (group: Int) in UnsafePointer(q + group * x.qGroupStride) }
        let step = KalmanCovarianceStep(x, f: f, h: h)
        let (length, count) = AffineScanShape.chunking(steps: steps, chunks)
        // Each chunk's P before its first step ([count, G, n, n], chunk 0's unused: it starts from P0).
        let starts = UnsafeMutablePointer<Float>.allocate(capacity: count > 1 ? count * g * n * n : 0)
        defer { starts.deallocate() }
        var jitter: Float = 0
        if count > 1 {
            let elements = KalmanScanElements(f: f, h: h, p0: p0, n: n, m: m, step: step)
            jitter = try kalmanScanStarts(elements, groups: g, length: length, count: count, q: processNoise, r: noise, into: starts)
        }
        let timeInvariant = x.R.extent.steps == 1
        var failures = [Int](repeating: -1, count: count * g), jitters = [Float](repeating: 0, count: count * g)
        failures.withUnsafeMutableBufferPointer { failed in
            jitters.withUnsafeMutableBufferPointer { jitterUsed in
                Parallel.forChunks(count * g, threads: threads, costPerItem: length * n * n * n) { items in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: step.scratchCount) { scratch in
                        for item in items {
                            let (k, group) = (item / g, item % g)
                            let first = k * length
                            for t in first..<min(steps, first + length) {
                                let at = t * g + group
                                let prev = t == 0 ? UnsafePointer(p0)
                                    : UnsafePointer(t == first ? starts + item * n * n : filtered + (at - g) * n * n)
                                let p = filtered + at * n * n
                                guard let used = step.run(previous: prev, q: processNoise(group), r: noise(group, t),
                                                          predicted: predicted + at * n * n, innovation: innovation + at * m * m,
                                                          factor: factors + at * m * m, gain: gains + at * n * m,
                                                          logDeterminant: &logDets[at], filtered: p, scratch: scratch.baseAddress!)
                                else { failed[item] = t; break }
                                jitterUsed[item] = max(jitterUsed[item], used)
                                // With R the same at every step (Q always is), a step is a fixed function of
                                // P_{t−1}. Once P_t equals P_{t−p} bit for bit (p = 1, or 2 where rounding
                                // alternates), step s computes exactly what step s − p did for every later s, so
                                // the rest of the chunk's tape is copies, in order.
                                let bytes = n * n * MemoryLayout<Float>.size
                                let repeats = { (period: Int) in period <= t - first && memcmp(p, filtered + (at - period * g) * n * n, bytes) == 0 }
                                if timeInvariant, let period = (1...2).first(where: repeats) {
                                    for later in (t + 1)..<min(steps, first + length) {
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
        // The earliest failing step of each group is the one to report (a later chunk may fail from a start that
        // an earlier failure left unfinished).
        for group in 0..<g {
            if let t = (0..<count).map({ failures[$0 * g + group] }).first(where: { $0 >= 0 }) {
                throw KalmanChecks.innovationFailure(group: group, step: t)
            }
        }
        return max(jitter, jitters.max() ?? 0)
    }

    /// The scan's first two passes: each chunk but the last folded into one element, then P before each later
    /// chunk's first step carried over in order, per group. Returns the largest jitter used.
    private func kalmanScanStarts(_ elements: KalmanScanElements, groups g: Int, length: Int, count: Int,
                                  q: (Int) -> UnsafePointer<Float>, r: (Int, Int) -> UnsafePointer<Float>,
                                  into starts: UnsafeMutablePointer<Float>) throws -> Float {
        let (n, steps, size) = (elements.n, (count - 1) * length, elements.count)
        let folded = UnsafeMutablePointer<Float>.allocate(capacity: (count - 1) * g * size)
        defer { folded.deallocate() }
        // Failures as step + 1 (0: none), negative for a combination that could not be factored.
        var failures = [Int](repeating: 0, count: (count - 1) * g), jitters = [Float](repeating: 0, count: (count - 1) * g)
        let scratchCount = size + max(elements.elementScratch, elements.combineScratch)
        failures.withUnsafeMutableBufferPointer { failed in
            jitters.withUnsafeMutableBufferPointer { jitterUsed in
                Parallel.forChunks((count - 1) * g, threads: threads, costPerItem: 20 * length * n * n * n) { items in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
                        let element = scratch.baseAddress!, work = element + size
                        for item in items {
                            let (k, group) = (item / g, item % g), total = folded + item * size
                            for t in (k * length)..<min(steps, (k + 1) * length) {
                                let into = t == k * length ? total : element
                                guard let used = elements.element(first: t == 0, q: q(group), r: r(group, t), into: into, scratch: work)
                                else { failed[item] = t + 1; break }
                                jitterUsed[item] = max(jitterUsed[item], used)
                                if t == k * length { continue }
                                guard let combined = elements.combine(total, element, into: total, posterior: k == 0, scratch: work)
                                else { failed[item] = -(t + 1); break }
                                jitterUsed[item] = max(jitterUsed[item], combined)
                            }
                        }
                    }
                }
            }
        }
        for item in 0..<failures.count where failures[item] != 0 {
            let (group, t) = (item % g, abs(failures[item]) - 1)
            throw failures[item] > 0 ? KalmanChecks.innovationFailure(group: group, step: t) : KalmanChecks.scanFailure(group: group, step: t)
        }
        // P before chunk k = chunk 0's fold (a posterior) for k = 1, then (0, P, 0) ⊗ fold_{k−1}.
        var carryFailures = [Int](repeating: -1, count: g), carryJitters = [Float](repeating: 0, count: g)
        carryFailures.withUnsafeMutableBufferPointer { failed in
            carryJitters.withUnsafeMutableBufferPointer { jitterUsed in
                Parallel.forChunks(g, threads: threads, costPerItem: 10 * count * n * n * n) { groups in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: size + elements.combineScratch) { scratch in
                        let posterior = scratch.baseAddress!, work = posterior + size
                        for group in groups {
                            (starts + (g + group) * n * n).update(from: folded + group * size + n * n, count: n * n)
                            for k in 2..<max(2, count) {
                                (posterior + n * n).update(from: starts + ((k - 1) * g + group) * n * n, count: n * n)
                                guard let used = elements.combine(posterior, folded + ((k - 1) * g + group) * size, into: posterior,
                                                                  posterior: true, scratch: work)
                                else { failed[group] = k * length - 1; break }
                                jitterUsed[group] = max(jitterUsed[group], used)
                                (starts + (k * g + group) * n * n).update(from: posterior + n * n, count: n * n)
                            }
                        }
                    }
                }
            }
        }
        if let group = carryFailures.firstIndex(where: { $0 >= 0 }) {
            throw KalmanChecks.scanFailure(group: group, step: carryFailures[group])
        }
        return max(jitters.max() ?? 0, carryJitters.max() ?? 0)
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

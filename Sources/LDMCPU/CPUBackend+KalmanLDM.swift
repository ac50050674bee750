import Foundation
import LDMEngine

/// kalman (CPU): the Kalman-LDM loss of SPEC §5 (stop-gradient form) and its gradients by a hand-written reverse
/// pass through time.
///
/// Forward per step: u = ĥ_{t−1} − b, h⁻ = A·u + b, P⁻ = A·P·Aᵀ + Σ_A, ẑ = D·h⁻, S = D·P⁻·Dᵀ + e^s·I, e = z − ẑ,
/// C = P⁻·Dᵀ, K = C·S⁻¹ (Cholesky solves), ĥ = h⁻ + K·e, P in Joseph form (symmetrised);
/// ℓ = ½·log det S + ½·eᵀ·S⁻¹·e with e's target side stopped.
///
/// Reverse: the covariance update is differentiated as P = P⁻ − C·S⁻¹·Cᵀ, which equals the Joseph form and has
/// the same derivative at the optimal gain (the Joseph form is stationary in K there). With h̄, P̄ flowing back:
/// from ĥ: h̄⁻ = h̄, ē = Kᵀh̄ (= ∂/∂z_t), K̄ = h̄·eᵀ; from P: P̄⁻ = P̄, C̄ = −(P̄ + P̄ᵀ)·K, S̄ = Kᵀ·P̄·K; from K = C·S⁻¹:
/// C̄ += K̄·S⁻¹, S̄ −= Kᵀ·K̄·S⁻¹; from ℓ: S̄ += ½(S⁻¹ − r·rᵀ), ẑ̄ = −ē − r with r = S⁻¹e; then into P̄⁻'s first
/// columns (C̄) and top-left block (S̄, and s̄ += e^s·tr S̄), h̄⁻'s first entries (ẑ̄), and through the predict step
/// to Ā, b̄, ā, s̄, ĥ̄_{t−1} = Aᵀh̄⁻ and P̄_{t−1} = Aᵀ·P̄⁻·A.
extension CPUBackend {
    /// The loss (mean over the B sequences of z, [B, T, d_l]) and its gradients.
    public func kalmanLDMLoss(_ z: Tensor, _ p: KalmanLDMParameters) throws -> KalmanLDMResult {
        let n = p.stateDimension
        guard z.shape.rank == 3, z.shape.dims[0] >= 1, z.shape.dims[1] >= 1, (1...n).contains(z.shape.dims[2]) else {
            throw LDMError.shapeMismatch(operation: "kalmanLDMLoss", detail: "z must be [B, T, d_l] with d_l ≤ d_s = \(n), got \(z.shape)")
        }
        let (b, t, dl) = (z.shape.dims[0], z.shape.dims[1], z.shape.dims[2])
        let pz = try floats(z, "kalmanLDMLoss")
        let gradZ = try makeTensor(z.shape), pgz = try floats(gradZ, "kalmanLDMLoss")
        let parameterCount = n * n + 2 * n + 1
        var perSequence = [Float](repeating: 0, count: b * parameterCount)   // Ā, b̄, ā, s̄ of each sequence
        var losses = [Double](repeating: 0, count: b)
        var failures = [Int](repeating: -1, count: b)
        let scale = exp(p.logScale)
        let sigmaA = (0..<n).map { exp(p.logScale + p.logProcessNoise[$0]) }
        perSequence.withUnsafeMutableBufferPointer { grads in
            losses.withUnsafeMutableBufferPointer { lossOut in
                failures.withUnsafeMutableBufferPointer { failed in
                    Parallel.forChunks(b, threads: threads, costPerItem: t * n * n * n) { sequences in
                        var tape = KalmanTape(steps: t, n: n, dl: dl)
                        for q in sequences {
                            let zq = pz + q * t * dl
                            guard let loss = tape.forward(zq, p, sigmaA: sigmaA, scale: scale) else { failed[q] = 1; continue }
                            lossOut[q] = loss
                            tape.backward(zq, p, sigmaA: sigmaA, scale: scale, gradZ: pgz + q * t * dl,
                                          parameters: grads.baseAddress! + q * parameterCount)
                        }
                    }
                }
            }
        }
        if let q = failures.firstIndex(where: { $0 >= 0 }) {
            throw LDMError.notPositiveDefinite(what: "an innovation covariance of sequence \(q)", detail: "check A, a and s")
        }
        // Mean over sequences.
        let inverseB = 1 / Float(b)
        Parallel.forChunks(b * t * dl, threads: threads) { range in for e in range { pgz[e] *= inverseB } }
        var total = [Float](repeating: 0, count: parameterCount)
        for q in 0..<b { for k in 0..<parameterCount { total[k] += perSequence[q * parameterCount + k] * inverseB } }
        return KalmanLDMResult(loss: losses.reduce(0, +) / Double(b), gradZ: gradZ,
                               gradA: Array(total[0..<(n * n)]), gradB: Array(total[(n * n)..<(n * n + n)]),
                               gradLogProcessNoise: Array(total[(n * n + n)..<(n * n + 2 * n)]), gradLogScale: total[n * n + 2 * n])
    }
}

/// What the forward pass keeps for the reverse pass of one sequence, and both passes.
struct KalmanTape {
    let steps: Int, n: Int, dl: Int
    var u: [Float], previousCov: [Float], predictedCov: [Float], factor: [Float], gain: [Float], innovation: [Float]

    init(steps: Int, n: Int, dl: Int) {
        self.steps = steps
        self.n = n
        self.dl = dl
        u = [Float](repeating: 0, count: steps * n)
        previousCov = [Float](repeating: 0, count: steps * n * n)
        predictedCov = [Float](repeating: 0, count: steps * n * n)
        factor = [Float](repeating: 0, count: steps * dl * dl)
        gain = [Float](repeating: 0, count: steps * n * dl)
        innovation = [Float](repeating: 0, count: steps * dl)
    }

    /// Runs the filter, recording the tape; returns Σ_t ℓ_t, or nil when an S_t cannot be factored.
    mutating func forward(_ z: UnsafeMutablePointer<Float>, _ p: KalmanLDMParameters, sigmaA: [Float], scale: Float)
        -> Double? {
        let (n, dl) = (self.n, self.dl)
        var mean = [Float](repeating: 0, count: n)
        var cov = (0..<(n * n)).map { Float($0 / n == $0 % n ? 1 : 0) }
        var predicted = [Float](repeating: 0, count: n), tmp = [Float](repeating: 0, count: n * n)
        var s = [Float](repeating: 0, count: dl * dl), gainT = [Float](repeating: 0, count: dl * n)
        var r = [Float](repeating: 0, count: dl), ikh = [Float](repeating: 0, count: n * n)
        var loss = 0.0
        for step in 0..<steps {
            for i in 0..<n { u[step * n + i] = mean[i] - p.b[i] }
            for i in 0..<n {
                var total = p.b[i]
                for j in 0..<n { total += p.A[i * n + j] * u[step * n + j] }
                predicted[i] = total
            }
            for e in 0..<(n * n) { previousCov[step * n * n + e] = cov[e] }
            // P⁻ = A·P·Aᵀ + Σ_A
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for k in 0..<n { total += p.A[i * n + k] * cov[k * n + j] }
                tmp[i * n + j] = total
            } }
            for i in 0..<n { for j in 0..<n {
                var total: Float = i == j ? sigmaA[i] : 0
                for k in 0..<n { total += tmp[i * n + k] * p.A[j * n + k] }
                predictedCov[step * n * n + i * n + j] = total
            } }
            let pc = step * n * n
            for i in 0..<dl { for j in 0..<dl { s[i * dl + j] = predictedCov[pc + i * n + j] + (i == j ? scale : 0) } }
            for i in 0..<dl { innovation[step * dl + i] = z[step * dl + i] - predicted[i] }
            var ok = true
            s.withUnsafeMutableBufferPointer { sp in
                factor.withUnsafeMutableBufferPointer { fp in
                    let f = fp.baseAddress! + step * dl * dl
                    f.update(from: sp.baseAddress!, count: dl * dl)
                    ok = SmallMatrix.cholesky(f, dl)
                }
            }
            guard ok else { return nil }
            // r = S⁻¹e, ℓ = ½ log det S + ½ eᵀr
            for i in 0..<dl { r[i] = innovation[step * dl + i] }
            factor.withUnsafeBufferPointer { fp in
                r.withUnsafeMutableBufferPointer { SmallMatrix.choleskySolve(fp.baseAddress! + step * dl * dl, dl, $0.baseAddress!, columns: 1) }
            }
            var logDet: Float = 0, quadratic: Float = 0
            for i in 0..<dl { logDet += 2 * log(factor[step * dl * dl + i * dl + i]); quadratic += innovation[step * dl + i] * r[i] }
            loss += Double(0.5 * logDet + 0.5 * quadratic)
            // K = C·S⁻¹ through Kᵀ = S⁻¹·Cᵀ (C = first dl columns of P⁻).
            for i in 0..<dl { for j in 0..<n { gainT[i * n + j] = predictedCov[pc + j * n + i] } }
            factor.withUnsafeBufferPointer { fp in
                gainT.withUnsafeMutableBufferPointer { SmallMatrix.choleskySolve(fp.baseAddress! + step * dl * dl, dl, $0.baseAddress!, columns: n) }
            }
            for i in 0..<n { for j in 0..<dl { gain[step * n * dl + i * dl + j] = gainT[j * n + i] } }
            // ĥ = h⁻ + K·e; P = (I − KD)·P⁻·(I − KD)ᵀ + e^s·K·Kᵀ, symmetrised.
            for i in 0..<n {
                var total = predicted[i]
                for j in 0..<dl { total += gain[step * n * dl + i * dl + j] * innovation[step * dl + j] }
                mean[i] = total
            }
            for i in 0..<n { for j in 0..<n { ikh[i * n + j] = (i == j ? 1 : 0) - (j < dl ? gain[step * n * dl + i * dl + j] : 0) } }
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for k in 0..<n { total += ikh[i * n + k] * predictedCov[pc + k * n + j] }
                tmp[i * n + j] = total
            } }
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for k in 0..<n { total += tmp[i * n + k] * ikh[j * n + k] }
                for k in 0..<dl { total += scale * gain[step * n * dl + i * dl + k] * gain[step * n * dl + j * dl + k] }
                cov[i * n + j] = total
            } }
            for i in 0..<n { for j in 0..<i { let v = 0.5 * (cov[i * n + j] + cov[j * n + i]); cov[i * n + j] = v; cov[j * n + i] = v } }
        }
        return loss
    }

    /// The reverse pass: writes ∂/∂z_t into gradZ and adds Ā, b̄, ā, s̄ into `parameters` (n² + 2n + 1 slots).
    func backward(_ z: UnsafeMutablePointer<Float>, _ p: KalmanLDMParameters, sigmaA: [Float], scale: Float,
                  gradZ: UnsafeMutablePointer<Float>, parameters: UnsafeMutablePointer<Float>) {
        let (n, dl) = (self.n, self.dl)
        var hBar = [Float](repeating: 0, count: n), pBar = [Float](repeating: 0, count: n * n)
        var hMinusBar = [Float](repeating: 0, count: n), pMinusBar = [Float](repeating: 0, count: n * n)
        var sBar = [Float](repeating: 0, count: dl * dl), cBar = [Float](repeating: 0, count: n * dl)
        var zhatBar = [Float](repeating: 0, count: dl)
        var r = [Float](repeating: 0, count: dl), sInverse = [Float](repeating: 0, count: dl * dl)
        var tmp = [Float](repeating: 0, count: n * n)
        let aBar = parameters, bBar = parameters + n * n, noiseBar = parameters + n * n + n, scaleBar = parameters + n * n + 2 * n
        for step in stride(from: steps - 1, through: 0, by: -1) {
            let k = gain.withUnsafeBufferPointer { $0.baseAddress! + step * n * dl }
            let e = innovation.withUnsafeBufferPointer { $0.baseAddress! + step * dl }
            let f = factor.withUnsafeBufferPointer { $0.baseAddress! + step * dl * dl }
            let pc = step * n * n
            // From ĥ = h⁻ + K·e.
            for i in 0..<n { hMinusBar[i] = hBar[i] }
            for j in 0..<dl {
                var total: Float = 0
                for i in 0..<n { total += k[i * dl + j] * hBar[i] }
                gradZ[step * dl + j] = total   // ē: the filter's observation is not stopped
                zhatBar[j] = -total
            }
            // From P = P⁻ − C·S⁻¹·Cᵀ: P̄⁻ = P̄, C̄ = −(P̄ + P̄ᵀ)·K, S̄ = Kᵀ·P̄·K.
            for e2 in 0..<(n * n) { pMinusBar[e2] = pBar[e2] }
            for i in 0..<n { for j in 0..<dl {
                var total: Float = 0
                for m in 0..<n { total -= (pBar[i * n + m] + pBar[m * n + i]) * k[m * dl + j] }
                cBar[i * dl + j] = total
            } }
            for i in 0..<dl { for j in 0..<dl {
                var total: Float = 0
                for m in 0..<n { for l in 0..<n { total += k[m * dl + i] * pBar[m * n + l] * k[l * dl + j] } }
                sBar[i * dl + j] = total
            } }
            // From K = C·S⁻¹ with K̄ = h̄·eᵀ: C̄ += K̄·S⁻¹ = h̄·(S⁻¹e)ᵀ; S̄ −= Kᵀ·K̄·S⁻¹ = (Kᵀh̄)·(S⁻¹e)ᵀ.
            for i in 0..<dl { r[i] = e[i] }
            SmallMatrix.choleskySolve(f, dl, &r, columns: 1)
            for i in 0..<n { for j in 0..<dl { cBar[i * dl + j] += hBar[i] * r[j] } }
            for i in 0..<dl { for j in 0..<dl { sBar[i * dl + j] -= (-zhatBar[i]) * r[j] } }
            // From ℓ = ½ log det S + ½ eᵀS⁻¹e (target side stopped): S̄ += ½(S⁻¹ − r·rᵀ), ẑ̄ −= r.
            for i in 0..<(dl * dl) { sInverse[i] = i / dl == i % dl ? 1 : 0 }
            SmallMatrix.choleskySolve(f, dl, &sInverse, columns: dl)
            for i in 0..<dl { for j in 0..<dl { sBar[i * dl + j] += 0.5 * (sInverse[i * dl + j] - r[i] * r[j]) } }
            for i in 0..<dl { zhatBar[i] -= r[i] }
            // Into P̄⁻ (C = P⁻·Dᵀ: first columns; S = D·P⁻·Dᵀ + e^s I: top-left block), s̄, and h̄⁻ (ẑ = D·h⁻).
            for i in 0..<n { for j in 0..<dl { pMinusBar[i * n + j] += cBar[i * dl + j] } }
            for i in 0..<dl { for j in 0..<dl { pMinusBar[i * n + j] += sBar[i * dl + j] } }
            for i in 0..<dl { scaleBar[0] += scale * sBar[i * dl + i] }
            for i in 0..<dl { hMinusBar[i] += zhatBar[i] }
            // Predict: h⁻ = A·u + b, u = ĥ_{t−1} − b.
            for i in 0..<n { for j in 0..<n { aBar[i * n + j] += hMinusBar[i] * u[step * n + j] } }
            for j in 0..<n {
                var total: Float = 0
                for i in 0..<n { total += p.A[i * n + j] * hMinusBar[i] }
                hBar[j] = total
                bBar[j] += hMinusBar[j] - total
            }
            // P⁻ = A·P·Aᵀ + Σ_A: Ā += P̄⁻·A·Pᵀ + P̄⁻ᵀ·A·P; P̄ = Aᵀ·P̄⁻·A; ā, s̄ from diag P̄⁻.
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for m in 0..<n { total += p.A[i * n + m] * previousCov[pc + m * n + j] }
                tmp[i * n + j] = total   // A·P
            } }
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for m in 0..<n {
                    // (P̄⁻·A·Pᵀ)_ij + (P̄⁻ᵀ·A·P)_ij, with A·Pᵀ = A·P (P symmetric)
                    total += (pMinusBar[i * n + m] + pMinusBar[m * n + i]) * tmp[m * n + j]
                }
                aBar[i * n + j] += total
            } }
            for i in 0..<n {
                noiseBar[i] += pMinusBar[i * n + i] * sigmaA[i]
                scaleBar[0] += pMinusBar[i * n + i] * sigmaA[i]
            }
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for m in 0..<n { total += pMinusBar[i * n + m] * p.A[m * n + j] }
                tmp[i * n + j] = total   // P̄⁻·A
            } }
            for i in 0..<n { for j in 0..<n {
                var total: Float = 0
                for m in 0..<n { total += p.A[m * n + i] * tmp[m * n + j] }
                pBar[i * n + j] = total
            } }
        }
    }
}

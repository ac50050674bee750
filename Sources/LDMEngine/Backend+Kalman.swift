import Foundation

/// A filtered batch: the covariance tape (per group) and the means tape (per sequence), on the backend.
public struct KalmanFilterResult {
    public let batch: Int, steps: Int
    public let covariances: KalmanCovarianceTape
    public let means: KalmanMeanTape
    /// The largest jitter added to any S_t (0 when none was needed).
    public let jitter: Float

    /// How many covariance groups the batch shares (1, or one per sequence).
    public var groups: Int { covariances.groups }
    /// [B] log p(z_1…z_T) per sequence, the −m/2·log 2π constants included.
    public var logLikelihood: Tensor { means.logLikelihood }
}

/// The smoothed batch.
public struct KalmanSmoothed {
    /// [B, T, n]
    public let means: Tensor
    /// [T, G, n, n] (see ``KalmanLayout/perSequence(_:steps:groups:batch:elements:)``)
    public let covariances: Tensor
}

/// Host-side conversions between the kernels' layouts.
public enum KalmanLayout {
    /// `[T, G, e]` per-group values as `[B, T, e]` per-sequence values (sequence q uses group q / (B / G)).
    public static func perSequence(_ values: [Float], steps: Int, groups: Int, batch: Int, elements: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * steps * elements)
        let perGroup = batch / groups
        for q in 0..<batch {
            for t in 0..<steps {
                let from = (t * groups + q / perGroup) * elements, to = (q * steps + t) * elements
                for e in 0..<elements { out[to + e] = values[from + e] }
            }
        }
        return out
    }
}

/// The constant tensors of the Kalman-LDM loss for one (d_s, d_l, B·T): D = [I 0], P0 = I, zero vectors and a
/// ones vector. Pass one to repeated ``Backend/kalmanLDMLoss(_:_:variant:logObservationNoise:workspace:)`` calls
/// (a training loop) so they are made once instead of uploaded on every step.
public final class KalmanLDMWorkspace {
    public let n: Int, dl: Int, rows: Int
    let observationMap: Tensor, identity: Tensor, zeroMean: Tensor, zeroNoise: Tensor, ones: Tensor

    public init(n: Int, dl: Int, rows: Int, on backend: any Backend) throws {
        (self.n, self.dl, self.rows) = (n, dl, rows)
        observationMap = try backend.upload((0..<(dl * n)).map { Float($0 / n == $0 % n ? 1 : 0) }, shape: [dl, n])
        identity = try backend.upload((0..<(n * n)).map { Float($0 / n == $0 % n ? 1 : 0) }, shape: [n, n])
        zeroMean = try backend.makeTensor([n])
        zeroNoise = try backend.makeTensor([1, 1, dl])
        ones = try backend.makeTensor([1, rows])
        try backend.fill(zeroMean, with: 0)
        try backend.fill(zeroNoise, with: 0)
        try backend.fill(ones, with: 1)
    }

    func fits(n: Int, dl: Int, rows: Int) -> Bool { self.n == n && self.dl == dl && self.rows == rows }
}

/// The Kalman-LDM loss's two forms (SPEC §5).
public enum KalmanLDMVariant: String, Sendable, CaseIterable {
    /// Σ_t ½ log det S_t + ½ (sg[z_t] − ẑ_t)ᵀ S_t⁻¹ (sg[z_t] − ẑ_t): the default.
    case stopGradient = "stopgrad"
    /// No stop-gradient, S_t + 1e-6·I, minus T·d·mean log ρ₃ (kNN entropy over all B·T latents).
    case knn
}

extension Backend {
    /// Filters `z` ([B, T, m]) under `model`: the covariance recursion once per noise group, then the means.
    ///
    /// ```swift
    /// let model = try LinearGaussianModel(F: [1, 0.1, 0, 1], H: [1, 0], Q: [0.01, 0, 0, 0.01], R: [0.1])
    /// let result = try backend.kalmanFilter(z, model)          // z: [B, T, 1]
    /// let logLikelihood = try backend.download(result.logLikelihood)
    /// ```
    public func kalmanFilter(_ z: Tensor, _ model: LinearGaussianModel) throws -> KalmanFilterResult {
        let (n, m) = (model.stateDimension, model.observationDimension)
        guard z.shape.rank == 3, z.shape.dims[2] == m, z.shape.dims[0] >= 1, z.shape.dims[1] >= 1 else {
            throw LDMError.shapeMismatch(operation: "kalmanFilter", detail: "observations must be [B, T, \(m)], got \(z.shape)")
        }
        let (b, t) = (z.shape.dims[0], z.shape.dims[1])
        let g = model.noiseGroups
        guard g == 1 || g == b else {
            throw LDMError.shapeMismatch(operation: "kalmanFilter", detail: "Q or R is given for \(g) sequences but the batch has \(b)")
        }
        let f = try upload(model.F, shape: [n, n]), h = try upload(model.H, shape: [m, n])
        let inputs = KalmanCovarianceInputs(
            F: f, H: h, Q: try upload(model.Q, shape: [model.qGroups, n, n]), qGroups: model.qGroups,
            R: .full(try upload(model.R, shape: [model.rGroups, 1, m, m]), groups: model.rGroups, steps: 1),
            P0: try upload(model.P0, shape: [n, n]), groups: g, steps: t, n: n, m: m)
        let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: m, on: self)
        let jitter = try kalmanCovarianceForward(inputs, into: tape)
        let means = try KalmanMeanTape(batch: b, steps: t, n: n, m: m, on: self)
        try kalmanMeanForward(z, KalmanMeanInputs(F: f, offset: try upload(model.offset, shape: [n]), H: h,
                                                  m0: try upload(model.m0, shape: [n])), tape, into: means)
        return KalmanFilterResult(batch: b, steps: t, covariances: tape, means: means, jitter: jitter)
    }

    /// Rauch–Tung–Striebel smoothing of a filtered batch (`G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹` by Cholesky solves).
    public func rtsSmoother(_ filtered: KalmanFilterResult, _ model: LinearGaussianModel) throws -> KalmanSmoothed {
        let (n, t, g) = (model.stateDimension, filtered.steps, filtered.groups)
        let smoother = try KalmanSmootherTape(groups: g, steps: t, n: n, on: self)
        try kalmanCovarianceSmoother(filtered.covariances, F: try upload(model.F, shape: [n, n]), into: smoother)
        let means = try makeTensor([filtered.batch, t, n])
        try kalmanMeanSmoother(filtered.means, smoother, groups: g, into: means)
        return KalmanSmoothed(means: means, covariances: smoother.covariances)
    }

    /// The Kalman-LDM loss of SPEC §5 (mean over the B sequences of Σ_t) and its gradients with respect to z, A,
    /// b, a, s and, when given, the per-step log observation-noise ℓ ([B, T, d_l]: Σ_D,t = e^s·diag(e^ℓ_t)).
    ///
    /// ```swift
    /// let p = try KalmanLDMParameters(A: [0.95, -0.31, 0.31, 0.95], logScale: -2)
    /// let result = try backend.kalmanLDMLoss(z, p)     // z: [B, T, 2] encoder outputs
    /// // result.gradZ goes back into the encoder; gradA, gradB, ... into the optimiser.
    /// ```
    public func kalmanLDMLoss(_ z: Tensor, _ p: KalmanLDMParameters, variant: KalmanLDMVariant = .stopGradient,
                              logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil) throws
        -> KalmanLDMResult {
        let forward = try kalmanLDMForward(z, p, variant: variant, logObservationNoise: logObservationNoise,
                                           workspace: workspace, operation: "kalmanLDMLoss")
        let (inputs, a, constants) = (forward.inputs, forward.A, forward.constants)
        let (tape, means) = (forward.filter.covariances, forward.filter.means)
        let n = p.stateDimension
        let (b, t, dl, g) = (z.shape.dims[0], z.shape.dims[1], z.shape.dims[2], inputs.groups)

        // Reverse: means per sequence, then the covariance recursion per group seeded by sums over its sequences.
        let adjoints = try KalmanLDMMeanAdjoints(batch: b, steps: t, n: n, m: dl, on: self)
        try kalmanLDMMeanBackward(tape, means, A: a, gradientScale: 1 / Float(b), stopGradient: variant == .stopGradient,
                                  into: adjoints)
        let perGroup = b / g
        let seedC = try makeTensor([t, g, n, dl]), seedS = try makeTensor([t, g, dl, dl])
        try matmul(adjoints.hBar, means.whitened, into: seedC, MatmulShape(batch: t * g, m: n, n: dl, k: perGroup, transposeA: true))
        try matmul(adjoints.w, means.whitened, into: seedS,
                   MatmulShape(batch: t * g, m: dl, n: dl, k: perGroup, transposeA: true, alpha: -1))
        let covarianceGrads = try KalmanLDMCovarianceGradients(groups: g, steps: t, n: n, m: dl, on: self)
        try kalmanLDMCovarianceBackward(inputs, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: perGroup,
                                        into: covarianceGrads)
        // The means' share of Ā and b̄: Σ_{t,q} h̄⁻·uᵀ with u = ĥ_{t−1} − b, and (I − Aᵀ)·Σ h̄⁻.
        let meanGradA = try makeTensor([n, n]), hBarSum = try makeTensor([1, n])
        try matmul(adjoints.hBarMinus, means.previousMeans, into: meanGradA, MatmulShape(m: n, n: n, k: t * b, transposeA: true))
        try matmul(constants.ones, adjoints.hBarMinus, into: hBarSum, MatmulShape(m: 1, n: n, k: t * b))

        // Everything the host needs, reduced on the device into one pack and read with a single download:
        // [Σh̄⁻ (n) | Σ h̄⁻·uᵀ (n²) | Σ_groups ∂/∂A (n²) | Σ_groups ∂/∂a (n) | Σ ∂/∂ℓ (1) | Σ_q log p (1)].
        let pack = try packKalmanLDMSums(hBarSum: hBarSum, meanGradA: meanGradA, covarianceGrads, groups: g,
                                         logLikelihood: means.logLikelihood, ones: constants.ones, n: n)
        let inverseB = 1 / Float(b)
        let v = Array(pack[0..<n]), fromMeans = Array(pack[n..<(n + n * n)])
        let fromCovariances = Array(pack[(n + n * n)..<(n + 2 * n * n)]), logQ = Array(pack[(n + 2 * n * n)..<(2 * n + 2 * n * n)])
        let logRSum = pack[2 * n + 2 * n * n], logLikelihoodSum = Double(pack[2 * n + 2 * n * n + 1])
        var loss = -logLikelihoodSum / Double(b) - Double(t * dl) / 2 * Foundation.log(2 * Double.pi)
        var gradA = [Float](repeating: 0, count: n * n), gradB = [Float](repeating: 0, count: n)
        var gradNoise = [Float](repeating: 0, count: n)
        for i in 0..<n {
            for j in 0..<n {
                gradA[i * n + j] = (fromMeans[i * n + j] - v[i] * p.b[j] + fromCovariances[i * n + j]) * inverseB
                gradB[i] -= p.A[j * n + i] * v[j] * inverseB
            }
            gradB[i] += v[i] * inverseB
            gradNoise[i] = logQ[i] * inverseB
        }
        let gradS = gradNoise.reduce(0, +) + logRSum * inverseB
        var gradNoiseTensor: Tensor?
        if logObservationNoise != nil {
            let scaled = try makeTensor([b, t, dl])
            try scale(covarianceGrads.gradLogR, by: inverseB, into: scaled)
            gradNoiseTensor = scaled
        }

        var entropy: Double?
        if variant == .knn {
            // − T·d·mean log ρ₃ over all B·T latents: the kNN estimate with c = d and no clip (quantile 1).
            let latents = try z.reshaped([b * t, dl]), gradient = try makeTensor([b * t, dl])
            let value = try knnEntropy(latents, gradient: gradient, KNNShape(rows: b * t, dimension: dl, k: 3,
                                                                              scale: Float(dl), quantile: 1)).value
            loss -= Double(t) * value
            try axpy(-Float(t), try gradient.reshaped(z.shape), adjoints.gradZ)
            entropy = value
        }
        return KalmanLDMResult(loss: loss, gradZ: adjoints.gradZ, gradA: gradA, gradB: gradB, gradLogProcessNoise: gradNoise,
                               gradLogScale: gradS, gradLogObservationNoise: gradNoiseTensor, entropy: entropy,
                               filter: forward.filter)
    }

    /// Sums the reverse pass's per-group pieces on the device and reads them back in one download (a GPU pays a
    /// synchronisation per read): [Σh̄⁻ | Σ h̄⁻·uᵀ | Σ_g ∂/∂A | Σ_g ∂/∂a | Σ ∂/∂ℓ | Σ_q log p], 2n² + 2n + 2 floats.
    private func packKalmanLDMSums(hBarSum: Tensor, meanGradA: Tensor, _ grads: KalmanLDMCovarianceGradients, groups g: Int,
                                   logLikelihood: Tensor, ones: Tensor, n: Int) throws -> [Float] {
        let pack = try makeTensor([2 * n * n + 2 * n + 2])
        try copy(hBarSum, offset: 0, to: pack, offset: 0, count: n)
        try copy(meanGradA, offset: 0, to: pack, offset: n, count: n * n)
        // Σ over the groups as 1 × g products with the workspace's ones vector (B·T ≥ g entries).
        let groupA = try makeTensor([1, n * n]), groupQ = try makeTensor([1, n])
        try matmul(ones, grads.gradA, into: groupA, MatmulShape(m: 1, n: n * n, k: g))
        try matmul(ones, grads.gradLogQ, into: groupQ, MatmulShape(m: 1, n: n, k: g))
        try copy(groupA, offset: 0, to: pack, offset: n + n * n, count: n * n)
        try copy(groupQ, offset: 0, to: pack, offset: n + 2 * n * n, count: n)
        let scalar = try makeTensor([1])
        try reduceRows(grads.gradLogR, into: scalar, .sum, RowsShape(rows: 1, columns: grads.gradLogR.count))
        try copy(scalar, offset: 0, to: pack, offset: 2 * n + 2 * n * n, count: 1)
        try reduceRows(logLikelihood, into: scalar, .sum, RowsShape(rows: 1, columns: logLikelihood.count))
        try copy(scalar, offset: 0, to: pack, offset: 2 * n + 2 * n * n + 1, count: 1)
        return try download(pack)
    }

    /// The Kalman-LDM model's filter alone (the loss's forward pass, no reverse pass): filtered and predicted means
    /// and covariances of `z` [B, T, d_l], with the per-step observation noise when given. For evaluation.
    public func kalmanLDMFilter(_ z: Tensor, _ p: KalmanLDMParameters, variant: KalmanLDMVariant = .stopGradient,
                                logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil) throws
        -> KalmanFilterResult {
        try kalmanLDMForward(z, p, variant: variant, logObservationNoise: logObservationNoise, workspace: workspace,
                             operation: "kalmanLDMFilter").filter
    }

    /// Checks the arguments, builds the filter inputs from (A, b, a, s, ℓ) and runs the forward pass: covariances
    /// per group, means per sequence.
    private func kalmanLDMForward(_ z: Tensor, _ p: KalmanLDMParameters, variant: KalmanLDMVariant,
                                  logObservationNoise: Tensor?, workspace: KalmanLDMWorkspace?, operation op: String) throws
        -> (inputs: KalmanCovarianceInputs, A: Tensor, constants: KalmanLDMWorkspace, filter: KalmanFilterResult) {
        let n = p.stateDimension
        guard z.shape.rank == 3, z.shape.dims[0] >= 1, z.shape.dims[1] >= 1, (1...n).contains(z.shape.dims[2]) else {
            throw LDMError.shapeMismatch(operation: op, detail: "z must be [B, T, d_l] with d_l ≤ d_s = \(n), got \(z.shape)")
        }
        let (b, t, dl) = (z.shape.dims[0], z.shape.dims[1], z.shape.dims[2])
        if let noise = logObservationNoise, noise.shape != z.shape {
            throw LDMError.shapeMismatch(operation: op, detail: "the log observation noise must be [\(b), \(t), \(dl)] like z, got \(noise.shape)")
        }
        if variant == .knn && b * t <= 3 {
            throw LDMError.shapeMismatch(operation: op, detail: "the kNN variant needs more than 3 latents (B·T = \(b * t))")
        }
        let g = logObservationNoise == nil ? 1 : b
        let constants = try workspace.flatMap { $0.fits(n: n, dl: dl, rows: b * t) ? $0 : nil }
            ?? KalmanLDMWorkspace(n: n, dl: dl, rows: b * t, on: self)
        let a = try upload(p.A, shape: [n, n]), d = constants.observationMap
        let q = (0..<(n * n)).map { $0 / n == $0 % n ? Foundation.exp(p.logScale + p.logProcessNoise[$0 / n]) : 0 }
        let noise = logObservationNoise ?? constants.zeroNoise
        let inputs = KalmanCovarianceInputs(
            F: a, H: d, Q: try upload(q, shape: [1, n, n]), qGroups: 1,
            R: .logDiagonal(noise, groups: g, steps: logObservationNoise == nil ? 1 : t, logScale: p.logScale,
                          extra: variant == .knn ? 1e-6 : 0),
            P0: constants.identity, groups: g, steps: t, n: n, m: dl)
        var offset = p.b
        for i in 0..<n { for j in 0..<n { offset[i] -= p.A[i * n + j] * p.b[j] } }
        let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: dl, on: self)
        let jitter = try kalmanCovarianceForward(inputs, into: tape)
        let means = try KalmanMeanTape(batch: b, steps: t, n: n, m: dl, on: self)
        try kalmanMeanForward(z, KalmanMeanInputs(F: a, offset: try upload(offset, shape: [n]), H: d, m0: constants.zeroMean), tape,
                              into: means)
        return (inputs, a, constants, KalmanFilterResult(batch: b, steps: t, covariances: tape, means: means, jitter: jitter))
    }
}

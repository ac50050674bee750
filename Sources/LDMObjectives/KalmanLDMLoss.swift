import Foundation
import LDMEngine

// The Kalman-LDM loss of docs/mathematics.md §5, composed from the kalman.cl and kalman_ldm_parameters.cl
// kernels (and knn.cl for its kNN form): its parameters, its constant tensors, and the loss and filter on a backend.

/// The learned parameters of the Kalman-LDM predictor (docs/mathematics.md §5): transition A (n × n), offset b (n), log process
/// noise a (n, Σ_A = e^s·diag(e^a)) and the joint log-scale s (Σ_D = e^s·I). The observation map is D = [I 0].
public struct KalmanLDMParameters: Sendable, Equatable {
    public var A: [Float]
    public var b: [Float]
    public var logProcessNoise: [Float]
    public var logScale: Float

    public init(A: [Float], b: [Float]? = nil, logProcessNoise: [Float]? = nil, logScale: Float = 0) throws {
        let n = Int(Double(A.count).squareRoot().rounded())
        guard n >= 1, n * n == A.count else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "A must be n × n, got \(A.count) entries")
        }
        let offset = b ?? [Float](repeating: 0, count: n), noise = logProcessNoise ?? [Float](repeating: 0, count: n)
        guard offset.count == n, noise.count == n else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "b and a must have \(n) entries")
        }
        guard (A + offset + noise + [logScale]).allSatisfy({ $0.isFinite }) else {
            throw LDMError.invalidArgument("KalmanLDMParameters: A, b, a and s must be finite")
        }
        self.A = A
        self.b = offset
        self.logProcessNoise = noise
        self.logScale = logScale
    }

    public var stateDimension: Int { b.count }

    /// θ = [A (n², row-major) | b | a | s], the layout the device kernels and the training loop keep.
    public var packed: [Float] { A + b + logProcessNoise + [logScale] }

    /// The parameters of a packed θ of state dimension n.
    public init(packed theta: [Float], n: Int) throws {
        guard n >= 1, theta.count == n * n + 2 * n + 1 else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "θ must hold n² + 2n + 1 values for n = \(n), found \(theta.count)")
        }
        try self.init(A: Array(theta[0..<(n * n)]), b: Array(theta[(n * n)..<(n * n + n)]),
                      logProcessNoise: Array(theta[(n * n + n)..<(n * n + 2 * n)]), logScale: theta[n * n + 2 * n])
    }
}

/// The Kalman-LDM loss computed from packed parameters on the device: the loss (the one scalar read back) and
/// the gradients, all on the backend (θ̄ in the tensor the caller passed).
public struct KalmanLDMDeviceResult {
    public var loss: Double
    /// [B, T, d_l] ∂loss/∂z.
    public var gradZ: Tensor
    /// [B, T, d_l] ∂loss/∂ℓ when a per-step log observation noise ℓ was given.
    public var gradLogObservationNoise: Tensor?
    /// The kNN variant's entropy estimate; nil otherwise.
    public var entropy: Double?
    public var filter: KalmanFilterResult
}

/// The Kalman-LDM loss (mean over sequences of Σ_t) and its gradients.
public struct KalmanLDMResult {
    public var loss: Double
    /// [B, T, d_l] on the backend: ∂loss/∂z (stop-gradient form: through the filter's updates only).
    public var gradZ: Tensor
    public var gradA: [Float]
    public var gradB: [Float]
    public var gradLogProcessNoise: [Float]
    public var gradLogScale: Float
    /// [B, T, d_l] ∂loss/∂ℓ when a per-step log observation noise ℓ was given.
    public var gradLogObservationNoise: Tensor?
    /// The kNN variant's entropy estimate d·mean log ρ₃ (the loss subtracts T times it); nil otherwise.
    public var entropy: Double?
    /// The filter run inside the loss: predicted and filtered means, covariances and S_t.
    public var filter: KalmanFilterResult
}

/// The constant tensors of the Kalman-LDM loss for one (d_s, d_l, B·T): D = [I 0], P0 = I, the zero initial mean
/// and a ones vector. Pass one to repeated `kalmanLDMLoss` calls (a training loop) so they are made once instead
/// of uploaded on every step.
public final class KalmanLDMWorkspace {
    public let n: Int, dl: Int, rows: Int
    let observationMap: Tensor, identity: Tensor, zeroMean: Tensor, ones: Tensor

    public init(n: Int, dl: Int, rows: Int, on backend: any Backend) throws {
        (self.n, self.dl, self.rows) = (n, dl, rows)
        observationMap = try backend.upload((0..<(dl * n)).map { Float($0 / n == $0 % n ? 1 : 0) }, shape: [dl, n])
        identity = try backend.upload((0..<(n * n)).map { Float($0 / n == $0 % n ? 1 : 0) }, shape: [n, n])
        zeroMean = try backend.makeTensor([n])
        ones = try backend.makeTensor([1, rows])
        try backend.fill(zeroMean, with: 0)
        try backend.fill(ones, with: 1)
    }

    func fits(n: Int, dl: Int, rows: Int) -> Bool { self.n == n && self.dl == dl && self.rows == rows }
}

/// The Kalman-LDM loss's two forms (docs/mathematics.md §5).
public enum KalmanLDMVariant: String, Sendable, CaseIterable {
    /// Σ_t ½ log det S_t + ½ (sg[z_t] − ẑ_t)ᵀ S_t⁻¹ (sg[z_t] − ẑ_t): the default.
    case stopGradient = "stopgrad"
    /// No stop-gradient, S_t + 1e-6·I, minus T·d·mean log ρ₃ (kNN entropy over all B·T latents).
    case knn
}

extension LinearGaussianModel {
    /// The general model the Kalman-LDM filter runs: F = A, c = (I − A)·b, H = D = [I 0], Q = e^s·diag(e^a),
    /// R = e^s·I, m0 = 0, P0 = I.
    public init(kalmanLDM p: KalmanLDMParameters, observationDimension dl: Int) throws {
        let n = p.stateDimension, scale = Foundation.exp(p.logScale)
        var offset = p.b
        for i in 0..<n { for j in 0..<n { offset[i] -= p.A[i * n + j] * p.b[j] } }
        try self.init(F: p.A, H: (0..<(dl * n)).map { $0 / n == $0 % n ? 1 : 0 },
                      Q: (0..<(n * n)).map { $0 / n == $0 % n ? scale * Foundation.exp(p.logProcessNoise[$0 / n]) : 0 },
                      R: (0..<(dl * dl)).map { $0 / dl == $0 % dl ? scale : 0 }, offset: offset)
    }
}

extension Backend {
    /// The Kalman-LDM loss of docs/mathematics.md §5 (mean over the B sequences of Σ_t) and its gradients with respect to z, A,
    /// b, a, s and, when given, the per-step log observation-noise ℓ ([B, T, d_l]: Σ_D,t = e^s·diag(e^ℓ_t)).
    ///
    /// ```swift
    /// let p = try KalmanLDMParameters(A: [0.95, -0.31, 0.31, 0.95], logScale: -2)
    /// let result = try backend.kalmanLDMLoss(z, p)     // z: [B, T, 2] encoder outputs
    /// // result.gradZ goes back into the encoder; gradA, gradB, ... into the optimiser.
    /// ```
    public func kalmanLDMLoss(_ z: Tensor, _ p: KalmanLDMParameters, variant: KalmanLDMVariant = .stopGradient,
                              logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil,
                              timeParallel: KalmanTimeParallel = .automatic) throws -> KalmanLDMResult {
        let n = p.stateDimension
        let theta = try upload(p.packed, shape: [n * n + 2 * n + 1]), gradient = try makeTensor(theta.shape)
        let result = try kalmanLDMLoss(z, packed: theta, stateDimension: n, variant: variant,
                                       logObservationNoise: logObservationNoise, workspace: workspace, gradient: gradient,
                                       timeParallel: timeParallel)
        let g = try download(gradient)
        return KalmanLDMResult(loss: result.loss, gradZ: result.gradZ, gradA: Array(g[0..<(n * n)]),
                               gradB: Array(g[(n * n)..<(n * n + n)]), gradLogProcessNoise: Array(g[(n * n + n)..<(n * n + 2 * n)]),
                               gradLogScale: g[n * n + 2 * n], gradLogObservationNoise: result.gradLogObservationNoise,
                               entropy: result.entropy, filter: result.filter)
    }

    /// The Kalman-LDM loss from the packed parameters θ = [A | b | a | s] on the device, writing θ̄ into `gradient`
    /// (same size as θ): the parameters and their gradient never pass through the host; the loss (a scalar) and,
    /// for the kNN form, the entropy estimate come back. The training loop's form of
    /// ``kalmanLDMLoss(_:_:variant:logObservationNoise:workspace:timeParallel:)``.
    public func kalmanLDMLoss(_ z: Tensor, packed theta: Tensor, stateDimension n: Int, variant: KalmanLDMVariant = .stopGradient,
                              logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil,
                              gradient: Tensor, timeParallel: KalmanTimeParallel = .automatic) throws -> KalmanLDMDeviceResult {
        try KalmanChecks.packedParameters("kalmanLDMLoss", theta, n: n)
        try KernelChecks.count("kalmanLDMLoss", "gradient", gradient, theta.count)
        let forward = try kalmanLDMForward(z, packed: theta, n: n, variant: variant, logObservationNoise: logObservationNoise,
                                           workspace: workspace, timeParallel: timeParallel, operation: "kalmanLDMLoss")
        let (inputs, a, constants) = (forward.inputs, forward.A, forward.constants)
        let (tape, means) = (forward.filter.covariances, forward.filter.means)
        let (b, t, dl, g) = (z.shape.dims[0], z.shape.dims[1], z.shape.dims[2], inputs.groups)

        // Reverse: means per sequence, then the covariance recursion per group seeded by sums over its sequences.
        let adjoints = try KalmanLDMMeanAdjoints(batch: b, steps: t, n: n, m: dl, on: self)
        try kalmanLDMMeanBackward(tape, means, A: a, gradientScale: 1 / Float(b), stopGradient: variant == .stopGradient,
                                  into: adjoints, timeParallel: timeParallel)
        let perGroup = b / g
        let seedC = try makeTensor([t, g, n, dl]), seedS = try makeTensor([t, g, dl, dl])
        try matmul(adjoints.hBar, means.whitened, into: seedC, MatmulShape(batch: t * g, m: n, n: dl, k: perGroup, transposeA: true))
        try matmul(adjoints.w, means.whitened, into: seedS,
                   MatmulShape(batch: t * g, m: dl, n: dl, k: perGroup, transposeA: true, alpha: -1))
        let covarianceGrads = try KalmanLDMCovarianceGradients(groups: g, steps: t, n: n, m: dl, on: self)
        try kalmanLDMCovarianceBackward(inputs, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: perGroup,
                                        into: covarianceGrads, timeParallel: timeParallel)
        // The means' share of Ā and b̄ (Σ_{t,q} h̄⁻·uᵀ with u = ĥ_{t−1} − b, and Σ h̄⁻), Σ ∂/∂ℓ, then θ̄, all on the device.
        let meanGradA = try makeTensor([n, n]), hBarSum = try makeTensor([1, n]), logRSum = try makeTensor([1])
        try matmul(adjoints.hBarMinus, means.previousMeans, into: meanGradA, MatmulShape(m: n, n: n, k: t * b, transposeA: true))
        try matmul(constants.ones, adjoints.hBarMinus, into: hBarSum, MatmulShape(m: 1, n: n, k: t * b))
        try reduceRows(covarianceGrads.gradLogR, into: logRSum, .sum, RowsShape(rows: 1, columns: covarianceGrads.gradLogR.count))
        let sums = KalmanLDMReverseSums(hBarSum: hBarSum, meanGradA: meanGradA, covariances: covarianceGrads, groups: g,
                                        logRSum: logRSum)
        try kalmanLDMPackGradient(theta, n: n, sums: sums, batch: b, into: gradient)
        var gradNoiseTensor: Tensor?
        if logObservationNoise != nil {
            let scaled = try makeTensor([b, t, dl])
            try scale(covarianceGrads.gradLogR, by: 1 / Float(b), into: scaled)
            gradNoiseTensor = scaled
        }

        // The loss: Σ_q log p summed on the device, one scalar read back.
        let logLikelihoodSum = try makeTensor([1])
        try reduceRows(means.logLikelihood, into: logLikelihoodSum, .sum, RowsShape(rows: 1, columns: b))
        var loss = -Double(try download(logLikelihoodSum)[0]) / Double(b) - Double(t * dl) / 2 * Foundation.log(2 * Double.pi)
        var entropy: Double?
        if variant == .knn {
            // − T·d·mean log ρ₃ over all B·T latents: the kNN estimate with c = d and no clip (quantile 1).
            let latents = try z.reshaped([b * t, dl]), knnGradient = try makeTensor([b * t, dl])
            let value = try knnEntropy(latents, gradient: knnGradient, KNNShape(rows: b * t, dimension: dl, k: 3,
                                                                                 scale: Float(dl), quantile: 1)).value
            loss -= Double(t) * value
            try axpy(-Float(t), try knnGradient.reshaped(z.shape), adjoints.gradZ)
            entropy = value
        }
        return KalmanLDMDeviceResult(loss: loss, gradZ: adjoints.gradZ, gradLogObservationNoise: gradNoiseTensor,
                                     entropy: entropy, filter: forward.filter)
    }

    /// The Kalman-LDM model's filter alone (the loss's forward pass, no reverse pass): filtered and predicted means
    /// and covariances of `z` [B, T, d_l], with the per-step observation noise when given. For evaluation.
    public func kalmanLDMFilter(_ z: Tensor, _ p: KalmanLDMParameters, variant: KalmanLDMVariant = .stopGradient,
                                logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil,
                                timeParallel: KalmanTimeParallel = .automatic) throws -> KalmanFilterResult {
        let n = p.stateDimension
        return try kalmanLDMFilter(z, packed: try upload(p.packed, shape: [n * n + 2 * n + 1]), stateDimension: n,
                                   variant: variant, logObservationNoise: logObservationNoise, workspace: workspace,
                                   timeParallel: timeParallel)
    }

    /// ``kalmanLDMFilter(_:_:variant:logObservationNoise:workspace:timeParallel:)`` from packed parameters θ on the device.
    public func kalmanLDMFilter(_ z: Tensor, packed theta: Tensor, stateDimension n: Int, variant: KalmanLDMVariant = .stopGradient,
                                logObservationNoise: Tensor? = nil, workspace: KalmanLDMWorkspace? = nil,
                                timeParallel: KalmanTimeParallel = .automatic) throws -> KalmanFilterResult {
        try KalmanChecks.packedParameters("kalmanLDMFilter", theta, n: n)
        return try kalmanLDMForward(z, packed: theta, n: n, variant: variant, logObservationNoise: logObservationNoise,
                                    workspace: workspace, timeParallel: timeParallel, operation: "kalmanLDMFilter").filter
    }

    /// Checks the arguments, unpacks A, Q = e^s·diag(e^a), b − A·b and the observation log-variances ℓ + s from θ
    /// on the device, and runs the forward pass: covariances per group, means per sequence.
    private func kalmanLDMForward(_ z: Tensor, packed theta: Tensor, n: Int, variant: KalmanLDMVariant,
                                  logObservationNoise: Tensor?, workspace: KalmanLDMWorkspace?,
                                  timeParallel: KalmanTimeParallel, operation op: String) throws
        -> (inputs: KalmanCovarianceInputs, A: Tensor, constants: KalmanLDMWorkspace, filter: KalmanFilterResult) {
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
        let a = try makeTensor([n, n]), q = try makeTensor([1, n, n]), offset = try makeTensor([n])
        try kalmanLDMUnpack(theta, n: n, A: a, Q: q, offset: offset)
        // Σ_D = diag(exp(ℓ + s)): s is folded into the log-variances on the device.
        let logVariances = try makeTensor(logObservationNoise?.shape ?? [1, 1, dl])
        try kalmanLDMShiftLogNoise(theta, n: n, logNoise: logObservationNoise, into: logVariances)
        let d = constants.observationMap
        let inputs = KalmanCovarianceInputs(
            F: a, H: d, Q: q, qGroups: 1,
            R: .logDiagonal(logVariances, groups: g, steps: logObservationNoise == nil ? 1 : t,
                          extra: variant == .knn ? 1e-6 : 0),
            P0: constants.identity, groups: g, steps: t, n: n, m: dl)
        let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: dl, on: self)
        let jitter = try kalmanCovarianceForward(inputs, into: tape, timeParallel: timeParallel)
        let means = try KalmanMeanTape(batch: b, steps: t, n: n, m: dl, on: self)
        try kalmanMeanForward(z, KalmanMeanInputs(F: a, offset: offset, H: d, m0: constants.zeroMean), tape, into: means,
                              timeParallel: timeParallel)
        return (inputs, a, constants, KalmanFilterResult(batch: b, steps: t, covariances: tape, means: means, jitter: jitter))
    }
}

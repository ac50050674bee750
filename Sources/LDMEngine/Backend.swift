/// The seam every kernel goes through: one protocol, implemented by the CPU backend and the OpenCL backend.
///
/// A backend owns its memory: `makeTensor(_:)` hands out a ``Tensor`` whose storage returns to the backend's
/// pool when the last reference to it goes away. Every kernel method validates shapes first and throws
/// ``LDMError`` (never traps); nothing is launched when validation fails. Kernels may run asynchronously on a
/// device: `download(_:)` and `synchronize()` wait for everything enqueued before them.
///
/// ```swift
/// let backend: any Backend = try CPUBackend()
/// let a = try backend.upload([1, 2, 3, 4], shape: [2, 2])
/// let c = try backend.makeTensor([2, 2])
/// try backend.matmul(a, a, into: c, MatmulShape(m: 2, n: 2, k: 2))
/// print(try backend.download(c))   // [7, 10, 15, 22]
/// ```
public protocol Backend: AnyObject, Sendable {
    /// What this backend runs on, for logs, errors and `ldm devices`.
    var info: BackendInfo { get }

    /// Whether `op` runs here; callers fall back to the CPU backend for anything refused.
    func supports(_ op: KernelOp) -> Bool

    // MARK: Memory

    /// An uninitialised tensor of `shape` on this backend (from the pool when a freed buffer fits).
    func makeTensor(_ shape: TensorShape) throws -> Tensor
    /// Copies `values` (row-major) into `tensor`, which must hold exactly `values.count` elements.
    func write(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) throws
    /// Copies `tensor` into `values`, which must hold exactly `tensor.count` elements; waits for pending work.
    func read(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) throws
    /// Copies `source` into `destination` on the device (same element count).
    func copy(_ source: Tensor, to destination: Tensor) throws
    /// Copies `count` elements from `source` starting at `sourceOffset` into `destination` starting at
    /// `destinationOffset` (element offsets; the ranges may not overlap within one tensor). How tensors are
    /// stacked and split along their first axis.
    func copy(_ source: Tensor, offset sourceOffset: Int, to destination: Tensor, offset destinationOffset: Int,
              count: Int) throws
    /// Sets every element of `tensor` to `value`.
    func fill(_ tensor: Tensor, with value: Float) throws
    /// Waits until everything enqueued so far has finished.
    func synchronize() throws

    // MARK: Kernels (one method per kernel; the names match Kernels/*.cl)

    /// matmul.cl — `C = α·op(A)·op(B) + β·C`, batched; see ``MatmulShape``.
    func matmul(_ a: Tensor, _ b: Tensor, into c: Tensor, _ shape: MatmulShape) throws
    /// elementwise.cl — `out = a + b` (same element count; `out` may alias either input).
    func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws
    /// elementwise.cl — `out = α·x` (`out` may alias `x`).
    func scale(_ x: Tensor, by alpha: Float, into out: Tensor) throws
    /// elementwise.cl — `y = α·x + y`.
    func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws
    /// reduce.cl — `out[i] = reduction(x[i, :])` for a `rows × columns` matrix; `out` has `rows` elements.
    func reduceRows(_ x: Tensor, into out: Tensor, _ reduction: RowReduction, _ shape: RowsShape) throws
    /// reduce.cl — the backward of ``reduceRows(_:into:_:_:)``: given `x`, the forward result `y` and its
    /// gradient `gy`, writes `gx = ∂(Σ_i gy_i·y_i)/∂x`. For `max` the gradient goes to the first maximal entry
    /// of each row; for `norm` a zero row gets zero gradient.
    func reduceRowsBackward(_ x: Tensor, _ y: Tensor, _ gy: Tensor, into gx: Tensor,
                            _ reduction: RowReduction, _ shape: RowsShape) throws
    /// reduce.cl — `out_i = x_i / max(‖x_i‖, 1e-12)` for each row (PyTorch's `F.normalize`); `norms_i = ‖x_i‖`.
    func normalizeRows(_ x: Tensor, into out: Tensor, norms: Tensor, _ shape: RowsShape) throws
    /// reduce.cl — the backward of ``normalizeRows(_:into:norms:_:)``: given its `out` and `norms` and
    /// `g = ∂L/∂out`, writes `dx = (g − out·⟨out, g⟩) / ‖x‖` per row.
    func normalizeRowsBackward(_ out: Tensor, _ norms: Tensor, _ g: Tensor, into dx: Tensor, _ shape: RowsShape) throws
    /// reduce.cl — `y_i = softmax(scale·x_i)` for each row, through the row's running maximum (finite for any
    /// finite x); `scale` is an inverse temperature.
    func softmaxRows(_ x: Tensor, into y: Tensor, scale: Float, _ shape: RowsShape) throws
    /// reduce.cl — the backward of ``softmaxRows(_:into:scale:_:)`` from its output y:
    /// `dx_i = scale·y_i ⊙ (dy_i − ⟨y_i, dy_i⟩)`.
    func softmaxRowsBackward(_ y: Tensor, _ dy: Tensor, into dx: Tensor, scale: Float, _ shape: RowsShape) throws
    /// strided_copy.cl — copies (or adds, ``StridedCopyShape/accumulate``) `blocks × rows` runs of `width` floats
    /// between two strided layouts: the windows and shifted slices of a [B, T, d] sequence batch, and the scatter
    /// of their gradients back. Its adjoint is the same call with the layouts swapped and `accumulate` set.
    func stridedCopy(_ source: Tensor, into destination: Tensor, _ shape: StridedCopyShape) throws
    /// transpose.cl — `out[b] = x[b]ᵀ`; see ``TransposeShape``.
    func transpose(_ x: Tensor, into out: Tensor, _ shape: TransposeShape) throws
    /// logdet (cholesky.cl on OpenCL) — `½·log det(Cov(z) + εI)` (returned, with the jitter used) and its gradient
    /// with respect to z.
    func gaussianLogDet(_ z: Tensor, gradient: Tensor, _ shape: LogDetShape) throws -> LogDetResult
    /// knn.cl — the Kozachenko–Leonenko entropy (returned, with its detached cap) and its gradient with respect to z.
    func knnEntropy(_ z: Tensor, gradient: Tensor, _ shape: KNNShape) throws -> KNNResult
    /// covariance.cl — the VICReg or Taylor surrogate of z (returned) and its gradient with respect to z.
    func covarianceSurrogate(_ z: Tensor, gradient: Tensor, _ shape: CovarianceSurrogateShape) throws -> Double
    /// crosscorrelation (covariance.cl on OpenCL) — the Barlow Twins loss of two views (returned) and its gradients.
    func barlowTwins(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws -> Double
    /// plugin.cl — the categorical plug-in entropy (returned) of softmax rows with its gradients: of the batch joint
    /// `P = z1ᵀz2/B` when `z2` is given, else of the batch marginal `mean_b z1_b`.
    func categoricalEntropy(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws -> Double
    /// ica.cl — for data x (N × d) and unmixing W (d × d), s = x·Wᵀ: returns `½·log det(W·Wᵀ)` and
    /// `mean_i Σ_k |s_ik|^β`, and writes the gradients of `−(½·log det(W·Wᵀ) − α·mean_i Σ_k |s_ik|^β)` (ica.cl + cholesky.cl on OpenCL).
    func icaTerms(_ x: Tensor, _ w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float) throws
        -> (logDet: Double, prior: Double)
    /// cholesky.cl — the lower Cholesky factor of each matrix of a batch (strict upper triangle zero), with the
    /// SPEC §9 jitter policy; returns the largest jitter used (0 when none was needed).
    func cholesky(_ a: Tensor, into factor: Tensor, _ shape: CholeskyShape) throws -> Float
    /// Triangular solve against a lower factor from ``cholesky(_:into:_:)``; see ``TriangularSolveShape``.
    func triangularSolve(_ factor: Tensor, _ b: Tensor, _ shape: TriangularSolveShape) throws
    // MARK: training (Kernels/activation.cl, Kernels/optimizer.cl)

    /// activation.cl — `y = act(x)` elementwise (y may be x).
    func activation(_ x: Tensor, into y: Tensor, _ kind: Activation) throws
    /// activation.cl — `dx = act'(x) ⊙ dy` elementwise (dx may be dy).
    func activationBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ kind: Activation) throws
    /// optimizer.cl — one update of `parameter` from `gradient`, with the optimiser's state `first` (Adam's m,
    /// SGD's velocity) and `second` (Adam's v; unused by SGD).
    func optimizerStep(_ parameter: Tensor, _ gradient: Tensor, first: Tensor, second: Tensor, _ step: OptimizerStep) throws
    /// variance_features.cl — for rows x [rows, f] and weights w [f]: `y_ij = (w_j·x_ij − m_i)²` with the row means
    /// `m_i = mean_j w_j·x_ij` written to `means` [rows] (the first stage of the per-step noise network).
    func varianceFeatures(_ x: Tensor, _ w: Tensor, into y: Tensor, means: Tensor, _ shape: RowsShape) throws
    /// variance_features.cl — `gradientW = ∂L/∂w` [f] given `dy = ∂L/∂y` [rows, f] and the forward's `means`.
    func varianceFeaturesBackward(_ x: Tensor, _ w: Tensor, means: Tensor, _ dy: Tensor, gradientW: Tensor,
                                  _ shape: RowsShape) throws
    /// batch_norm.cl — `y = γ·(x − μ)/√(σ² + ε) + β` per column of x [N, C]. In training mode μ and the biased σ²
    /// of x's columns are computed and written to `mean` and `variance` [C]; in evaluation mode they are read
    /// from there (the running statistics).
    func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, into y: Tensor, mean: Tensor, variance: Tensor,
                   _ shape: BatchNormShape) throws
    /// batch_norm.cl — the training-mode backward: `dx`, `dGamma`, `dBeta` given `dy` and the forward's batch
    /// statistics (the gradient flows through μ and σ² too).
    func batchNormBackward(_ x: Tensor, _ dy: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor, dx: Tensor,
                           dGamma: Tensor, dBeta: Tensor, _ shape: BatchNormShape) throws

    // MARK: kalman (Kernels/kalman.cl; see KalmanKernels.swift for the layouts)

    /// kalman.cl — the covariance half of a linear-Gaussian filter for every group: P⁻ = F·P·Fᵀ + Q,
    /// S = H·P⁻·Hᵀ + R factored by Cholesky with the SPEC §9 jitter, K = P⁻·Hᵀ·S⁻¹ by solves (never an inverse),
    /// Joseph update, symmetrised. Returns the largest jitter used; throws `notPositiveDefinite` naming the group
    /// and step when an S_t cannot be factored.
    func kalmanCovarianceForward(_ inputs: KalmanCovarianceInputs, into tape: KalmanCovarianceTape) throws -> Float
    /// kalman.cl — the means half, one sequence per work-item over the whole time loop: h⁻ = F·ĥ + c,
    /// e = z − H·h⁻, ĥ = h⁻ + K·e, and each sequence's log-likelihood.
    func kalmanMeanForward(_ z: Tensor, _ inputs: KalmanMeanInputs, _ covariances: KalmanCovarianceTape,
                           into means: KalmanMeanTape) throws
    /// kalman.cl — the Rauch–Tung–Striebel smoother's gains and covariances per group.
    func kalmanCovarianceSmoother(_ covariances: KalmanCovarianceTape, F: Tensor, into smoother: KalmanSmootherTape) throws
    /// kalman.cl — the smoothed means [B, T, n], one sequence per work-item.
    func kalmanMeanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups: Int,
                            into smoothedMeans: Tensor) throws
    /// kalman.cl — the Kalman-LDM reverse pass through the means (D = [I 0], F = A): writes
    /// `gradientScale`·∂loss/∂z and the per-step adjoints the covariance seeds and ∂/∂A, ∂/∂b are summed from.
    /// With `stopGradient` the loss's target z is detached (the default form); without, ∂ℓ_t/∂z_t = S⁻¹e_t is added.
    func kalmanLDMMeanBackward(_ covariances: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                               gradientScale: Float, stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints) throws
    /// kalman.cl — the Kalman-LDM reverse pass through the covariance recursion of each group, seeded per step by
    /// `seedC` [T, G, n, m] (Σ_q h̄·(S⁻¹e)ᵀ) and `seedS` [T, G, m, m] (−Σ_q w·(S⁻¹e)ᵀ) plus ½·`sequencesPerGroup`·S⁻¹.
    /// Needs diagonal Q and log-diagonal R (the Kalman-LDM parameterisation).
    func kalmanLDMCovarianceBackward(_ inputs: KalmanCovarianceInputs, _ covariances: KalmanCovarianceTape,
                                     seedC: Tensor, seedS: Tensor, sequencesPerGroup: Int,
                                     into gradients: KalmanLDMCovarianceGradients) throws
    /// kalman_ldm_parameters.cl — from the packed θ = [A (n²) | b (n) | a (n) | s] on the device: `A` [n, n],
    /// `Q` = e^s·diag(e^a) [n, n] and the offset b − A·b [n].
    func kalmanLDMUnpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws
    /// kalman_ldm_parameters.cl — `out = ℓ + s` elementwise (s read from θ on the device; ℓ = 0 when nil): the
    /// observation noise's log-variances with the joint scale folded in.
    func kalmanLDMShiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, into out: Tensor) throws
    /// kalman_ldm_parameters.cl — the packed gradient θ̄ [n² + 2n + 1] of the loss averaged over `batch`
    /// sequences, from the reverse pass's sums (see ``KalmanLDMReverseSums``).
    func kalmanLDMPackGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int, into gradient: Tensor) throws
    /// lse.cl — the backward when both sides are the same set z (KDE entropy, NT-Xent): writes `dz = dx + dy`.
    /// Backends may use the symmetry of S = Z·Zᵀ (the CPU does, doing about half the work).
    func pairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ shape: PairwiseLSEShape) throws
    /// lse.cl — `lse[i] = log Σ_j exp(s_ij)` without storing the `rows × columns` matrix; see ``PairwiseLSEShape``.
    func pairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ shape: PairwiseLSEShape) throws
    /// lse.cl — given `g = ∂L/∂lse` and `lse` from the forward, writes `dx = ∂L/∂x` and `dy = ∂L/∂y` (when x
    /// and y are the same set, its gradient is `dx + dy`).
    func pairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                             _ shape: PairwiseLSEShape) throws
}

/// The kernels of the protocol, for `Backend.supports(_:)` and benchmarks.
public enum KernelOp: String, CaseIterable, Hashable, Sendable {
    case matmul, add, scale, axpy, reduceRows, reduceRowsBackward, normalizeRows, normalizeRowsBackward, transpose,
        pairwiseLSE, pairwiseLSEBackward, gaussianLogDet, knnEntropy, covarianceSurrogate, barlowTwins, categoricalEntropy, icaTerms, cholesky, triangularSolve, pairwiseLSESelfBackward,
        kalmanCovarianceForward, kalmanMeanForward, kalmanCovarianceSmoother, kalmanMeanSmoother, kalmanLDMMeanBackward,
        kalmanLDMCovarianceBackward, activation, activationBackward, optimizerStep, varianceFeatures, varianceFeaturesBackward,
        batchNorm, batchNormBackward, kalmanLDMUnpack, kalmanLDMShiftLogNoise, kalmanLDMPackGradient, softmaxRows, softmaxRowsBackward, stridedCopy
}

/// The two families of backend.
public enum BackendKind: String, Hashable, Sendable, Codable {
    case cpu
    case opencl
}

/// A description of a backend: which kind, which device, how much memory.
public struct BackendInfo: Hashable, Sendable, CustomStringConvertible {
    public var kind: BackendKind
    /// Device name as the driver reports it (for the CPU backend, the CPU model).
    public var deviceName: String
    /// OpenCL platform name; nil for the CPU backend.
    public var platform: String?
    /// Index among all OpenCL devices (the `--device N` value); nil for the CPU backend.
    public var index: Int?
    public var computeUnits: Int
    public var globalMemoryBytes: Int
    /// Extra facts worth printing (OpenCL version, BLAS core, threads...).
    public var details: [String: String]

    public init(kind: BackendKind, deviceName: String, platform: String? = nil, index: Int? = nil,
                computeUnits: Int, globalMemoryBytes: Int, details: [String: String] = [:]) {
        self.kind = kind
        self.deviceName = deviceName
        self.platform = platform
        self.index = index
        self.computeUnits = computeUnits
        self.globalMemoryBytes = globalMemoryBytes
        self.details = details
    }

    public var description: String {
        if let index, let platform {
            return "opencl device \(index) '\(deviceName)' (\(platform))"
        }
        return "\(kind.rawValue) '\(deviceName)'"
    }
}

extension Backend {
    /// A tensor holding `values` (row-major) with the given shape.
    public func upload(_ values: [Float], shape: TensorShape) throws -> Tensor {
        guard values.count == shape.count else {
            throw LDMError.shapeMismatch(operation: "upload",
                                         detail: "\(values.count) values for shape \(shape) (\(shape.count) elements)")
        }
        let tensor = try makeTensor(shape)
        try values.withUnsafeBufferPointer { try write($0, to: tensor) }
        return tensor
    }

    /// The tensor's elements in row-major order (waits for pending work).
    public func download(_ tensor: Tensor) throws -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        try values.withUnsafeMutableBufferPointer { try read(tensor, into: $0) }
        return values
    }

    /// Overwrites `tensor` with `values` (exactly `tensor.count` of them).
    public func write(_ values: [Float], to tensor: Tensor) throws {
        try values.withUnsafeBufferPointer { try write($0, to: tensor) }
    }
}

/// The seam every kernel goes through: one protocol, implemented by the CPU backend and the OpenCL backend.
///
/// Callers use the checked entry points (``matmul(_:_:into:_:)``, ``knnEntropy(_:gradient:_:)``, …, in
/// `Backend+Kernels.swift`): each validates shapes and arguments once and throws ``LDMError`` (never traps) before
/// it calls the backend's `unchecked…` requirement, so no backend can forget a check and every backend refuses
/// exactly the same inputs with the same message. A backend implements only the `unchecked…` requirements, which
/// may assume valid arguments (they still refuse tensors that live on another backend, and their own device
/// limits such as 32-bit indexing). Every backend implements every kernel; the parity tests hold each one to the
/// Double references.
///
/// A backend owns its memory: ``makeTensor(_:)`` hands out a ``Tensor`` whose storage returns to the backend's
/// pool when the last reference to it goes away. Kernels may run asynchronously on a device: ``download(_:)`` and
/// `synchronize()` wait for everything enqueued before them.
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

    // MARK: Memory (the checked forms: makeTensor, write, read, copy)

    /// An uninitialised tensor of a validated `shape` (from the pool when a freed buffer fits).
    func uncheckedMakeTensor(_ shape: TensorShape) throws -> Tensor
    /// Copies exactly `tensor.count` values into `tensor`.
    func uncheckedWrite(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) throws
    /// Copies `tensor` into `values` (exactly `tensor.count` slots); waits for pending work.
    func uncheckedRead(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) throws
    /// Copies `count` elements between two ranges that lie inside their tensors and do not overlap.
    func uncheckedCopy(_ source: Tensor, offset sourceOffset: Int, to destination: Tensor, offset destinationOffset: Int,
                       count: Int) throws
    /// Sets every element of `tensor` to `value`.
    func fill(_ tensor: Tensor, with value: Float) throws
    /// Waits until everything enqueued so far has finished.
    func synchronize() throws

    // MARK: matmul.cl
    func uncheckedMatmul(_ a: Tensor, _ b: Tensor, into c: Tensor, _ shape: MatmulShape) throws

    // MARK: elementwise.cl
    func uncheckedAdd(_ a: Tensor, _ b: Tensor, into out: Tensor) throws
    func uncheckedScale(_ x: Tensor, by alpha: Float, into out: Tensor) throws
    func uncheckedAxpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws

    // MARK: reduce.cl
    func uncheckedReduceRows(_ x: Tensor, into out: Tensor, _ reduction: RowReduction, _ shape: RowsShape) throws
    func uncheckedReduceRowsBackward(_ x: Tensor, _ y: Tensor, _ gy: Tensor, into gx: Tensor, _ reduction: RowReduction,
                                     _ shape: RowsShape) throws
    func uncheckedNormalizeRows(_ x: Tensor, into out: Tensor, norms: Tensor, _ shape: RowsShape) throws
    func uncheckedNormalizeRowsBackward(_ out: Tensor, _ norms: Tensor, _ g: Tensor, into dx: Tensor, _ shape: RowsShape) throws
    func uncheckedSoftmaxRows(_ x: Tensor, into y: Tensor, scale: Float, _ shape: RowsShape) throws
    func uncheckedSoftmaxRowsBackward(_ y: Tensor, _ dy: Tensor, into dx: Tensor, scale: Float, _ shape: RowsShape) throws

    // MARK: strided_copy.cl
    func uncheckedStridedCopy(_ source: Tensor, into destination: Tensor, _ shape: StridedCopyShape) throws

    // MARK: affine_scan.cl
    func uncheckedAffineScan(_ u: Tensor, transitions: Tensor, initial: Tensor?, into x: Tensor, _ shape: AffineScanShape) throws

    // MARK: transpose.cl
    func uncheckedTranspose(_ x: Tensor, into out: Tensor, _ shape: TransposeShape) throws

    // MARK: lse.cl
    func uncheckedPairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ shape: PairwiseLSEShape) throws
    func uncheckedPairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                                      _ shape: PairwiseLSEShape) throws
    func uncheckedPairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ shape: PairwiseLSEShape) throws

    // MARK: knn.cl
    func uncheckedKnnEntropy(_ z: Tensor, gradient: Tensor, _ shape: KNNShape) throws -> KNNResult

    // MARK: cholesky.cl
    func uncheckedCholesky(_ a: Tensor, into factor: Tensor, _ shape: CholeskyShape) throws -> Float
    func uncheckedTriangularSolve(_ factor: Tensor, _ b: Tensor, _ shape: TriangularSolveShape) throws
    func uncheckedGaussianLogDet(_ z: Tensor, gradient: Tensor, _ shape: LogDetShape) throws -> LogDetResult

    // MARK: covariance.cl
    func uncheckedCovarianceSurrogate(_ z: Tensor, gradient: Tensor, _ shape: CovarianceSurrogateShape) throws -> Double
    func uncheckedBarlowTwins(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws -> Double

    // MARK: plugin.cl
    func uncheckedCategoricalEntropy(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws -> Double

    // MARK: ica.cl
    func uncheckedIcaTerms(_ x: Tensor, _ w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float) throws
        -> (logDet: Double, prior: Double)

    // MARK: activation.cl
    func uncheckedActivation(_ x: Tensor, into y: Tensor, _ kind: Activation) throws
    func uncheckedActivationBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ kind: Activation) throws

    // MARK: optimizer.cl
    func uncheckedOptimizerStep(_ parameter: Tensor, _ gradient: Tensor, first: Tensor, second: Tensor, _ step: OptimizerStep) throws

    // MARK: variance_features.cl
    func uncheckedVarianceFeatures(_ x: Tensor, _ w: Tensor, into y: Tensor, means: Tensor, _ shape: RowsShape) throws
    func uncheckedVarianceFeaturesBackward(_ x: Tensor, _ w: Tensor, means: Tensor, _ dy: Tensor, gradientW: Tensor,
                                           gradientX: Tensor?, _ shape: RowsShape) throws

    // MARK: batch_norm.cl
    func uncheckedBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, into y: Tensor, mean: Tensor, variance: Tensor,
                            _ shape: BatchNormShape) throws
    func uncheckedBatchNormBackward(_ x: Tensor, _ dy: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor, dx: Tensor,
                                    dGamma: Tensor, dBeta: Tensor, _ shape: BatchNormShape) throws

    // MARK: conv2d.cl (see ImageKernelShapes.swift for the NHWC layouts)
    func uncheckedIm2col(_ x: Tensor, into columns: Tensor, _ shape: Conv2dShape) throws
    func uncheckedCol2im(_ columns: Tensor, into dx: Tensor, _ shape: Conv2dShape) throws
    func uncheckedAddChannelBias(_ bias: Tensor, to y: Tensor, _ shape: RowsShape) throws
    func uncheckedChannelSums(_ x: Tensor, into sums: Tensor, _ shape: RowsShape) throws

    // MARK: pool.cl
    func uncheckedPool(_ x: Tensor, into y: Tensor, _ shape: PoolShape) throws
    func uncheckedPoolBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ shape: PoolShape) throws
    func uncheckedGlobalAveragePool(_ x: Tensor, into y: Tensor, _ shape: GlobalPoolShape) throws
    func uncheckedGlobalAveragePoolBackward(_ dy: Tensor, into dx: Tensor, _ shape: GlobalPoolShape) throws

    // MARK: augment.cl
    func uncheckedAugmentParameters(_ images: Tensor, into parameters: Tensor, _ shape: AugmentShape) throws
    func uncheckedAugmentApply(_ images: Tensor, _ parameters: Tensor, into views: Tensor, _ shape: AugmentShape) throws

    // MARK: gather.cl
    func uncheckedGatherRows(_ table: Tensor, _ indices: Tensor, into out: Tensor, _ shape: GatherShape) throws

    // MARK: kalman.cl (see KalmanKernels.swift for the layouts)
    func uncheckedKalmanCovarianceForward(_ inputs: KalmanCovarianceInputs, into tape: KalmanCovarianceTape, chunks: Int) throws -> Float
    func uncheckedKalmanMeanForward(_ z: Tensor, _ inputs: KalmanMeanInputs, _ covariances: KalmanCovarianceTape,
                                    into means: KalmanMeanTape) throws
    func uncheckedKalmanCovarianceSmoother(_ covariances: KalmanCovarianceTape, F: Tensor, into smoother: KalmanSmootherTape) throws
    func uncheckedKalmanMeanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups: Int,
                                     into smoothedMeans: Tensor) throws
    func uncheckedKalmanLDMMeanBackward(_ covariances: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                                        gradientScale: Float, stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints) throws
    func uncheckedKalmanLDMCovarianceBackward(_ inputs: KalmanCovarianceInputs, _ covariances: KalmanCovarianceTape,
                                              seedC: Tensor, seedS: Tensor, sequencesPerGroup: Int,
                                              into gradients: KalmanLDMCovarianceGradients, chunks: Int) throws
    func uncheckedKalmanInnovationInverses(_ covariances: KalmanCovarianceTape, into inverses: Tensor) throws
    func uncheckedKalmanLogLikelihood(_ innovations: Tensor, whitened: Tensor, _ covariances: KalmanCovarianceTape,
                                      into logLikelihood: Tensor) throws
    /// Whether ``KalmanTimeParallel/automatic`` takes the time-parallel form for B sequences of T steps and state
    /// dimension n (each backend's measured crossover; docs/benchmarks.md).
    func kalmanTimeParallelPreferred(batch: Int, steps: Int, n: Int) -> Bool
    /// How many chunks the time-parallel covariance recursion splits T steps of G groups into (1: the sequential
    /// recursion, which is what a device that the groups already fill should run).
    func kalmanCovarianceChunks(groups: Int, steps: Int, n: Int) -> Int

    // MARK: kalman_ldm_parameters.cl
    func uncheckedKalmanLDMUnpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws
    func uncheckedKalmanLDMShiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, into out: Tensor) throws
    func uncheckedKalmanLDMPackGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int, into gradient: Tensor) throws
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

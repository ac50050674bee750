/// The checked entry points of the ``Backend`` protocol: one method per kernel, named as in `Kernels/*.cl`. Each
/// validates its arguments (``KernelChecks``, ``KalmanChecks`` and the shapes' own `validate`) and only then calls
/// the backend's `unchecked…` implementation, so every backend refuses the same inputs with the same message
/// and nothing is launched when validation fails.
extension Backend {
    // MARK: Memory

    /// An uninitialised tensor of `shape` on this backend (from the pool when a freed buffer fits).
    public func makeTensor(_ shape: TensorShape) throws -> Tensor {
        try shape.validate("makeTensor")
        return try uncheckedMakeTensor(shape)
    }

    /// Copies `values` (row-major) into `tensor`, which must hold exactly `values.count` elements.
    public func write(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) throws {
        guard values.count == tensor.count else {
            throw LDMError.shapeMismatch(operation: "write", detail: "\(values.count) values for \(tensor.count) elements")
        }
        try uncheckedWrite(values, to: tensor)
    }

    /// Copies `tensor` into `values`, which must hold exactly `tensor.count` elements; waits for pending work.
    public func read(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) throws {
        guard values.count == tensor.count else {
            throw LDMError.shapeMismatch(operation: "read", detail: "\(values.count) slots for \(tensor.count) elements")
        }
        try uncheckedRead(tensor, into: values)
    }

    /// Copies `source` into `destination` on the device (same element count; copying a tensor onto itself does
    /// nothing).
    public func copy(_ source: Tensor, to destination: Tensor) throws {
        try KernelChecks.sameCount("copy", [("source", source), ("destination", destination)])
        guard source.storage !== destination.storage, source.count > 0 else { return }
        try uncheckedCopy(source, offset: 0, to: destination, offset: 0, count: source.count)
    }

    /// Copies `count` elements from `source` starting at `sourceOffset` into `destination` starting at
    /// `destinationOffset` (element offsets; the ranges may not overlap within one tensor). How tensors are
    /// stacked and split along their first axis.
    public func copy(_ source: Tensor, offset sourceOffset: Int, to destination: Tensor, offset destinationOffset: Int,
                     count: Int) throws {
        try KernelChecks.range(source: source, sourceOffset, destination: destination, destinationOffset, count: count)
        guard count > 0 else { return }
        try uncheckedCopy(source, offset: sourceOffset, to: destination, offset: destinationOffset, count: count)
    }

    // MARK: matmul.cl

    /// `C = α·op(A)·op(B) + β·C`, batched; see ``MatmulShape``.
    public func matmul(_ a: Tensor, _ b: Tensor, into c: Tensor, _ shape: MatmulShape) throws {
        try shape.validate(a: a.count, b: b.count, c: c.count)
        try uncheckedMatmul(a, b, into: c, shape)
    }

    // MARK: elementwise.cl

    /// `out = a + b` (same element count; `out` may alias either input).
    public func add(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        try KernelChecks.sameCount("add", [("a", a), ("b", b), ("out", out)])
        try uncheckedAdd(a, b, into: out)
    }

    /// `out = α·x` (`out` may alias `x`).
    public func scale(_ x: Tensor, by alpha: Float, into out: Tensor) throws {
        try KernelChecks.sameCount("scale", [("x", x), ("out", out)])
        try KernelChecks.finite("scale", "alpha", alpha)
        try uncheckedScale(x, by: alpha, into: out)
    }

    /// `y = α·x + y`.
    public func axpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        try KernelChecks.sameCount("axpy", [("x", x), ("y", y)])
        try KernelChecks.finite("axpy", "alpha", alpha)
        try uncheckedAxpy(alpha, x, y)
    }

    // MARK: reduce.cl

    /// `out[i] = reduction(x[i, :])` for a `rows × columns` matrix; `out` has `rows` elements.
    public func reduceRows(_ x: Tensor, into out: Tensor, _ reduction: RowReduction, _ shape: RowsShape) throws {
        try KernelChecks.rows("reduceRows(\(reduction)) \(shape)", shape, x: x, out: out)
        try uncheckedReduceRows(x, into: out, reduction, shape)
    }

    /// The backward of ``reduceRows(_:into:_:_:)``: given `x`, the forward result `y` and its gradient `gy`, writes
    /// `gx = ∂(Σ_i gy_i·y_i)/∂x`. For `max` the gradient goes to the first maximal entry of each row; for `norm` a
    /// zero row gets zero gradient.
    public func reduceRowsBackward(_ x: Tensor, _ y: Tensor, _ gy: Tensor, into gx: Tensor, _ reduction: RowReduction,
                                   _ shape: RowsShape) throws {
        try KernelChecks.rowsBackward("reduceRowsBackward(\(reduction)) \(shape)", shape, x: x, y: y, gy: gy, gx: gx)
        try uncheckedReduceRowsBackward(x, y, gy, into: gx, reduction, shape)
    }

    /// `out_i = x_i / max(‖x_i‖, 1e-12)` for each row (PyTorch's `F.normalize`); `norms_i = ‖x_i‖`.
    public func normalizeRows(_ x: Tensor, into out: Tensor, norms: Tensor, _ shape: RowsShape) throws {
        try KernelChecks.normalize("normalizeRows \(shape)", shape, matrices: [("x", x), ("out", out)], norms: norms, output: out)
        try uncheckedNormalizeRows(x, into: out, norms: norms, shape)
    }

    /// The backward of ``normalizeRows(_:into:norms:_:)``: given its `out` and `norms` and `g = ∂L/∂out`, writes
    /// `dx = (g − out·⟨out, g⟩) / ‖x‖` per row.
    public func normalizeRowsBackward(_ out: Tensor, _ norms: Tensor, _ g: Tensor, into dx: Tensor, _ shape: RowsShape) throws {
        try KernelChecks.normalize("normalizeRowsBackward \(shape)", shape, matrices: [("out", out), ("g", g), ("dx", dx)],
                                   norms: norms, output: dx)
        try uncheckedNormalizeRowsBackward(out, norms, g, into: dx, shape)
    }

    /// `y_i = softmax(scale·x_i)` for each row, through the row's running maximum (finite for any finite x);
    /// `scale` is an inverse temperature.
    public func softmaxRows(_ x: Tensor, into y: Tensor, scale: Float, _ shape: RowsShape) throws {
        try KernelChecks.softmax("softmaxRows \(shape)", shape, scale: scale, inputs: [("x", x)], output: ("y", y))
        try uncheckedSoftmaxRows(x, into: y, scale: scale, shape)
    }

    /// The backward of ``softmaxRows(_:into:scale:_:)`` from its output y: `dx_i = scale·y_i ⊙ (dy_i − ⟨y_i, dy_i⟩)`.
    public func softmaxRowsBackward(_ y: Tensor, _ dy: Tensor, into dx: Tensor, scale: Float, _ shape: RowsShape) throws {
        try KernelChecks.softmax("softmaxRowsBackward \(shape)", shape, scale: scale, inputs: [("y", y), ("dy", dy)],
                                 output: ("dx", dx))
        try uncheckedSoftmaxRowsBackward(y, dy, into: dx, scale: scale, shape)
    }

    // MARK: strided_copy.cl

    /// Copies (or adds, ``StridedCopyShape/accumulate``) `blocks × rows` runs of `width` floats between two strided
    /// layouts: the windows and shifted slices of a [B, T, d] sequence batch, and the scatter of their gradients
    /// back. Its adjoint is the same call with the layouts swapped and `accumulate` set.
    public func stridedCopy(_ source: Tensor, into destination: Tensor, _ shape: StridedCopyShape) throws {
        try KernelChecks.stridedCopy("stridedCopy \(shape)", shape, source: source, destination: destination)
        guard shape.count > 0 else { return }
        try uncheckedStridedCopy(source, into: destination, shape)
    }

    // MARK: affine_scan.cl

    /// `x_t = A_t·x_{t−1} + u_t` for every row of a `[T, B, n]` batch from `initial` (`[B, n]`, zero when nil), in
    /// pieces of time that run at the same time; backwards and with A_tᵀ on request. See ``AffineScanShape``.
    public func affineScan(_ u: Tensor, transitions: Tensor, initial: Tensor? = nil, into x: Tensor,
                           _ shape: AffineScanShape) throws {
        try KernelChecks.affineScan(shape, u: u, transitions: transitions, initial: initial, x: x)
        try uncheckedAffineScan(u, transitions: transitions, initial: initial, into: x, shape)
    }

    // MARK: transpose.cl

    /// `out[b] = x[b]ᵀ`; see ``TransposeShape``.
    public func transpose(_ x: Tensor, into out: Tensor, _ shape: TransposeShape) throws {
        try KernelChecks.transpose(shape, x: x, out: out)
        try uncheckedTranspose(x, into: out, shape)
    }

    // MARK: lse.cl

    /// `lse[i] = log Σ_j exp(s_ij)` without storing the `rows × columns` matrix; see ``PairwiseLSEShape``.
    public func pairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ shape: PairwiseLSEShape) throws {
        try shape.validate(x: x, y: y, lse: lse)
        try uncheckedPairwiseLSE(x, y, into: lse, shape)
    }

    /// Given `g = ∂L/∂lse` and `lse` from the forward, writes `dx = ∂L/∂x` and `dy = ∂L/∂y` (when x and y are the
    /// same set, its gradient is `dx + dy`).
    public func pairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                                    _ shape: PairwiseLSEShape) throws {
        try shape.validateBackward(x: x, y: y, lse: lse, g: g, dx: dx, dy: dy)
        try uncheckedPairwiseLSEBackward(x, y, lse, g, dx: dx, dy: dy, shape)
    }

    /// The backward when both sides are the same set z (KDE entropy, NT-Xent): writes `dz = dx + dy`. Backends may
    /// use the symmetry of S = Z·Zᵀ (the CPU does, doing about half the work).
    public func pairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ shape: PairwiseLSEShape) throws {
        try shape.validateSelfBackward(z: z, lse: lse, g: g, dz: dz)
        try uncheckedPairwiseLSESelfBackward(z, lse, g, dz: dz, shape)
    }

    // MARK: knn.cl

    /// The Kozachenko–Leonenko entropy (returned, with its detached cap) and its gradient with respect to z.
    public func knnEntropy(_ z: Tensor, gradient: Tensor, _ shape: KNNShape) throws -> KNNResult {
        try shape.validate(z: z, gradient: gradient)
        return try uncheckedKnnEntropy(z, gradient: gradient, shape)
    }

    // MARK: cholesky.cl

    /// The lower Cholesky factor of each matrix of a batch (strict upper triangle zero), with the jitter policy of
    /// docs/mathematics.md §9; returns the largest jitter used (0 when none was needed).
    public func cholesky(_ a: Tensor, into factor: Tensor, _ shape: CholeskyShape) throws -> Float {
        try shape.validate(a: a, factor: factor)
        return try uncheckedCholesky(a, into: factor, shape)
    }

    /// Triangular solve against a lower factor from ``cholesky(_:into:_:)``; see ``TriangularSolveShape``.
    public func triangularSolve(_ factor: Tensor, _ b: Tensor, _ shape: TriangularSolveShape) throws {
        try shape.validate(factor: factor, b: b)
        try uncheckedTriangularSolve(factor, b, shape)
    }

    /// `½·log det(Cov(z) + εI)` (returned, with the jitter used) and its gradient with respect to z (the covariance
    /// by matmul, its factor and solves in cholesky.cl on OpenCL).
    public func gaussianLogDet(_ z: Tensor, gradient: Tensor, _ shape: LogDetShape) throws -> LogDetResult {
        try shape.validate(z: z, gradient: gradient)
        return try uncheckedGaussianLogDet(z, gradient: gradient, shape)
    }

    // MARK: covariance.cl

    /// The VICReg or Taylor surrogate of z (returned) and its gradient with respect to z.
    public func covarianceSurrogate(_ z: Tensor, gradient: Tensor, _ shape: CovarianceSurrogateShape) throws -> Double {
        try shape.validate(z: z, gradient: gradient)
        return try uncheckedCovarianceSurrogate(z, gradient: gradient, shape)
    }

    /// The Barlow Twins loss of two views (returned) and its gradients (the cross-correlation in covariance.cl).
    public func barlowTwins(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws -> Double {
        try KernelChecks.barlow(z1, z2, gradient1: gradient1, gradient2: gradient2, lambda: lambda)
        return try uncheckedBarlowTwins(z1, z2, gradient1: gradient1, gradient2: gradient2, lambda: lambda)
    }

    // MARK: plugin.cl

    /// The categorical plug-in entropy (returned) of softmax rows with its gradients: of the batch joint
    /// `P = z1ᵀz2/B` when `z2` is given, else of the batch marginal `mean_b z1_b`.
    public func categoricalEntropy(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws -> Double {
        try KernelChecks.categorical(z1, z2, gradient1: gradient1, gradient2: gradient2)
        return try uncheckedCategoricalEntropy(z1, z2, gradient1: gradient1, gradient2: gradient2)
    }

    // MARK: ica.cl

    /// For data x (N × d) and unmixing W (d × d), s = x·Wᵀ: returns `½·log det(W·Wᵀ)` and `mean_i Σ_k |s_ik|^β`, and
    /// writes the gradients of `−(½·log det(W·Wᵀ) − α·mean_i Σ_k |s_ik|^β)` (ica.cl and cholesky.cl on OpenCL).
    public func icaTerms(_ x: Tensor, _ w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float) throws
        -> (logDet: Double, prior: Double) {
        try KernelChecks.ica(x: x, w: w, gradientX: gradientX, gradientW: gradientW, alpha: alpha, beta: beta)
        return try uncheckedIcaTerms(x, w, gradientX: gradientX, gradientW: gradientW, alpha: alpha, beta: beta)
    }

    // MARK: activation.cl

    /// `y = act(x)` elementwise (y may be x).
    public func activation(_ x: Tensor, into y: Tensor, _ kind: Activation) throws {
        try KernelChecks.sameCount("activation \(kind)", [("x", x), ("y", y)])
        try uncheckedActivation(x, into: y, kind)
    }

    /// `dx = act'(x) ⊙ dy` elementwise (dx may be dy).
    public func activationBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ kind: Activation) throws {
        try KernelChecks.sameCount("activationBackward \(kind)", [("x", x), ("dy", dy), ("dx", dx)])
        try uncheckedActivationBackward(x, dy, into: dx, kind)
    }

    // MARK: optimizer.cl

    /// One update of `parameter` from `gradient`, with the optimiser's state `first` (Adam's m, SGD's velocity) and
    /// `second` (Adam's v; unused by SGD).
    public func optimizerStep(_ parameter: Tensor, _ gradient: Tensor, first: Tensor, second: Tensor, _ step: OptimizerStep) throws {
        try KernelChecks.sameCount("optimizerStep", [("parameter", parameter), ("gradient", gradient), ("first", first),
                                                      ("second", second)])
        try step.validate()
        try uncheckedOptimizerStep(parameter, gradient, first: first, second: second, step)
    }

    // MARK: variance_features.cl

    /// For rows x [rows, f] and weights w [f]: `y_ij = (w_j·x_ij − m_i)²` with the row means `m_i = mean_j w_j·x_ij`
    /// written to `means` [rows] (the first stage of the per-step noise network).
    public func varianceFeatures(_ x: Tensor, _ w: Tensor, into y: Tensor, means: Tensor, _ shape: RowsShape) throws {
        try KernelChecks.varianceFeatures("varianceFeatures \(shape)", shape, x: x, w: w, rowsByColumns: y, means: means)
        try uncheckedVarianceFeatures(x, w, into: y, means: means, shape)
    }

    /// `gradientW = ∂L/∂w` [f] and, when given, `gradientX = ∂L/∂x` [rows, f] from `dy = ∂L/∂y` [rows, f] and the
    /// forward's `means`.
    public func varianceFeaturesBackward(_ x: Tensor, _ w: Tensor, means: Tensor, _ dy: Tensor, gradientW: Tensor,
                                         gradientX: Tensor? = nil, _ shape: RowsShape) throws {
        let op = "varianceFeaturesBackward \(shape)"
        try KernelChecks.varianceFeatures(op, shape, x: x, w: w, rowsByColumns: dy, means: means)
        try KernelChecks.count(op, "gradientW", gradientW, shape.columns)
        if let gradientX {
            try KernelChecks.count(op, "gradientX", gradientX, shape.count)
            guard ![x, w, means, dy, gradientW].contains(where: { $0.storage === gradientX.storage }) else {
                throw LDMError.invalidArgument("\(op): gradientX must not alias another operand")
            }
        }
        try uncheckedVarianceFeaturesBackward(x, w, means: means, dy, gradientW: gradientW, gradientX: gradientX, shape)
    }

    // MARK: batch_norm.cl

    /// `y = γ·(x − μ)/√(σ² + ε) + β` per column of x [N, C]. In training mode μ and the biased σ² of x's columns are
    /// computed and written to `mean` and `variance` [C]; in evaluation mode they are read from there (the running
    /// statistics).
    public func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, into y: Tensor, mean: Tensor, variance: Tensor,
                          _ shape: BatchNormShape) throws {
        try KernelChecks.batchNorm("batchNorm \(shape)", shape, matrices: [("x", x), ("y", y)],
                                   vectors: [("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)])
        try uncheckedBatchNorm(x, gamma: gamma, beta: beta, into: y, mean: mean, variance: variance, shape)
    }

    /// The training-mode backward: `dx`, `dGamma`, `dBeta` given `dy` and the forward's batch statistics (the
    /// gradient flows through μ and σ² too).
    public func batchNormBackward(_ x: Tensor, _ dy: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor, dx: Tensor,
                                  dGamma: Tensor, dBeta: Tensor, _ shape: BatchNormShape) throws {
        try KernelChecks.batchNorm("batchNormBackward \(shape)", shape, matrices: [("x", x), ("dy", dy), ("dx", dx)],
                                   vectors: [("gamma", gamma), ("mean", mean), ("variance", variance), ("dGamma", dGamma),
                                             ("dBeta", dBeta)])
        guard shape.training else {
            throw LDMError.invalidArgument("batchNormBackward: only the training-mode forward has a backward here")
        }
        try uncheckedBatchNormBackward(x, dy, gamma: gamma, mean: mean, variance: variance, dx: dx, dGamma: dGamma,
                                       dBeta: dBeta, shape)
    }

    // MARK: kalman.cl

    /// The covariance half of a linear-Gaussian filter for every group: P⁻ = F·P·Fᵀ + Q, S = H·P⁻·Hᵀ + R factored by
    /// Cholesky with the jitter policy of docs/mathematics.md §9, K = P⁻·Hᵀ·S⁻¹ by solves (never an inverse),
    /// Joseph update, symmetrised. Returns the largest jitter used; throws `notPositiveDefinite` naming the group
    /// and step when an S_t cannot be factored.
    ///
    /// `timeParallel` picks the form: `on` splits the steps into chunks when the observation noise varies with time
    /// (a constant noise makes P_t converge within tens of steps, after which the sequential recursion only
    /// copies): `LDM_KALMAN_CHUNKS` of them when that variable is set, else the backend's
    /// ``kalmanCovarianceChunks(groups:steps:n:)``; `off` and `automatic` run the sequential recursion. `chunks`
    /// (≥ 1) overrides all of that. Every form gives the same tape up to rounding (docs/mathematics.md §5,
    /// "Time-parallel covariances").
    public func kalmanCovarianceForward(_ inputs: KalmanCovarianceInputs, into tape: KalmanCovarianceTape,
                                        timeParallel: KalmanTimeParallel = .off, chunks: Int? = nil) throws -> Float {
        try KalmanChecks.covarianceForward(inputs, tape)
        let count = try covarianceChunks(inputs, timeParallel, chunks, "kalmanCovarianceForward")
        return try uncheckedKalmanCovarianceForward(inputs, into: tape, chunks: count)
    }

    /// How many chunks the covariance recursion (forward or reverse) of `inputs` takes: `chunks` when given, else
    /// `LDM_KALMAN_CHUNKS` or the backend's choice under `on` when the noise varies with time, else 1; clamped to T.
    private func covarianceChunks(_ inputs: KalmanCovarianceInputs, _ timeParallel: KalmanTimeParallel, _ chunks: Int?,
                                  _ op: String) throws -> Int {
        if let chunks, chunks < 1 { throw LDMError.invalidArgument("\(op): chunks must be at least 1, got \(chunks)") }
        var count = 1
        if let chunks {
            count = chunks
        } else if inputs.R.extent.steps > 1 && timeParallel == .on {
            count = try KalmanChecks.chunksFromEnvironment()
                ?? kalmanCovarianceChunks(groups: inputs.groups, steps: inputs.steps, n: inputs.n)
        }
        return max(1, min(count, inputs.steps))
    }

    /// The means half, one sequence per work-item over the whole time loop: h⁻ = F·ĥ + c, e = z − H·h⁻,
    /// ĥ = h⁻ + K·e, and each sequence's log-likelihood.
    /// With shared covariances the recursion of ĥ is affine, ĥ_t = (I − K_t·H)·F·ĥ_{t−1} + u_t, and `timeParallel`
    /// may run it as an ``affineScan(_:transitions:initial:into:_:)`` split over time, everything else as
    /// products over all steps at once (Backend+KalmanTimeParallel.swift).
    public func kalmanMeanForward(_ z: Tensor, _ inputs: KalmanMeanInputs, _ covariances: KalmanCovarianceTape,
                                  into means: KalmanMeanTape, timeParallel: KalmanTimeParallel = .automatic) throws {
        try KalmanChecks.meanForward(z, inputs, covariances, means)
        if try timeParallelForm(timeParallel, "kalmanMeanForward", groups: covariances.groups, batch: means.batch,
                                steps: means.steps, n: means.n) {
            try kalmanMeanForwardTimeParallel(z, inputs, covariances, into: means)
        } else {
            try uncheckedKalmanMeanForward(z, inputs, covariances, into: means)
        }
    }

    /// The Rauch–Tung–Striebel smoother's gains and covariances per group.
    public func kalmanCovarianceSmoother(_ covariances: KalmanCovarianceTape, F: Tensor, into smoother: KalmanSmootherTape) throws {
        try KalmanChecks.smoother(covariances, F: F, smoother)
        try uncheckedKalmanCovarianceSmoother(covariances, F: F, into: smoother)
    }

    /// The smoothed means [B, T, n], one sequence per work-item.
    /// `timeParallel` as for ``kalmanMeanForward(_:_:_:into:timeParallel:)``: the smoother is the reverse scan
    /// ĥˢ_t = G_t·ĥˢ_{t+1} + ĥ_t − G_t·h⁻_{t+1}.
    public func kalmanMeanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups: Int,
                                   into smoothedMeans: Tensor, timeParallel: KalmanTimeParallel = .automatic) throws {
        try KalmanChecks.meanSmoother(means, smoother, groups: groups, smoothedMeans)
        if try timeParallelForm(timeParallel, "kalmanMeanSmoother", groups: groups, batch: means.batch, steps: means.steps,
                                n: means.n) {
            try kalmanMeanSmootherTimeParallel(means, smoother, groups: groups, into: smoothedMeans)
        } else {
            try uncheckedKalmanMeanSmoother(means, smoother, groups: groups, into: smoothedMeans)
        }
    }

    /// The Kalman-LDM reverse pass through the means (D = [I 0], F = A): writes `gradientScale`·∂loss/∂z and the
    /// per-step adjoints the covariance seeds and ∂/∂A, ∂/∂b are summed from. With `stopGradient` the loss's target
    /// z is detached (the default form); without, ∂ℓ_t/∂z_t = S⁻¹e_t is added.
    /// `timeParallel` as for ``kalmanMeanForward(_:_:_:into:timeParallel:)``: the adjoint recursion
    /// h̄_{t−1} = Aᵀ·(I − Hᵀ·K_tᵀ)·h̄_t − Aᵀ·Hᵀ·S_t⁻¹e_t is a reverse scan with transposed transitions.
    public func kalmanLDMMeanBackward(_ covariances: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                                      gradientScale: Float, stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints,
                                      timeParallel: KalmanTimeParallel = .automatic) throws {
        try KalmanChecks.ldmMeanBackward(covariances, means, A: A, adjoints)
        try KernelChecks.finite("kalmanLDMMeanBackward", "gradientScale", gradientScale)
        if try timeParallelForm(timeParallel, "kalmanLDMMeanBackward", groups: covariances.groups, batch: means.batch,
                                steps: means.steps, n: means.n) {
            try kalmanLDMMeanBackwardTimeParallel(covariances, means, A: A, gradientScale: gradientScale,
                                                  stopGradient: stopGradient, into: adjoints)
        } else {
            try uncheckedKalmanLDMMeanBackward(covariances, means, A: A, gradientScale: gradientScale, stopGradient: stopGradient,
                                               into: adjoints)
        }
    }

    /// S_t⁻¹ [T, G, m, m] from the tape's Cholesky factors (the time-parallel filter whitens by products).
    public func kalmanInnovationInverses(_ covariances: KalmanCovarianceTape, into inverses: Tensor) throws {
        try KernelChecks.count("kalmanInnovationInverses", "inverses", inverses,
                               covariances.factors.count)
        try uncheckedKalmanInnovationInverses(covariances, into: inverses)
    }

    /// Each sequence's log-likelihood −½·Σ_t (e_t·r_t + log det S_t + m·log 2π) from step-major innovations e and
    /// whitened innovations r = S⁻¹e ([T, B, m]), sequence q on noise group q / (B / G), summed over time in higher
    /// precision.
    public func kalmanLogLikelihood(_ innovations: Tensor, whitened: Tensor, _ covariances: KalmanCovarianceTape,
                                    into logLikelihood: Tensor) throws {
        let op = "kalmanLogLikelihood"
        let b = logLikelihood.count
        guard b % covariances.groups == 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "\(b) sequences do not split into \(covariances.groups) noise groups")
        }
        let (rows, overflow) = b.multipliedReportingOverflow(by: covariances.steps * covariances.m)
        guard !overflow else { throw LDMError.shapeMismatch(operation: op, detail: "the sizes overflow") }
        try KernelChecks.count(op, "innovations", innovations, rows)
        try KernelChecks.count(op, "whitened", whitened, rows)
        try uncheckedKalmanLogLikelihood(innovations, whitened: whitened, covariances, into: logLikelihood)
    }

    /// The Kalman-LDM reverse pass through the covariance recursion of each group, seeded per step by `seedC`
    /// [T, G, n, m] (Σ_q h̄·(S⁻¹e)ᵀ) and `seedS` [T, G, m, m] (−Σ_q w·(S⁻¹e)ᵀ) plus ½·`sequencesPerGroup`·S⁻¹.
    /// Needs diagonal Q and log-diagonal R (the Kalman-LDM parameterisation). `timeParallel` and `chunks` split the
    /// steps as for ``kalmanCovarianceForward(_:into:timeParallel:chunks:)``: the pass is affine in its adjoint
    /// P̄, so chunks run from zero, their starting P̄ are carried back in order, and every chunk reruns from its start.
    public func kalmanLDMCovarianceBackward(_ inputs: KalmanCovarianceInputs, _ covariances: KalmanCovarianceTape,
                                            seedC: Tensor, seedS: Tensor, sequencesPerGroup: Int,
                                            into gradients: KalmanLDMCovarianceGradients,
                                            timeParallel: KalmanTimeParallel = .off, chunks: Int? = nil) throws {
        try KalmanChecks.ldmCovarianceBackward(inputs, covariances, seedC: seedC, seedS: seedS,
                                               sequencesPerGroup: sequencesPerGroup, gradients)
        let count = try covarianceChunks(inputs, timeParallel, chunks, "kalmanLDMCovarianceBackward")
        try uncheckedKalmanLDMCovarianceBackward(inputs, covariances, seedC: seedC, seedS: seedS,
                                                 sequencesPerGroup: sequencesPerGroup, into: gradients, chunks: count)
    }

    // MARK: kalman_ldm_parameters.cl

    /// From the packed θ = [A (n²) | b (n) | a (n) | s] on the device: `A` [n, n], `Q` = e^s·diag(e^a) [n, n] and
    /// the offset b − A·b [n].
    public func kalmanLDMUnpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws {
        try KalmanChecks.unpack(theta, n: n, A: A, Q: Q, offset: offset)
        try uncheckedKalmanLDMUnpack(theta, n: n, A: A, Q: Q, offset: offset)
    }

    /// `out = ℓ + s` elementwise (s read from θ on the device; ℓ = 0 when nil): the observation noise's
    /// log-variances with the joint scale folded in.
    public func kalmanLDMShiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, into out: Tensor) throws {
        try KalmanChecks.shiftLogNoise(theta, n: n, logNoise: logNoise, out: out)
        try uncheckedKalmanLDMShiftLogNoise(theta, n: n, logNoise: logNoise, into: out)
    }

    /// The packed gradient θ̄ [n² + 2n + 1] of the loss averaged over `batch` sequences, from the reverse pass's
    /// sums (see ``KalmanLDMReverseSums``).
    public func kalmanLDMPackGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int, into gradient: Tensor) throws {
        try KalmanChecks.packGradient(theta, n: n, sums: sums, batch: batch, gradient: gradient)
        try uncheckedKalmanLDMPackGradient(theta, n: n, sums: sums, batch: batch, into: gradient)
    }
}

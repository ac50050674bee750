// The time-parallel form of the Kalman means (docs/mathematics.md §5, "Time-parallel means"). The covariances, gains
// and S_t do not depend on the data, so each mean recursion is affine with matrices shared by the sequences of a
// noise group (all of them with one group; one sequence each with noise per sequence or predicted per step):
//     filter      ĥ_t  = N_t·ĥ_{t−1} + K_t·z_t + v_t,   N_t = (I − K_t·H)·F,   v_t = (I − K_t·H)·c
//     smoother    ĥˢ_t = G_t·ĥˢ_{t+1} + ĥ_t − G_t·h⁻_{t+1}                                   (backwards)
//     LDM adjoint h̄_{t−1} = M_tᵀ·h̄_t − (H·A)ᵀ·S_t⁻¹e_t,   M_t = (I − K_t·H)·A                  (backwards)
// Each runs as one affine scan (affine_scan.cl, split over time on devices that want it; its rows in the noise
// groups, sequence q in group q / (B/G) as the sequential kernels have it), and everything else (predictions,
// innovations, whitening, log-likelihoods, adjoint outputs) becomes products over all steps and groups at once,
// batched over (step, group) with the group's B/G rows each. The covariances are computed once per group before
// this (with a noise that varies with time, `on` splits their recursion into chunks too: kalman_scan.cl).
// The scan works step-major, [T, B, n]; the tapes' per-sequence tensors are [B, T, n], so a strided copy turns
// one into the other. Everything here is composed from checked kernels: both backends run the same code.

extension Backend {
    /// Whether a mean kernel takes the time-parallel form: `on` always (the groups must split the batch evenly),
    /// `automatic` when the backend prefers it for one noise group (per-group scans carry a product of matrices per
    /// group and are unmeasured against the sequential kernels, so they are taken on request only).
    func timeParallelForm(_ choice: KalmanTimeParallel, _ op: String, groups: Int, batch: Int, steps: Int, n: Int) throws -> Bool {
        switch choice {
        case .off: return false
        case .automatic: return groups == 1 && kalmanTimeParallelPreferred(batch: batch, steps: steps, n: n)
        case .on:
            guard groups >= 1, batch % groups == 0 else {
                throw LDMError.invalidArgument("\(op): \(batch) sequences do not split into \(groups) noise groups")
            }
            return true
        }
    }

    /// [B, T, w] → [T, B, w] (or back with `toSequences`).
    private func reorder(_ x: Tensor, into out: Tensor, batch b: Int, steps t: Int, width w: Int, toSequences: Bool = false) throws {
        // Blocks follow the destination's outer axis, so that its runs are laid out block after block.
        let shape = toSequences
            ? StridedCopyShape(blocks: b, rows: t, width: w, source: StridedLayout(blockStride: w, rowStride: b * w),
                               destination: StridedLayout(blockStride: t * w, rowStride: w))
            : StridedCopyShape(blocks: t, rows: b, width: w, source: StridedLayout(blockStride: w, rowStride: t * w),
                               destination: StridedLayout(blockStride: b * w, rowStride: w))
        try stridedCopy(x, into: out, shape)
    }

    /// `count` copies of a vector, [count, w].
    private func broadcast(_ vector: Tensor, count: Int) throws -> Tensor {
        let w = vector.count, out = try makeTensor([count, w])
        try stridedCopy(vector, into: out, StridedCopyShape(blocks: count, rows: 1, width: w,
                                                            source: StridedLayout(blockStride: 0, rowStride: 0),
                                                            destination: StridedLayout(blockStride: w, rowStride: w)))
        return out
    }

    private func ones(_ count: Int) throws -> Tensor {
        let out = try makeTensor([count])
        try fill(out, with: 1)
        return out
    }

    /// The filter's means as a scan over time (the tapes as `uncheckedKalmanMeanForward` writes them).
    func kalmanMeanForwardTimeParallel(_ z: Tensor, _ x: KalmanMeanInputs, _ tape: KalmanCovarianceTape,
                                       into means: KalmanMeanTape) throws {
        let (b, t, n, m, g) = (means.batch, means.steps, means.n, means.m, tape.groups)
        let (r, tg) = (b / g, t * g)   // rows per group; (step, group) pairs
        let zSteps = try makeTensor([t, b, m])
        try reorder(z, into: zSteps, batch: b, steps: t, width: m)
        // N_t = F − K_t·(H·F) and v_t = c − K_t·(H·c) per (step, group), all in one batched product each.
        let hf = try makeTensor([m, n]), hc = try makeTensor([m])
        try matmul(x.H, x.F, into: hf, MatmulShape(m: m, n: n, k: n))
        try matmul(x.H, x.offset, into: hc, MatmulShape(m: m, n: 1, k: n))
        let transitions = try broadcast(x.F, count: tg), v = try broadcast(x.offset, count: tg)
        try matmul(tape.gains, hf, into: transitions,
                   MatmulShape(batch: tg, m: n, n: n, k: m, alpha: -1, beta: 1, strideA: n * m, strideB: 0, strideC: n * n))
        try matmul(tape.gains, hc, into: v, MatmulShape(batch: tg, m: n, n: 1, k: m, alpha: -1, beta: 1, strideA: n * m, strideB: 0,
                                                        strideC: n))
        // u_t = z_t·K_tᵀ + v_t for every row (row vectors), each group's rows with its gain.
        let u = try makeTensor([t, b, n]), groupOnes = try ones(r)
        try matmul(zSteps, tape.gains, into: u, MatmulShape(batch: tg, m: r, n: n, k: m, transposeB: true, strideA: r * m,
                                                            strideB: n * m, strideC: r * n))
        try matmul(groupOnes, v, into: u, MatmulShape(batch: tg, m: r, n: n, k: 1, beta: 1, strideA: 0, strideB: n, strideC: r * n))
        let initial = try broadcast(x.m0, count: b), filtered = try makeTensor([t, b, n])
        try affineScan(u, transitions: transitions, initial: initial, into: filtered, AffineScanShape(steps: t, batch: b, n: n, groups: g))
        try reorder(filtered, into: means.filteredMeans, batch: b, steps: t, width: n, toSequences: true)
        // ĥ_{t−1} (m0 first), h⁻_t = ĥ_{t−1}·Fᵀ + c, e_t = z_t − h⁻_t·Hᵀ (over zSteps), r_t = e_t·S_t⁻¹.
        try copy(initial, offset: 0, to: means.previousMeans, offset: 0, count: b * n)
        if t > 1 { try copy(filtered, offset: 0, to: means.previousMeans, offset: b * n, count: (t - 1) * b * n) }
        let predicted = try makeTensor([t, b, n])
        try matmul(means.previousMeans, x.F, into: predicted, MatmulShape(m: t * b, n: n, k: n, transposeB: true))
        try matmul(try ones(t * b), x.offset, into: predicted, MatmulShape(m: t * b, n: n, k: 1, beta: 1))
        try reorder(predicted, into: means.predictedMeans, batch: b, steps: t, width: n, toSequences: true)
        try matmul(predicted, x.H, into: zSteps, MatmulShape(m: t * b, n: m, k: n, transposeB: true, alpha: -1, beta: 1))
        let inverses = try makeTensor([t, g, m, m])
        try kalmanInnovationInverses(tape, into: inverses)
        try matmul(zSteps, inverses, into: means.whitened, MatmulShape(batch: tg, m: r, n: m, k: m, strideA: r * m, strideB: m * m,
                                                                       strideC: r * m))
        try kalmanLogLikelihood(zSteps, whitened: means.whitened, tape, into: means.logLikelihood)
    }

    /// The smoothed means as a reverse scan.
    func kalmanMeanSmootherTimeParallel(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups g: Int,
                                        into smoothedMeans: Tensor) throws {
        let (b, t, n) = (means.batch, means.steps, means.n)
        let r = b / g
        let u = try makeTensor([t, b, n])
        try reorder(means.filteredMeans, into: u, batch: b, steps: t, width: n)
        if t > 1 {
            // u_t = ĥ_t − h⁻_{t+1}·G_tᵀ (row vectors); the last step's gain is zero.
            let predicted = try makeTensor([t, b, n]), next = try makeTensor([t - 1, b, n])
            try reorder(means.predictedMeans, into: predicted, batch: b, steps: t, width: n)
            try copy(predicted, offset: b * n, to: next, offset: 0, count: (t - 1) * b * n)
            try matmul(next, smoother.gains, into: u, MatmulShape(batch: (t - 1) * g, m: r, n: n, k: n, transposeB: true, alpha: -1,
                                                                  beta: 1, strideA: r * n, strideB: n * n, strideC: r * n))
        }
        let smoothed = try makeTensor([t, b, n])
        try affineScan(u, transitions: smoother.gains, into: smoothed, AffineScanShape(steps: t, batch: b, n: n, reverse: true, groups: g))
        try reorder(smoothed, into: smoothedMeans, batch: b, steps: t, width: n, toSequences: true)
    }

    /// The Kalman-LDM reverse pass through the means (H = [I 0], F = A) as a reverse scan.
    func kalmanLDMMeanBackwardTimeParallel(_ tape: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor, gradientScale: Float,
                                           stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints) throws {
        let (b, t, n, m, g) = (means.batch, means.steps, means.n, means.m, tape.groups)
        let r = b / g
        // Step s of the scan reads step s + 1's M and input (h̄_{T−1} = 0): both shifted by one step, zero at the end.
        // M_t = A − K_t·(H·A), and H·A is A's first m rows; the input is −(S⁻¹e_t)·(H·A) as a row vector.
        let products = try broadcast(A, count: t * g), inputs = try makeTensor([t, b, n])
        try matmul(tape.gains, A, into: products, MatmulShape(batch: t * g, m: n, n: n, k: m, alpha: -1, beta: 1, strideA: n * m,
                                                              strideB: 0, strideC: n * n))
        try matmul(means.whitened, A, into: inputs, MatmulShape(m: t * b, n: n, k: m, alpha: -1))
        let transitions = try makeTensor([t, g, n, n]), shiftedInputs = try makeTensor([t, b, n])
        try fill(transitions, with: 0)
        try fill(shiftedInputs, with: 0)
        if t > 1 {
            try copy(products, offset: g * n * n, to: transitions, offset: 0, count: (t - 1) * g * n * n)
            try copy(inputs, offset: b * n, to: shiftedInputs, offset: 0, count: (t - 1) * b * n)
        }
        try affineScan(shiftedInputs, transitions: transitions, into: adjoints.hBar,
                       AffineScanShape(steps: t, batch: b, n: n, reverse: true, transposed: true, groups: g))
        // ē_t = h̄_t·K_t; w = ē + ½r; ∂/∂z = scale·(ē (+ r without the stop-gradient)); h̄⁻ = h̄ − [ē + r, 0].
        let eBar = try makeTensor([t, b, m]), sum = try makeTensor([t, b, m])
        try matmul(adjoints.hBar, tape.gains, into: eBar, MatmulShape(batch: t * g, m: r, n: m, k: n, strideA: r * n, strideB: n * m,
                                                                      strideC: r * m))
        try copy(eBar, to: adjoints.w)
        try axpy(0.5, means.whitened, adjoints.w)
        try copy(eBar, to: sum)
        try axpy(1, means.whitened, sum)
        let gradient = try makeTensor([t, b, m])
        try scale(stopGradient ? eBar : sum, by: gradientScale, into: gradient)
        try reorder(gradient, into: adjoints.gradZ, batch: b, steps: t, width: m, toSequences: true)
        try copy(adjoints.hBar, to: adjoints.hBarMinus)
        try scale(sum, by: -1, into: sum)
        try stridedCopy(sum, into: adjoints.hBarMinus, StridedCopyShape(blocks: 1, rows: t * b, width: m,
                                                                        source: StridedLayout(blockStride: 0, rowStride: m),
                                                                        destination: StridedLayout(blockStride: 0, rowStride: n),
                                                                        accumulate: true))
    }
}

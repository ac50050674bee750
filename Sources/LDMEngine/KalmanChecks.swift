import Foundation

/// Argument checks of the kalman kernels' checked entry points: every count is verified before anything runs.
public enum KalmanChecks {
    /// Validates the covariance recursion's inputs against the tape.
    public static func covarianceForward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape) throws {
        let op = "kalmanCovarianceForward"
        let (n, m, g, t) = (x.n, x.m, x.groups, x.steps)
        guard n >= 1, m >= 1, g >= 1, t >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "need n, m, groups and steps ≥ 1")
        }
        guard tape.n == n, tape.m == m, tape.groups == g, tape.steps == t else {
            throw LDMError.shapeMismatch(operation: op, detail: "tape is for (G \(tape.groups), T \(tape.steps), n \(tape.n), m \(tape.m)), inputs for (G \(g), T \(t), n \(n), m \(m))")
        }
        guard x.qGroups == 1 || x.qGroups == g else {
            throw LDMError.shapeMismatch(operation: op, detail: "Q must be shared or given per group (\(g)), got \(x.qGroups)")
        }
        let (rg, rt) = x.R.extent
        guard rg == 1 || rg == g, rt == 1 || rt == t else {
            throw LDMError.shapeMismatch(operation: op, detail: "R must be shared or given per group (\(g)) and per step (\(t)), got [\(rg), \(rt)]")
        }
        try KernelChecks.count(op, "F", x.F, n * n)
        try KernelChecks.count(op, "H", x.H, m * n)
        try KernelChecks.count(op, "Q", x.Q, x.qGroups * n * n)
        try KernelChecks.count(op, "R", x.R.tensor, rg * rt * (x.R.isLogDiagonal ? m : m * m))
        try KernelChecks.count(op, "P0", x.P0, n * n)
        guard x.R.extra.isFinite, x.R.extra >= 0 else {
            throw LDMError.invalidArgument("\(op): the extra diagonal must be finite and non-negative")
        }
    }

    /// Validates observations [B, T, m] and the tapes of the means pass; returns B.
    @discardableResult
    public static func meanForward(_ z: Tensor, _ x: KalmanMeanInputs, _ tape: KalmanCovarianceTape,
                                   _ means: KalmanMeanTape) throws -> Int {
        let op = "kalmanMeanForward"
        let (n, m, t) = (tape.n, tape.m, tape.steps)
        guard z.shape.rank == 3, z.shape.dims[1] == t, z.shape.dims[2] == m, z.shape.dims[0] >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "observations must be [B, \(t), \(m)], got \(z.shape)")
        }
        let b = z.shape.dims[0]
        try groups(op, batch: b, tape.groups)
        guard means.batch == b, means.steps == t, means.n == n, means.m == m else {
            throw LDMError.shapeMismatch(operation: op, detail: "mean tape is [\(means.batch), \(means.steps)] for n \(means.n), m \(means.m)")
        }
        try KernelChecks.count(op, "F", x.F, n * n)
        try KernelChecks.count(op, "offset", x.offset, n)
        try KernelChecks.count(op, "H", x.H, m * n)
        try KernelChecks.count(op, "m0", x.m0, n)
        return b
    }

    /// Validates the smoother's tapes.
    public static func smoother(_ tape: KalmanCovarianceTape, F: Tensor, _ smoother: KalmanSmootherTape) throws {
        let op = "kalmanCovarianceSmoother"
        let count = tape.steps * tape.groups * tape.n * tape.n
        try KernelChecks.count(op, "F", F, tape.n * tape.n)
        try KernelChecks.count(op, "gains", smoother.gains, count)
        try KernelChecks.count(op, "covariances", smoother.covariances, count)
    }

    /// Validates the mean smoother's operands.
    public static func meanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups g: Int,
                                    _ out: Tensor) throws {
        let op = "kalmanMeanSmoother"
        try groups(op, batch: means.batch, g)
        try KernelChecks.count(op, "gains", smoother.gains, means.steps * g * means.n * means.n)
        try KernelChecks.count(op, "smoothedMeans", out, means.batch * means.steps * means.n)
    }

    /// Validates the Kalman-LDM means reverse pass.
    public static func ldmMeanBackward(_ tape: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                                       _ adjoints: KalmanLDMMeanAdjoints) throws {
        let op = "kalmanLDMMeanBackward"
        let (b, t, n, m) = (means.batch, means.steps, means.n, means.m)
        guard tape.steps == t, tape.n == n, tape.m == m, m <= n else {
            throw LDMError.shapeMismatch(operation: op, detail: "tapes disagree or d_l = \(m) > d_s = \(n)")
        }
        try groups(op, batch: b, tape.groups)
        try KernelChecks.count(op, "A", A, n * n)
        try KernelChecks.count(op, "gradZ", adjoints.gradZ, b * t * m)
        try KernelChecks.count(op, "hBar", adjoints.hBar, b * t * n)
        try KernelChecks.count(op, "hBarMinus", adjoints.hBarMinus, b * t * n)
        try KernelChecks.count(op, "w", adjoints.w, b * t * m)
    }

    /// Validates the Kalman-LDM covariance reverse pass.
    /// The packed parameter vector θ = [A | b | a | s] of state dimension n: n ≥ 1 and n² + 2n + 1 entries.
    public static func packedParameters(_ op: String, _ theta: Tensor, n: Int) throws {
        guard n >= 1, theta.count == n * n + 2 * n + 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "θ must hold n² + 2n + 1 = \(max(n, 0) * max(n, 0) + 2 * max(n, 0) + 1) values for n = \(n), found \(theta.count)")
        }
    }

    public static func unpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws {
        let op = "kalmanLDMUnpack"
        try packedParameters(op, theta, n: n)
        try KernelChecks.count(op, "A", A, n * n)
        try KernelChecks.count(op, "Q", Q, n * n)
        try KernelChecks.count(op, "offset", offset, n)
    }

    public static func shiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, out: Tensor) throws {
        let op = "kalmanLDMShiftLogNoise"
        try packedParameters(op, theta, n: n)
        if let logNoise { try KernelChecks.count(op, "logNoise", logNoise, out.count) }
    }

    public static func packGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int, gradient: Tensor) throws {
        let op = "kalmanLDMPackGradient"
        try packedParameters(op, theta, n: n)
        guard batch >= 1, sums.groups >= 1 else {
            throw LDMError.invalidArgument("\(op): need batch ≥ 1 and at least one group, got \(batch) and \(sums.groups)")
        }
        try KernelChecks.count(op, "gradient", gradient, theta.count)
        try KernelChecks.count(op, "hBarSum", sums.hBarSum, n)
        try KernelChecks.count(op, "meanGradA", sums.meanGradA, n * n)
        try KernelChecks.count(op, "covariance ∂/∂A", sums.covariances.gradA, sums.groups * n * n)
        try KernelChecks.count(op, "covariance ∂/∂log Q", sums.covariances.gradLogQ, sums.groups * n)
        try KernelChecks.count(op, "logRSum", sums.logRSum, 1)
    }

    public static func ldmCovarianceBackward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape, seedC: Tensor,
                                             seedS: Tensor, sequencesPerGroup: Int,
                                             _ grads: KalmanLDMCovarianceGradients) throws {
        let op = "kalmanLDMCovarianceBackward"
        try covarianceForward(x, tape)
        let (g, t, n, m) = (x.groups, x.steps, x.n, x.m)
        guard x.R.isLogDiagonal, m <= n, sequencesPerGroup >= 1 else {
            throw LDMError.invalidArgument("\(op): needs log-diagonal R, d_l ≤ d_s and at least one sequence per group")
        }
        try KernelChecks.count(op, "seedC", seedC, t * g * n * m)
        try KernelChecks.count(op, "seedS", seedS, t * g * m * m)
        try KernelChecks.count(op, "gradA", grads.gradA, g * n * n)
        try KernelChecks.count(op, "gradLogQ", grads.gradLogQ, g * n)
        try KernelChecks.count(op, "gradLogR", grads.gradLogR, g * t * m)
    }

    /// The error both backends throw when an S_t cannot be factored even with jitter.
    public static func innovationFailure(group: Int, step: Int) -> LDMError {
        .notPositiveDefinite(what: "the innovation covariance S of group \(group) at step \(step)",
                             detail: "Cholesky failed even after jitter; check Q, R and P0")
    }

    /// `LDM_KALMAN_CHUNKS`: how many chunks the time-parallel covariance recursion takes instead of the backend's
    /// choice (nil when unset); anything but a whole number from 1 to 10⁹ is refused by name.
    public static func chunksFromEnvironment() throws -> Int? {
        guard let text = ProcessInfo.processInfo.environment["LDM_KALMAN_CHUNKS"] else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (1...1_000_000_000).contains(value) else {
            throw LDMError.invalidArgument("LDM_KALMAN_CHUNKS must be a whole number from 1 to 1000000000, got '\(text)'")
        }
        return value
    }

    /// The error both backends throw when the time-parallel covariance recursion cannot factor a combined covariance.
    public static func scanFailure(group: Int, step: Int) -> LDMError {
        .notPositiveDefinite(what: "a time-parallel prefix covariance of group \(group) near step \(step)",
                             detail: "Cholesky failed even after jitter; the time-parallel covariances need a positive definite Q (--time-parallel off runs the sequential recursion)")
    }

    /// The error both backends throw when the smoother cannot factor a predicted covariance.
    public static func smootherFailure(group: Int, step: Int) -> LDMError {
        .notPositiveDefinite(what: "the predicted covariance of group \(group) at step \(step)", detail: "the smoother cannot factor it")
    }

    /// G must be 1 (shared covariances) or B (one group per sequence).
    static func groups(_ op: String, batch b: Int, _ g: Int) throws {
        guard g == 1 || g == b else {
            throw LDMError.shapeMismatch(operation: op, detail: "covariance groups must be 1 or the batch (\(b)), got \(g)")
        }
    }
}

/// The tensors the kalman kernels (Kernels/kalman.cl and their CPU twins) read and write.
///
/// A linear-Gaussian filter splits in two halves. The covariances P⁻_t, S_t, K_t, P_t do not depend on the
/// observations, only on F, H, Q, R and P0, so they are computed once per *group* of sequences that share those
/// (one group when the noises are shared, one per sequence when they are not). The means depend on each
/// sequence's observations and run one sequence per work-item, reading their group's gains and factors. The
/// Kalman-LDM reverse pass splits the same way: the adjoints of the means per sequence, and the adjoint of the
/// covariance recursion once per group, seeded by sums over the group's sequences (the covariance adjoint is
/// linear in those seeds). For the shared case this turns O(B·T·n³) work into O(T·n³ + B·T·n²).
///
/// Layouts (row-major): per-group tensors are `[T, G, …]`; user-facing per-sequence tensors are `[B, T, …]`; the
/// reverse pass's per-sequence intermediates are `[T, B, …]` so that each step's rows form one matrix for the
/// batched products that sum them over a group. Sequence q belongs to group `q / (B / G)`; G is 1 or B.
public struct KalmanCovarianceInputs {
    /// [n, n] transition.
    public var F: Tensor
    /// [m, n] observation map.
    public var H: Tensor
    /// [Gq, n, n] process noise, Gq ∈ {1, G}.
    public var Q: Tensor
    public var qGroups: Int
    public var R: KalmanObservationNoise
    /// [n, n] initial covariance.
    public var P0: Tensor
    public var groups: Int
    public var steps: Int
    public var n: Int
    public var m: Int

    public init(F: Tensor, H: Tensor, Q: Tensor, qGroups: Int, R: KalmanObservationNoise, P0: Tensor, groups: Int,
                steps: Int, n: Int, m: Int) {
        self.F = F
        self.H = H
        self.Q = Q
        self.qGroups = qGroups
        self.R = R
        self.P0 = P0
        self.groups = groups
        self.steps = steps
        self.n = n
        self.m = m
    }

    /// Element strides of Q between groups (0 when shared).
    public var qGroupStride: Int { qGroups == 1 ? 0 : n * n }
}

/// The observation noise R_{g,t} of the covariance recursion.
public enum KalmanObservationNoise {
    /// Full m × m matrices, [groups, steps, m, m] with groups ∈ {1, G} and steps ∈ {1, T} (1 = shared).
    case full(Tensor, groups: Int, steps: Int)
    /// `R = diag(exp ℓ) + extra·I` from log-variances ℓ, [groups, steps, m] (the Kalman-LDM's Σ_D = e^s·I, or
    /// e^s·diag(e^ℓ_t) when the noise is predicted per step, with s already added to ℓ on the device; the kNN
    /// variant's extra = 1e-6).
    case logDiagonal(Tensor, groups: Int, steps: Int, extra: Float)

    public var tensor: Tensor {
        switch self {
        case .full(let t, _, _), .logDiagonal(let t, _, _, _): return t
        }
    }

    public var isLogDiagonal: Bool { if case .logDiagonal = self { return true } else { return false } }

    /// (groups, steps) of the stored noise.
    public var extent: (groups: Int, steps: Int) {
        switch self {
        case .full(_, let g, let s), .logDiagonal(_, let g, let s, _): return (g, s)
        }
    }

    /// Element strides between groups and between steps (0 along a shared axis) for matrices of `perStep` entries.
    public func strides(perStep: Int) -> (group: Int, step: Int) {
        let (g, s) = extent
        return (g == 1 ? 0 : s * perStep, s == 1 ? 0 : perStep)
    }

    public var extra: Float { if case .logDiagonal(_, _, _, let e) = self { return e } else { return 0 } }
}

/// What the covariance half of the filter writes, per group and step.
public struct KalmanCovarianceTape {
    public let groups: Int, steps: Int, n: Int, m: Int
    /// [T, G, n, n] P⁻_t.
    public let predicted: Tensor
    /// [T, G, n, n] P_t (Joseph form, symmetrised).
    public let filtered: Tensor
    /// [T, G, m, m] S_t = H·P⁻_t·Hᵀ + R_t (before any jitter).
    public let innovation: Tensor
    /// [T, G, m, m] lower Cholesky factor of S_t (+ jitter), strict upper triangle zero.
    public let factors: Tensor
    /// [T, G, n, m] K_t = P⁻_t·Hᵀ·S_t⁻¹.
    public let gains: Tensor
    /// [T, G] log det of the factored S_t.
    public let logDeterminants: Tensor

    public init(groups: Int, steps: Int, n: Int, m: Int, on backend: any Backend) throws {
        self.groups = groups
        self.steps = steps
        self.n = n
        self.m = m
        predicted = try backend.makeTensor([steps, groups, n, n])
        filtered = try backend.makeTensor([steps, groups, n, n])
        innovation = try backend.makeTensor([steps, groups, m, m])
        factors = try backend.makeTensor([steps, groups, m, m])
        gains = try backend.makeTensor([steps, groups, n, m])
        logDeterminants = try backend.makeTensor([steps, groups])
    }
}

/// The means half of the filter's inputs.
public struct KalmanMeanInputs {
    /// [n, n], [n] offset c (h⁻ = F·ĥ + c), [m, n], [n] initial mean.
    public var F: Tensor, offset: Tensor, H: Tensor, m0: Tensor

    public init(F: Tensor, offset: Tensor, H: Tensor, m0: Tensor) {
        self.F = F
        self.offset = offset
        self.H = H
        self.m0 = m0
    }
}

/// What the means half of the filter writes for B sequences.
public struct KalmanMeanTape {
    public let batch: Int, steps: Int, n: Int, m: Int
    /// [B, T, n] h⁻_t.
    public let predictedMeans: Tensor
    /// [B, T, n] ĥ_t.
    public let filteredMeans: Tensor
    /// [T, B, n] ĥ_{t−1} (m0 at t = 0), for the reverse pass.
    public let previousMeans: Tensor
    /// [T, B, m] S_t⁻¹·e_t, for the reverse pass.
    public let whitened: Tensor
    /// [B] log p(z_1…z_T), the −m/2·log 2π constants included.
    public let logLikelihood: Tensor

    public init(batch: Int, steps: Int, n: Int, m: Int, on backend: any Backend) throws {
        self.batch = batch
        self.steps = steps
        self.n = n
        self.m = m
        predictedMeans = try backend.makeTensor([batch, steps, n])
        filteredMeans = try backend.makeTensor([batch, steps, n])
        previousMeans = try backend.makeTensor([steps, batch, n])
        whitened = try backend.makeTensor([steps, batch, m])
        logLikelihood = try backend.makeTensor([batch])
    }
}

/// The Rauch–Tung–Striebel smoother's covariance half, per group.
public struct KalmanSmootherTape {
    /// [T, G, n, n] G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹ (the last step's is zero).
    public let gains: Tensor
    /// [T, G, n, n] smoothed covariances.
    public let covariances: Tensor

    public init(groups: Int, steps: Int, n: Int, on backend: any Backend) throws {
        gains = try backend.makeTensor([steps, groups, n, n])
        covariances = try backend.makeTensor([steps, groups, n, n])
    }
}

/// The reverse pass of the Kalman-LDM means (D = [I 0]): per sequence and step.
public struct KalmanLDMMeanAdjoints {
    /// [B, T, m] ∂loss/∂z_t.
    public let gradZ: Tensor
    /// [T, B, n] the adjoint h̄_t of ĥ_t as step t's reverse begins.
    public let hBar: Tensor
    /// [T, B, n] the adjoint of h⁻_t.
    public let hBarMinus: Tensor
    /// [T, B, m] w_t = Kᵀ·h̄_t + ½·S⁻¹e_t (the covariance seed is −Σ_q w·(S⁻¹e)ᵀ).
    public let w: Tensor

    public init(batch: Int, steps: Int, n: Int, m: Int, on backend: any Backend) throws {
        gradZ = try backend.makeTensor([batch, steps, m])
        hBar = try backend.makeTensor([steps, batch, n])
        hBarMinus = try backend.makeTensor([steps, batch, n])
        w = try backend.makeTensor([steps, batch, m])
    }
}

/// The reverse pass of the Kalman-LDM covariance recursion, per group (not yet divided by B).
public struct KalmanLDMCovarianceGradients {
    /// [G, n, n] the covariance recursion's share of ∂/∂A.
    public let gradA: Tensor
    /// [G, n] ∂/∂(log Q_ii): with Q = e^s·diag(e^a) this is ∂/∂a_i, and its sum is Q's share of ∂/∂s.
    public let gradLogQ: Tensor
    /// [G, T, m] ∂/∂(log of R_t's diagonal without the extra).
    public let gradLogR: Tensor

    public init(groups: Int, steps: Int, n: Int, m: Int, on backend: any Backend) throws {
        gradA = try backend.makeTensor([groups, n, n])
        gradLogQ = try backend.makeTensor([groups, n])
        gradLogR = try backend.makeTensor([groups, steps, m])
    }
}

/// What the Kalman-LDM reverse pass sums for the packed gradient (none divided by B yet).
public struct KalmanLDMReverseSums {
    /// [n] Σ_{t,q} h̄⁻.
    public let hBarSum: Tensor
    /// [n, n] Σ_{t,q} h̄⁻·(ĥ_{t−1} − b)ᵀ, the means' share of ∂/∂A.
    public let meanGradA: Tensor
    /// The covariance pass's ∂/∂A [G, n, n] and ∂/∂log Q_ii [G, n] per group.
    public let covariances: KalmanLDMCovarianceGradients
    public let groups: Int
    /// [1] Σ ∂/∂ℓ over every group, step and dimension (the observation noise's share of ∂/∂s).
    public let logRSum: Tensor

    public init(hBarSum: Tensor, meanGradA: Tensor, covariances: KalmanLDMCovarianceGradients, groups: Int, logRSum: Tensor) {
        (self.hBarSum, self.meanGradA, self.covariances, self.groups, self.logRSum) = (hBarSum, meanGradA, covariances, groups, logRSum)
    }
}

/// Which form the Kalman filter takes (`--time-parallel`): the sequential recursion over time (each backend's
/// per-sequence or per-step-product kernels), or the time-parallel form: the means' affine recursion as an
/// ``Backend/affineScan(_:transitions:initial:into:_:)`` split over time, its rows in the noise groups, and the
/// rest as products over all steps at once; with a noise that varies with time, `on` also splits the covariance
/// recursion and its Kalman-LDM reverse pass into chunks (``Backend/kalmanCovarianceChunks(groups:steps:n:)``).
public enum KalmanTimeParallel: String, Sendable, CaseIterable {
    /// The backend's measured choice (``Backend/kalmanTimeParallelPreferred(batch:steps:n:)``) for one noise group,
    /// and the sequential form whenever the covariances are per sequence (unmeasured there).
    case automatic = "auto"
    case on
    case off
}

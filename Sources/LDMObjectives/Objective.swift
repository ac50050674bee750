import LDMEngine

/// The scalar parts of an objective on one batch. The quantities of docs/mathematics.md are maximised (F = alignment + entropy
/// term); `loss` is what an optimiser minimises (−F for LDM objectives, the preset's usual loss for presets).
public struct ObjectiveValue: Sendable, Equatable {
    public var loss: Double
    public var alignment: Double
    public var entropy: Double
    /// Optional diagnostics by name (e.g. `"stopgrad_knn_cosine"`).
    public var diagnostics: [String: Double] = [:]

    public init(loss: Double, alignment: Double, entropy: Double) {
        self.loss = loss
        self.alignment = alignment
        self.entropy = entropy
    }
}

/// An objective's value with the gradients of its `loss` with respect to both views (tensors on the backend).
public struct ObjectiveResult {
    public var value: ObjectiveValue
    public var dz1: Tensor
    public var dz2: Tensor
    /// Gradients of the loss with respect to the objective's own parameters, by name (CPC's `"predictor"`).
    public var parameterGradients: [String: Tensor] = [:]
}

/// A training objective on two views `z1`, `z2` (both `B × d`, rows related pairwise).
///
/// ```swift
/// let objective = LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .ldm)
/// let result = try objective.evaluate(z1, z2, on: backend)
/// print(result.value.loss)            // result.dz1, result.dz2: ∂loss/∂z on the backend
/// ```
public protocol Objective: Sendable {
    /// A short name for logs (`"ldm sphere+kde"`, `"simclr"`).
    var name: String { get }
    func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult
}

/// The latent model of the alignment term (docs/mathematics.md §2).
public enum LatentModel: Sendable {
    /// von Mises–Fisher: `κ_p·mean_i ⟨ẑ1_i, ẑ2_i⟩` with ẑ = z/‖z‖ (differentiated through).
    case sphere(precision: Float)
    /// Gaussian: `−κ_p·mean_i (1/d)·‖z1_i − z2_i‖²`.
    case plane(precision: Float)
    /// Gaussian with a predictor (JEPA, BYOL-style heads): z1 = μ = predictor(context), z2 the target,
    /// `log P = −mean_i ‖z2_i − μ_i‖²/(2σ²)` up to a constant, Σ = σ²·I (isotropic so far).
    case gaussian(variance: Float = 1)

    /// Gaussian with a predictor and a given covariance Σ (d × d, on the backend; a diagonal Σ is a d × d
    /// diagonal matrix): `log P = −½·mean_i (z2_i − μ_i)ᵀ·Σ⁻¹·(z2_i − μ_i)` up to a constant, through Σ's Cholesky
    /// factor (no inverse).
    case gaussianWithCovariance(Tensor)
    /// Categorical (clustering): z are softmax outputs over K classes and
    /// `log P = (1/τ)·mean_i ⟨z1_i, z2_i⟩`, `τ = 1/log((K−1)·p/(1−p))` for match probability p.
    case categorical(matchProbability: Float)

    var precision: Float {
        switch self {
        case let .sphere(precision), let .plane(precision): return precision
        case let .gaussian(variance): return variance
        case .gaussianWithCovariance: return 1
        case let .categorical(p): return p > 0 && p < 1 ? 1 : -1
        }
    }
}

/// The entropy estimator (docs/mathematics.md §3). The KDE kernel follows the latent model: von Mises–Fisher on the sphere,
/// Gaussian on the plane.
public enum EntropyTerm: Sendable, Equatable {
    /// Kernel density ("contrastive"): `−(1/B)·Σ_i log Σ_j K(z_i, z_j)`, optionally leaving out j = i.
    case kde(precision: Float, leaveOneOut: Bool = false)
    /// Gaussian log-determinant `½·log det(Cov + εI)`. For the LDM variant, `form` says
    /// how the two views are joined: stacked along the batch (2B × d, as the reference code does) or
    /// concatenated (B × 2d).
    case logdet(epsilon: Float = 1e-8, form: JointForm = .stacked)
    /// Kozachenko–Leonenko kNN: `c·mean_i log ρ_i` with ρ_i the distance to the k-th nearest other row,
    /// clipped at the detached 0.9 quantile.
    case knn(k: Int = 3, scale: KNNScale = .one)
    /// Taylor (correlation) surrogate of log det; `form` as for `logdet`.
    case taylor(form: JointForm = .stacked)
    /// VICReg's variance and covariance penalties, negated to an entropy-like term to maximise.
    /// The LDM variant applies them to the concatenation.
    case vicreg(varianceWeight: Float = 25, covarianceWeight: Float = 1)
    /// Stop-gradient (BYOL, SimSiam, JEPA): no entropy term is computed and z2, the target branch, is detached,
    /// so `dz2 = 0`.
    case stopGradient
    /// Categorical plug-in: `−Σ P log P` of the batch joint `z1ᵀz2/B` (LDM variant, "exact") or of each view's
    /// batch marginal (MI variant). For softmax outputs.
    case plugIn
    /// No entropy term (alignment only).
    case none
}

/// The factor c of the kNN estimator.
public enum KNNScale: String, Sendable, Equatable, CaseIterable {
    /// c = 1 (the image experiments).
    case one = "1"
    /// c = D, the length of the rows the estimator sees (the proper Kozachenko–Leonenko scaling).
    case dimension = "d"
}

/// How the LDM variant joins two views for a covariance-based estimator.
public enum JointForm: String, Sendable, Equatable, CaseIterable {
    /// `[z1; z2]`, 2B × d.
    case stacked
    /// `[z1 ‖ z2]`, B × 2d.
    case concatenated
}

/// Which entropy the objective estimates (docs/mathematics.md §1).
public enum Variant: Sendable, Equatable {
    /// The joint entropy, estimated on the concatenation `[z1 ‖ z2]` (B × 2d).
    case ldm
    /// `multiplier · ½·(Ĥ[z1] + Ĥ[z2])`, what SimCLR and VICReg optimise; the multiplier is 2 by default.
    case mi(multiplier: Float = 2)
}

/// Checks shared by every objective: two finite `B × d` views of the same shape on `backend`.
func checkViews(_ z1: Tensor, _ z2: Tensor, _ name: String) throws -> (rows: Int, dimension: Int) {
    guard z1.shape.rank == 2, z1.shape == z2.shape else {
        throw LDMError.shapeMismatch(operation: name, detail: "z1 is \(z1.shape) and z2 is \(z2.shape); both must be B × d and equal")
    }
    let (rows, dimension) = (z1.shape.dims[0], z1.shape.dims[1])
    guard rows >= 2, dimension >= 1 else {
        throw LDMError.shapeMismatch(operation: name, detail: "need at least 2 rows and 1 column, got \(z1.shape)")
    }
    return (rows, dimension)
}

/// Throws unless `value` is a positive, finite parameter.
/// The smallest temperature τ (and so the largest inverse temperature or kernel precision, 1/τ) that the float32
/// pairwise kernels evaluate accurately. The logits s/τ carry float32's rounding of each similarity (about 6e-8)
/// times 1/τ: measured against a float64 evaluation of NT-Xent (B = 64, d = 16), the loss is off by 8e-6 at
/// τ = 1e-2, 1.3e-3 at 1e-4, 0.13 at 1e-6 and 474 at 1e-10. Below this limit a run is refused rather than
/// reported wrong.
public let minimumTemperature: Float = 1e-4

/// Throws unless `value` is a temperature in [``minimumTemperature``, ∞).
func checkTemperature(_ value: Float, _ what: String) throws {
    guard value.isFinite, value >= minimumTemperature else {
        throw LDMError.invalidArgument("\(what) must be at least \(minimumTemperature) (the float32 kernels lose "
            + "accuracy as 1/τ below it) and finite, got \(value)")
    }
}

/// Throws unless `value` is an inverse temperature (a kernel precision) in (0, 1/``minimumTemperature``].
func checkInverseTemperature(_ value: Float, _ what: String) throws {
    guard value.isFinite, value > 0, value <= 1 / minimumTemperature else {
        throw LDMError.invalidArgument("\(what) must be in (0, \(1 / minimumTemperature)] (the float32 kernels lose "
            + "accuracy above it), got \(value)")
    }
}

func checkPositive(_ value: Float, _ what: String) throws {
    guard value.isFinite, value > 0 else {
        throw LDMError.invalidArgument("\(what) must be positive and finite, got \(value)")
    }
}

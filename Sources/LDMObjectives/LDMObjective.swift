import Foundation
import LDMEngine
import LDMParallel

/// An LDM objective: alignment under a latent model plus an entropy estimate (docs/mathematics.md §1–§3),
/// `F = alignment + entropy term`, `loss = −F`.
///
/// The KDE kernel follows the latent model: von Mises–Fisher `exp(κ_k·⟨ẑ_i, ẑ_j⟩)` on the sphere, Gaussian
/// `exp(−κ_k·(1/D)·‖z_i − z_j‖²)` on the plane, D the length of the rows the estimator sees (d for MI, 2d for
/// the LDM variant). For the LDM variant on the sphere the joint rows are the concatenation of the normalised
/// views as it is, `[ẑ1 ‖ ẑ2]` (not renormalised, as the paper's code does), so the joint kernel is
/// `exp(κ_k·(⟨ẑ1_i, ẑ1_j⟩ + ⟨ẑ2_i, ẑ2_j⟩))`.
///
/// ```swift
/// let simclrLike = LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .mi())
/// let result = try simclrLike.evaluate(z1, z2, on: try CPUBackend())
/// ```
public struct LDMObjective: Objective {
    public var latent: LatentModel
    public var entropy: EntropyTerm
    public var variant: Variant
    /// With the stop-gradient estimator, also report `"stopgrad_knn_cosine"`: the cosine between the descent
    /// direction stop-gradient adds on the target (−∂alignment/∂z2, the gradient it removes, negated) and the
    /// kNN entropy's ascent direction ∂Ĥ_kNN[z2]/∂z2 (k = 3, c = 1), both at the representation (after the
    /// sphere's normalisation). docs/mathematics.md §3.7 says the first approximates the second; this measures it. Costs a kNN pass.
    public var diagnoseStopGradient: Bool
    /// The ranks of a data-parallel run that split the KDE entropy's pairwise sums (every rank evaluates the
    /// objective on the same gathered batch); nil: this process sums every pair.
    public var group: ProcessGroup?

    public init(latent: LatentModel, entropy: EntropyTerm, variant: Variant, diagnoseStopGradient: Bool = false) {
        self.latent = latent
        self.entropy = entropy
        self.variant = variant
        self.diagnoseStopGradient = diagnoseStopGradient
    }

    public var name: String {
        let model = switch latent {
        case .sphere: "sphere"
        case .plane: "plane"
        case .gaussian, .gaussianWithCovariance: "gaussian"
        case .categorical: "categorical"
        }
        let estimator = switch entropy {
        case .kde: "kde"
        case .logdet: "logdet"
        case .knn: "knn"
        case .taylor: "taylor"
        case .vicreg: "vicreg"
        case .stopGradient: "stopgrad"
        case .plugIn: "plugin"
        case .none: "none"
        }
        let form = if case .mi = variant { "mi" } else { "ldm" }
        return "ldm \(model)+\(estimator) \(form)"
    }

    /// `−½·mean_i rᵢᵀΣ⁻¹rᵢ` for r = z1 − z2 and ∂loss/∂z1 = r·Σ⁻¹/B = −∂loss/∂z2: whitened rows w = r·L⁻ᵀ give
    /// rᵀΣ⁻¹r = ‖w‖², and w·L⁻¹ = r·Σ⁻¹.
    private func gaussianAlignment(_ z1: Tensor, _ z2: Tensor, covariance: Tensor, on backend: any Backend) throws
        -> (Double, Tensor, Tensor) {
        let (rows, d) = (z1.shape.dims[0], z1.shape.dims[1])
        guard covariance.count == d * d else {
            throw LDMError.shapeMismatch(operation: name, detail: "the covariance must be \(d) × \(d), got \(covariance.shape)")
        }
        let factor = try backend.makeTensor([d, d])
        _ = try backend.cholesky(covariance, into: factor, CholeskyShape(n: d))
        let whitened = try backend.makeTensor(z1.shape)
        try backend.copy(z1, to: whitened)
        try backend.axpy(-1, z2, whitened)
        try backend.triangularSolve(factor, whitened, TriangularSolveShape(rows: rows, columns: d, left: false, transposed: true))
        let alignment = -0.5 * (try backend.dot(whitened, whitened)) / Double(rows)
        try backend.triangularSolve(factor, whitened, TriangularSolveShape(rows: rows, columns: d, left: false,
                                                                          transposed: false, alpha: 1 / Float(rows)))
        return (alignment, whitened, try backend.scaled(whitened, -1))
    }

    /// The covariance-based estimators and how their LDM variant joins the views.
    private var covarianceSurrogate: (kind: CovarianceSurrogateShape.Kind, form: JointForm)? {
        switch entropy {
        case let .taylor(form): return (.taylor, form)
        case let .vicreg(varianceWeight, covarianceWeight):
            return (.vicreg(varianceWeight: varianceWeight, covarianceWeight: covarianceWeight), .concatenated)
        default: return nil
        }
    }

    private var onSphere: Bool {
        if case .sphere = latent { return true }
        return false
    }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        let (rows, d) = try checkViews(z1, z2, name)
        try checkPositive(latent.precision, "the prediction precision (the variance; for categorical, 0 < p < 1)")
        let shape = RowsShape(rows: rows, columns: d)

        // Representations the terms see: unit rows on the sphere, the raw rows on the plane.
        var u1 = z1, u2 = z2
        var norms1: Tensor?, norms2: Tensor?
        if onSphere {
            u1 = try backend.makeTensor(z1.shape)
            u2 = try backend.makeTensor(z2.shape)
            norms1 = try backend.makeTensor([rows])
            norms2 = try backend.makeTensor([rows])
            try backend.normalizeRows(z1, into: u1, norms: norms1!, shape)
            try backend.normalizeRows(z2, into: u2, norms: norms2!, shape)
        }

        // Alignment and ∂loss/∂u of it.
        let precision = latent.precision
        let alignment: Double
        var du1: Tensor, du2: Tensor
        if case let .gaussianWithCovariance(covariance) = latent {
            (alignment, du1, du2) = try gaussianAlignment(z1, z2, covariance: covariance, on: backend)
        } else if case let .categorical(p) = latent {
            guard d >= 2 else { throw LDMError.invalidArgument("the categorical model needs K ≥ 2 classes") }
            let inverseTau = Float(log(Double(d - 1) * Double(p) / (1 - Double(p))))
            alignment = Double(inverseTau) * (try backend.dot(z1, z2)) / Double(rows)
            du1 = try backend.scaled(z2, -inverseTau / Float(rows))
            du2 = try backend.scaled(z1, -inverseTau / Float(rows))
        } else if onSphere {
            alignment = Double(precision) * (try backend.dot(u1, u2)) / Double(rows)
            du1 = try backend.scaled(u2, -precision / Float(rows))
            du2 = try backend.scaled(u1, -precision / Float(rows))
        } else {
            // Plane: −κ/(d·B)·Σ‖z1 − z2‖²; Gaussian: −1/(2σ²·B)·Σ‖z1 − z2‖². Both are −w·Σ‖z1 − z2‖².
            let w: Float
            if case let .gaussian(variance) = latent {
                w = 1 / (2 * variance * Float(rows))
            } else {
                w = precision / Float(d * rows)
            }
            let difference = try backend.makeTensor(z1.shape)
            try backend.copy(z1, to: difference)
            try backend.axpy(-1, z2, difference)
            alignment = -Double(w) * (try backend.dot(difference, difference))
            du1 = try backend.scaled(difference, 2 * w)
            du2 = try backend.scaled(difference, -2 * w)
        }

        // Entropy term and ∂loss/∂u of it. The set estimators share the MI/LDM wiring (`setEntropy`); each
        // closure estimates one set of rows and returns the gradient of weight·Ĥ.
        var entropyTerm = 0.0
        let wiring = EntropyWiring(variant: variant, u1: u1, u2: u2, du1: du1, du2: du2, backend: backend)
        switch entropy {
        case let .kde(kernelPrecision, leaveOneOut):
            try checkInverseTemperature(kernelPrecision, "the kernel precision")
            let kernel: PairwiseKernel = onSphere ? .dot : .squaredDistance
            entropyTerm = try wiring.setEntropy(.concatenated) { rowsOf, weight in
                // vMF on the joint rows [ẑ1‖ẑ2] as they are; the Gaussian kernel divides by the row length D.
                let scale = onSphere ? kernelPrecision : kernelPrecision / Float(rowsOf.shape.dims[1])
                return try KDEEntropy.evaluate(rowsOf, kernel: kernel, scale: scale, leaveOneOut: leaveOneOut,
                                               weight: weight, group: group, on: backend)
            }
        case let .logdet(epsilon, form):
            entropyTerm = try wiring.setEntropy(form) { rowsOf, weight in
                try LogDetEntropy.evaluate(rowsOf, epsilon: epsilon, weight: weight, on: backend)
            }
        case let .knn(k, scaleChoice):
            entropyTerm = try wiring.setEntropy(.concatenated) { rowsOf, weight in
                let c = scaleChoice == .one ? 1 : Float(rowsOf.shape.dims[1])
                return try KNNEntropy.evaluate(rowsOf, k: k, scale: c, weight: weight, on: backend)
            }
        case .taylor, .vicreg:
            let surrogate = covarianceSurrogate!
            entropyTerm = try wiring.setEntropy(surrogate.form) { rowsOf, weight in
                try CovarianceEntropy.evaluate(rowsOf, surrogate.kind, weight: weight, on: backend)
            }
        case .plugIn, .stopGradient, .none:
            break
        }

        if case .plugIn = entropy {
            let g1 = try backend.makeTensor(z1.shape), g2 = try backend.makeTensor(z2.shape)
            switch variant {
            case .ldm:
                entropyTerm = try backend.categoricalEntropy(u1, u2, gradient1: g1, gradient2: g2)
                try backend.axpy(-1, g1, du1)
                try backend.axpy(-1, g2, du2)
            case let .mi(multiplier):
                try checkPositive(multiplier, "the entropy multiplier")
                let h1 = try backend.categoricalEntropy(u1, nil, gradient1: g1, gradient2: nil)
                let h2 = try backend.categoricalEntropy(u2, nil, gradient1: g2, gradient2: nil)
                entropyTerm = Double(multiplier) / 2 * (h1 + h2)
                try backend.axpy(-multiplier / 2, g1, du1)
                try backend.axpy(-multiplier / 2, g2, du2)
            }
        }

        var diagnostics: [String: Double] = [:]
        if case .stopGradient = entropy {
            if diagnoseStopGradient {
                // du2 = ∂loss/∂u2 = −∂alignment/∂u2: the descent direction the stop-gradient adds by removing it.
                let knn = try KNNEntropy.evaluate(u2, k: 3, scale: 1, weight: 1, on: backend)
                let dot = try backend.dot(du2, knn.gradient)
                let norms = (try backend.dot(du2, du2)).squareRoot() * (try backend.dot(knn.gradient, knn.gradient)).squareRoot()
                diagnostics["stopgrad_knn_cosine"] = norms > 0 ? dot / norms : 0
            }
            try backend.fill(du2, with: 0)   // sg[z2]: the target receives no gradient
        }

        // Back through the normalisation on the sphere.
        var dz1 = du1, dz2 = du2
        if onSphere {
            dz1 = try backend.makeTensor(z1.shape)
            dz2 = try backend.makeTensor(z2.shape)
            try backend.normalizeRowsBackward(u1, norms1!, du1, into: dz1, shape)
            try backend.normalizeRowsBackward(u2, norms2!, du2, into: dz2, shape)
        }
        var value = ObjectiveValue(loss: -(alignment + entropyTerm), alignment: alignment, entropy: entropyTerm)
        value.diagnostics = diagnostics
        return ObjectiveResult(value: value, dz1: dz1, dz2: dz2)
    }
}

/// How an estimator of one set of rows becomes the entropy term of a variant, and where its gradients go.
private struct EntropyWiring {
    let variant: Variant
    let u1: Tensor, u2: Tensor
    let du1: Tensor, du2: Tensor
    let backend: any Backend

    /// MI: `m·½(Ĥ[u1] + Ĥ[u2])`; LDM: `Ĥ` of the views joined by `form`. Adds ∂(−term)/∂u to du1 and du2 and
    /// returns the term. `estimate(rows, weight)` gives Ĥ of `rows` and the gradient of weight·Ĥ.
    func setEntropy(_ form: JointForm,
                    _ estimate: (Tensor, Float) throws -> (entropy: Double, gradient: Tensor)) throws -> Double {
        switch variant {
        case let .mi(multiplier):
            try checkPositive(multiplier, "the entropy multiplier")
            let first = try estimate(u1, -multiplier / 2), second = try estimate(u2, -multiplier / 2)
            try backend.axpy(1, first.gradient, du1)
            try backend.axpy(1, second.gradient, du2)
            return Double(multiplier) / 2 * (first.entropy + second.entropy)
        case .ldm:
            let rows = u1.shape.dims[0], d = u1.shape.dims[1]
            let stacked = form == .stacked
            let joint = stacked ? try backend.stackRows(u1, u2) : try backend.concatColumns(u1, u2)
            let result = try estimate(joint, -1)
            let (g1, g2) = stacked ? try backend.splitRows(result.gradient, at: rows)
                                   : try backend.splitColumns(result.gradient, at: d)
            try backend.axpy(1, g1, du1)
            try backend.axpy(1, g2, du2)
            return result.entropy
        }
    }
}

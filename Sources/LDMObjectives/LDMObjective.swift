import Foundation
import LDMEngine

/// An LDM objective: alignment under a latent model plus an entropy estimate (SPEC §1–§3),
/// `F = alignment + entropy term`, `loss = −F`.
///
/// The KDE kernel follows the latent model: von Mises–Fisher `exp(κ_k·⟨ẑ_i, ẑ_j⟩)` on the sphere, Gaussian
/// `exp(−κ_k·(1/D)·‖z_i − z_j‖²)` on the plane, D the length of the rows the estimator sees (d for MI, 2d for
/// the LDM variant). For the LDM variant on the sphere the joint rows are the normalised concatenation of the
/// normalised views, `[ẑ1 ‖ ẑ2]/√2`.
///
/// ```swift
/// let simclrLike = LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .mi())
/// let result = try simclrLike.evaluate(z1, z2, on: try CPUBackend())
/// ```
public struct LDMObjective: Objective {
    public var latent: LatentModel
    public var entropy: EntropyTerm
    public var variant: Variant

    public init(latent: LatentModel, entropy: EntropyTerm, variant: Variant) {
        self.latent = latent
        self.entropy = entropy
        self.variant = variant
    }

    public var name: String {
        let model = switch latent {
        case .sphere: "sphere"
        case .plane: "plane"
        case .gaussian: "gaussian"
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
        if case let .categorical(p) = latent {
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

        // Entropy term and ∂loss/∂u of it.
        var entropyTerm = 0.0
        if case let .kde(kernelPrecision, leaveOneOut) = entropy {
            try checkPositive(kernelPrecision, "the kernel precision")
            let kernel: PairwiseKernel = onSphere ? .dot : .squaredDistance
            switch variant {
            case let .mi(multiplier):
                try checkPositive(multiplier, "the entropy multiplier")
                let scale = onSphere ? kernelPrecision : kernelPrecision / Float(d)
                let first = try KDEEntropy.evaluate(u1, kernel: kernel, scale: scale, leaveOneOut: leaveOneOut,
                                                    weight: -multiplier / 2, on: backend)
                let second = try KDEEntropy.evaluate(u2, kernel: kernel, scale: scale, leaveOneOut: leaveOneOut,
                                                     weight: -multiplier / 2, on: backend)
                entropyTerm = Double(multiplier) / 2 * (first.entropy + second.entropy)
                try backend.axpy(1, first.gradient, du1)
                try backend.axpy(1, second.gradient, du2)
            case .ldm:
                let joint = try backend.concatColumns(u1, u2)
                // ⟨[ẑ1‖ẑ2]/√2, ·⟩ = ½⟨[ẑ1‖ẑ2], ·⟩ on the sphere; D = 2d on the plane.
                let scale = onSphere ? kernelPrecision / 2 : kernelPrecision / Float(2 * d)
                let result = try KDEEntropy.evaluate(joint, kernel: kernel, scale: scale, leaveOneOut: leaveOneOut,
                                                     weight: -1, on: backend)
                entropyTerm = result.entropy
                let (g1, g2) = try backend.splitColumns(result.gradient, at: d)
                try backend.axpy(1, g1, du1)
                try backend.axpy(1, g2, du2)
            }
        }

        if case let .logdet(epsilon, form) = entropy {
            switch variant {
            case let .mi(multiplier):
                try checkPositive(multiplier, "the entropy multiplier")
                let first = try LogDetEntropy.evaluate(u1, epsilon: epsilon, weight: -multiplier / 2, on: backend)
                let second = try LogDetEntropy.evaluate(u2, epsilon: epsilon, weight: -multiplier / 2, on: backend)
                entropyTerm = Double(multiplier) / 2 * (first.entropy + second.entropy)
                try backend.axpy(1, first.gradient, du1)
                try backend.axpy(1, second.gradient, du2)
            case .ldm:
                let joint = form == .stacked ? try backend.stackRows(u1, u2) : try backend.concatColumns(u1, u2)
                let result = try LogDetEntropy.evaluate(joint, epsilon: epsilon, weight: -1, on: backend)
                entropyTerm = result.entropy
                let (g1, g2) = form == .stacked ? try backend.splitRows(result.gradient, at: rows)
                                                : try backend.splitColumns(result.gradient, at: d)
                try backend.axpy(1, g1, du1)
                try backend.axpy(1, g2, du2)
            }
        }

        if case let .knn(k, scaleChoice) = entropy {
            switch variant {
            case let .mi(multiplier):
                try checkPositive(multiplier, "the entropy multiplier")
                let c = scaleChoice == .one ? 1 : Float(d)
                let first = try KNNEntropy.evaluate(u1, k: k, scale: c, weight: -multiplier / 2, on: backend)
                let second = try KNNEntropy.evaluate(u2, k: k, scale: c, weight: -multiplier / 2, on: backend)
                entropyTerm = Double(multiplier) / 2 * (first.entropy + second.entropy)
                try backend.axpy(1, first.gradient, du1)
                try backend.axpy(1, second.gradient, du2)
            case .ldm:
                let joint = try backend.concatColumns(u1, u2)
                let c = scaleChoice == .one ? 1 : Float(2 * d)
                let result = try KNNEntropy.evaluate(joint, k: k, scale: c, weight: -1, on: backend)
                entropyTerm = result.entropy
                let (g1, g2) = try backend.splitColumns(result.gradient, at: d)
                try backend.axpy(1, g1, du1)
                try backend.axpy(1, g2, du2)
            }
        }

        if let surrogate = covarianceSurrogate {
            switch variant {
            case let .mi(multiplier):
                try checkPositive(multiplier, "the entropy multiplier")
                let first = try CovarianceEntropy.evaluate(u1, surrogate.kind, weight: -multiplier / 2, on: backend)
                let second = try CovarianceEntropy.evaluate(u2, surrogate.kind, weight: -multiplier / 2, on: backend)
                entropyTerm = Double(multiplier) / 2 * (first.entropy + second.entropy)
                try backend.axpy(1, first.gradient, du1)
                try backend.axpy(1, second.gradient, du2)
            case .ldm:
                let stacked = surrogate.form == .stacked
                let joint = stacked ? try backend.stackRows(u1, u2) : try backend.concatColumns(u1, u2)
                let result = try CovarianceEntropy.evaluate(joint, surrogate.kind, weight: -1, on: backend)
                entropyTerm = result.entropy
                let (g1, g2) = stacked ? try backend.splitRows(result.gradient, at: rows)
                                       : try backend.splitColumns(result.gradient, at: d)
                try backend.axpy(1, g1, du1)
                try backend.axpy(1, g2, du2)
            }
        }

        if case .plugIn = entropy {
            guard backend.supports(.categoricalEntropy) else {
                throw LDMError.unsupported(operation: "the plug-in entropy", backend: backend.info.description + "; use --backend cpu")
            }
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

        if case .stopGradient = entropy {
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
        let value = ObjectiveValue(loss: -(alignment + entropyTerm), alignment: alignment, entropy: entropyTerm)
        return ObjectiveResult(value: value, dz1: dz1, dz2: dz2)
    }
}

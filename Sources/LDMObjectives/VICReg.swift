import LDMEngine

/// VICReg, numerically lightly's `VICRegLoss(lambda_param: 25, mu_param: 25, nu_param: 1, eps: 1e-4)`:
/// `λ·MSE(z1, z2) + μ·½·(V(z1) + V(z2)) + ν·(C(z1) + C(z2))` with V the mean hinge on the standard deviations
/// and C the squared off-diagonal covariance over d (docs/mathematics.md §3.5).
///
/// In LDM terms (docs/mathematics.md §4): the plane model with κ_p = λ (`alignment = −λ·MSE`) and the negated penalties as the
/// entropy term, `loss = −(alignment + entropy)`.
public struct VICReg: Objective {
    public var invariance: Float
    public var variance: Float
    public var covariance: Float

    public init(invariance: Float = 25, variance: Float = 25, covariance: Float = 1) {
        self.invariance = invariance
        self.variance = variance
        self.covariance = covariance
    }

    public var name: String { "vicreg" }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        _ = try checkViews(z1, z2, name)
        for (value, what) in [(invariance, "λ"), (variance, "μ"), (covariance, "ν")] {
            guard value.isFinite, value >= 0 else { throw LDMError.invalidArgument("VICReg \(what) must be non-negative") }
        }
        let alignmentOnly: ObjectiveResult
        if invariance > 0 {
            alignmentOnly = try LDMObjective(latent: .plane(precision: invariance), entropy: .none, variant: .ldm)
                .evaluate(z1, z2, on: backend)
        } else {
            let dz1 = try backend.makeTensor(z1.shape), dz2 = try backend.makeTensor(z2.shape)
            try backend.fill(dz1, with: 0)
            try backend.fill(dz2, with: 0)
            alignmentOnly = ObjectiveResult(value: ObjectiveValue(loss: 0, alignment: 0, entropy: 0), dz1: dz1, dz2: dz2)
        }
        let kind = CovarianceSurrogateShape.Kind.vicreg(varianceWeight: variance / 2, covarianceWeight: covariance)
        let first = try CovarianceEntropy.evaluate(z1, kind, weight: -1, on: backend)
        let second = try CovarianceEntropy.evaluate(z2, kind, weight: -1, on: backend)
        try backend.axpy(1, first.gradient, alignmentOnly.dz1)
        try backend.axpy(1, second.gradient, alignmentOnly.dz2)
        let alignment = alignmentOnly.value.alignment, entropy = first.entropy + second.entropy
        return ObjectiveResult(value: ObjectiveValue(loss: -(alignment + entropy), alignment: alignment, entropy: entropy),
                               dz1: alignmentOnly.dz1, dz2: alignmentOnly.dz2)
    }
}

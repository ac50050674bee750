import LDMEngine

/// ICA as LDM (docs/mathematics.md §2, §4): the generalised-Gaussian latent model on the sources `s = W·x` and the exact entropy
/// `½·log det(W·Wᵀ)`, `F = ½·log det(W·Wᵀ) − α·mean_i Σ_k |s_ik|^β`, `loss = −F`.
///
/// Called with `z1 = x` (N × d data) and `z2 = W` (d × d unmixing matrix); `dz1 = ∂loss/∂x`, `dz2 = ∂loss/∂W`.
public struct ICA: Objective {
    public var alpha: Float
    public var beta: Float

    public init(alpha: Float = 1, beta: Float = 4) {
        self.alpha = alpha
        self.beta = beta
    }

    public var name: String { "ica" }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        let dx = try backend.makeTensor(z1.shape), dw = try backend.makeTensor(z2.shape)
        let terms = try backend.icaTerms(z1, z2, gradientX: dx, gradientW: dw, alpha: alpha, beta: beta)
        let alignment = -Double(alpha) * terms.prior
        return ObjectiveResult(value: ObjectiveValue(loss: -(alignment + terms.logDet), alignment: alignment,
                                                     entropy: terms.logDet),
                               dz1: dx, dz2: dw)
    }
}

import LDMEngine

/// Barlow Twins, numerically lightly's `BarlowTwinsLoss(lambda_param: 5e-3)`: the cross-correlation of the
/// column-standardised views pushed to the identity, `Σ_k (c_kk − 1)² + λ·Σ_{k≠l} c_kl²`.
///
/// `loss` is lightly's loss; the LDM decomposition reports the on-diagonal (invariance) part as −alignment and the
/// redundancy part as −entropy.
public struct BarlowTwins: Objective {
    public var lambda: Float

    public init(lambda: Float = 5e-3) {
        self.lambda = lambda
    }

    public var name: String { "barlow" }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        _ = try checkViews(z1, z2, name)
        let dz1 = try backend.makeTensor(z1.shape), dz2 = try backend.makeTensor(z2.shape)
        let loss = try backend.barlowTwins(z1, z2, gradient1: dz1, gradient2: dz2, lambda: lambda)
        // Split for reporting: the same loss with λ = 0 is the on-diagonal part.
        let scratch1 = try backend.makeTensor(z1.shape), scratch2 = try backend.makeTensor(z2.shape)
        let invariance = try backend.barlowTwins(z1, z2, gradient1: scratch1, gradient2: scratch2, lambda: 0)
        return ObjectiveResult(value: ObjectiveValue(loss: loss, alignment: -invariance, entropy: invariance - loss),
                               dz1: dz1, dz2: dz2)
    }
}

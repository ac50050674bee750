import LDMEngine

/// The KDE ("contrastive") entropy estimate of a set of rows, built on the fused pairwise log-sum-exp.
enum KDEEntropy {
    /// `Ĥ = −(1/B)·Σ_i lse_i` of the rows of `u` (`B × D`), and the gradient of `weight·Ĥ` with respect to u.
    static func evaluate(_ u: Tensor, kernel: PairwiseKernel, scale: Float, leaveOneOut: Bool, weight: Float,
                         on backend: any Backend) throws -> (entropy: Double, gradient: Tensor) {
        let rows = u.shape.dims[0], dimension = u.shape.dims[1]
        let shape = PairwiseLSEShape(rows: rows, columns: rows, dimension: dimension, kernel: kernel, scale: scale,
                                     excludeDiagonal: leaveOneOut)
        let lse = try backend.makeTensor([rows])
        try backend.pairwiseLSE(u, u, into: lse, shape)
        let entropy = -(try backend.total(lse)) / Double(rows)
        let g = try backend.makeTensor([rows])
        try backend.fill(g, with: -weight / Float(rows))
        let du = try backend.makeTensor(u.shape)
        try backend.pairwiseLSESelfBackward(u, lse, g, dz: du, shape)   // u appears on both sides
        return (entropy, du)
    }
}

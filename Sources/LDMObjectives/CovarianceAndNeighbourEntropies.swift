import LDMEngine

/// The Gaussian log-det entropy estimate of a set of rows.
enum LogDetEntropy {
    /// `Ĥ = ½·log det(Cov(u) + εI)` and the gradient of `weight·Ĥ` with respect to u.
    static func evaluate(_ u: Tensor, epsilon: Float, weight: Float, on backend: any Backend) throws
        -> (entropy: Double, gradient: Tensor) {
        let gradient = try backend.makeTensor(u.shape)
        let result = try backend.gaussianLogDet(u, gradient: gradient,
                                                LogDetShape(rows: u.shape.dims[0], dimension: u.shape.dims[1],
                                                            epsilon: epsilon))
        try backend.scale(gradient, by: weight, into: gradient)
        return (result.value, gradient)
    }
}

/// The kNN (Kozachenko–Leonenko) entropy estimate of a set of rows.
enum KNNEntropy {
    /// `Ĥ = c·mean_i log(clip(ρ_i) + 1e-8)` and the gradient of `weight·Ĥ` with respect to u.
    static func evaluate(_ u: Tensor, k: Int, scale: Float, weight: Float, on backend: any Backend) throws
        -> (entropy: Double, gradient: Tensor) {
        let gradient = try backend.makeTensor(u.shape)
        let result = try backend.knnEntropy(u, gradient: gradient,
                                            KNNShape(rows: u.shape.dims[0], dimension: u.shape.dims[1], k: k, scale: scale))
        try backend.scale(gradient, by: weight, into: gradient)
        return (result.value, gradient)
    }
}

/// The covariance surrogates as entropy terms: Taylor as it is, VICReg's penalty negated.
enum CovarianceEntropy {
    /// The entropy-like value and the gradient of `weight·value` with respect to u.
    static func evaluate(_ u: Tensor, _ kind: CovarianceSurrogateShape.Kind, weight: Float, on backend: any Backend)
        throws -> (entropy: Double, gradient: Tensor) {
        let gradient = try backend.makeTensor(u.shape)
        let shape = CovarianceSurrogateShape(rows: u.shape.dims[0], dimension: u.shape.dims[1], kind: kind)
        let raw = try backend.covarianceSurrogate(u, gradient: gradient, shape)
        let sign: Float = if case .taylor = kind { 1 } else { -1 }   // a penalty is a negative entropy
        try backend.scale(gradient, by: sign * weight, into: gradient)
        return (Double(sign) * raw, gradient)
    }
}

/// Argument checks of the Kalman kernels, shared by the backends.
public enum KalmanChecks {
    /// Validates observations [B, T, m] and outputs for `model`; returns (B, T, n, m).
    public static func filter(_ z: Tensor, _ model: LinearGaussianModel, _ out: KalmanFilterOutputs) throws
        -> (Int, Int, Int, Int) {
        let op = "kalmanFilter"
        let (n, m) = (model.stateDimension, model.observationDimension)
        guard z.shape.rank == 3, z.shape.dims[2] == m, z.shape.dims[0] >= 1, z.shape.dims[1] >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "observations must be [B, T, \(m)], got \(z.shape)")
        }
        let (b, t) = (z.shape.dims[0], z.shape.dims[1])
        try KernelChecks.count(op, "predictedMeans", out.predictedMeans, b * t * n)
        try KernelChecks.count(op, "predictedCovariances", out.predictedCovariances, b * t * n * n)
        try KernelChecks.count(op, "filteredMeans", out.filteredMeans, b * t * n)
        try KernelChecks.count(op, "filteredCovariances", out.filteredCovariances, b * t * n * n)
        try KernelChecks.count(op, "innovationCovariances", out.innovationCovariances, b * t * m * m)
        try KernelChecks.count(op, "logLikelihood", out.logLikelihood, b)
        return (b, t, n, m)
    }
}

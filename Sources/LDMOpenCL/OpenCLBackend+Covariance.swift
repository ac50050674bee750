import COpenCL
import LDMEngine

/// covariance (OpenCL launcher of Kernels/covariance.cl): the VICReg and Taylor surrogates. Centring and the
/// d × d weights run in covariance.cl; the covariance `X̃ᵀX̃/(B−1)` and the gradient `X̃·W/(B−1)` are matrix
/// products (CLBlast). One float (the value) comes back.
extension OpenCLBackend {
    static let covarianceGroup = 64

    /// `z` with each column's mean removed (column_means, center_columns).
    func centredColumns(_ z: Tensor, rows b: Int, d: Int) throws -> Tensor {
        let op = "centredColumns", group = Self.covarianceGroup, options = "-DSURROGATE=0"
        let means = try makeTensor([d]), centred = try makeTensor([b, d])
        try launch(try kernel("covariance", "column_means", options: options), "column_means",
                   [.int(Int32(b)), .int(Int32(d)), .buffer(try mem(z, op)), .buffer(try mem(means, op))],
                   global: [padded(d, to: group)], local: [group])
        try launch(try kernel("covariance", "center_columns", options: options), "center_columns",
                   [.int(Int32(b * d)), .int(Int32(d)), .buffer(try mem(z, op)), .buffer(try mem(means, op)),
                    .buffer(try mem(centred, op))], global: [padded(b * d, to: group)], local: [group])
        return centred
    }

    public func uncheckedCovarianceSurrogate(_ z: Tensor, gradient: Tensor, _ s: CovarianceSurrogateShape) throws -> Double {
        let op = "covarianceSurrogate \(s)"
        _ = try requireInt32(max(z.count, s.dimension * s.dimension), op)
        let (b, d) = (s.rows, s.dimension)
        let options: String
        switch s.kind {
        case let .vicreg(varianceWeight, covarianceWeight):
            options = "-DSURROGATE=0 -DVW=\(varianceWeight)f -DCW=\(covarianceWeight)f"
        case .taylor:
            options = "-DSURROGATE=1"
        }
        let group = Self.covarianceGroup
        let centred = try centredColumns(z, rows: b, d: d)
        let covariance = try makeTensor([d, d])
        try matmul(centred, centred, into: covariance,
                   MatmulShape(m: d, n: d, k: b, transposeA: true, alpha: 1 / Float(b - 1)))
        let weights = try makeTensor([d, d]), parts = try makeTensor([d])
        try launch(try kernel("covariance", "surrogate_rows", options: options), "surrogate_rows",
                   [.int(Int32(d)), .buffer(try mem(covariance, op)), .buffer(try mem(weights, op)),
                    .buffer(try mem(parts, op))], global: [padded(d, to: group)], local: [group])
        try matmul(centred, weights, into: gradient, MatmulShape(m: b, n: d, k: d, alpha: 1 / Float(b - 1)))
        let total = try makeTensor([1])
        try reduceRows(parts, into: total, .sum, RowsShape(rows: 1, columns: d))
        return Double(try download(total)[0])
    }
}

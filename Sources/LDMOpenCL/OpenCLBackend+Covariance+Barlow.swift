import COpenCL
import LDMEngine

/// covariance.cl family, Barlow Twins (OpenCL launcher of the Barlow Twins kernels in Kernels/covariance.cl): standardisation,
/// the d × d terms and the backward through the standardisation on the device, the products in CLBlast.
extension OpenCLBackend {
    public func uncheckedBarlowTwins(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws
        -> Double {
        let op = "barlowTwins"
        let (n, d) = (z1.shape.dims[0], z1.shape.dims[1])
        _ = try requireInt32(max(z1.count, d * d), op)
        let (a, stdA) = try standardizedColumns(z1, rows: n, d: d)
        let (b, stdB) = try standardizedColumns(z2, rows: n, d: d)
        let correlation = try makeTensor([d, d]), g = try makeTensor([d, d]), parts = try makeTensor([d * d])
        try matmul(a, b, into: correlation, MatmulShape(m: d, n: d, k: n, transposeA: true, alpha: 1 / Float(n)))
        try launch(try kernel("covariance", "barlow_terms", options: "-DSURROGATE=0"), "barlow_terms",
                   [.int(Int32(d)), .float(lambda), .buffer(try mem(correlation, op)), .buffer(try mem(g, op)),
                    .buffer(try mem(parts, op))], global: [padded(d * d, to: 64)], local: [64])
        let total = try makeTensor([1])
        try reduceRows(parts, into: total, .sum, RowsShape(rows: 1, columns: d * d))
        let ga = try makeTensor([n, d]), gb = try makeTensor([n, d])
        try matmul(b, g, into: ga, MatmulShape(m: n, n: d, k: d, transposeB: true, alpha: 1 / Float(n)))
        try matmul(a, g, into: gb, MatmulShape(m: n, n: d, k: d, alpha: 1 / Float(n)))
        for (upstream, view, std, out) in [(ga, a, stdA, gradient1), (gb, b, stdB, gradient2)] {
            try launch(try kernel("covariance", "standardization_backward", options: "-DSURROGATE=0"),
                       "standardization_backward",
                       [.int(Int32(n)), .int(Int32(d)), .buffer(try mem(upstream, op)), .buffer(try mem(view, op)),
                        .buffer(try mem(std, op)), .buffer(try mem(out, op))],
                       global: [padded(d, to: 64)], local: [64])
        }
        return Double(try download(total)[0])
    }

    /// Columns standardised with the unbiased std, and the stds (refusing a constant column, as the CPU does).
    private func standardizedColumns(_ z: Tensor, rows n: Int, d: Int) throws -> (Tensor, Tensor) {
        let op = "standardize"
        let centred = try centredColumns(z, rows: n, d: d)
        let std = try makeTensor([d]), out = try makeTensor([n, d])
        try launch(try kernel("covariance", "column_std", options: "-DSURROGATE=0"), "column_std",
                   [.int(Int32(n)), .int(Int32(d)), .buffer(try mem(centred, op)), .buffer(try mem(std, op))],
                   global: [padded(d, to: 64)], local: [64])
        if let k = try download(std).firstIndex(where: { !($0 > 0) }) {
            throw LDMError.invalidArgument("barlowTwins: column \(k) is constant, so it cannot be standardised")
        }
        try launch(try kernel("covariance", "divide_columns", options: "-DSURROGATE=0"), "divide_columns",
                   [.int(Int32(n * d)), .int(Int32(d)), .buffer(try mem(centred, op)), .buffer(try mem(std, op)),
                    .buffer(try mem(out, op))], global: [padded(n * d, to: 64)], local: [64])
        return (out, std)
    }
}

import COpenCL
import LDMEngine

/// ica (OpenCL launcher of Kernels/ica.cl): the ICA objective, `F = ½·log det(W·Wᵀ) − α·mean_i Σ_k |s_ik|^β`,
/// s = x·Wᵀ, with the gradients of −F. The prior's elementwise terms run in ica.cl, W·Wᵀ's factor in
/// cholesky.cl, the products and solves in CLBlast; two floats come back.
extension OpenCLBackend {
    public func uncheckedIcaTerms(_ x: Tensor, _ w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float)
        throws -> (logDet: Double, prior: Double) {
        let op = "icaTerms"
        let (n, d) = (x.shape.dims[0], x.shape.dims[1])
        _ = try requireInt32(x.count, op)

        let sources = try makeTensor([n, d]), slopes = try makeTensor([n, d]), parts = try makeTensor([n, d])
        try matmul(x, w, into: sources, MatmulShape(m: n, n: d, k: d, transposeB: true))
        try launch(try kernel("ica", "generalized_gaussian"), "generalized_gaussian",
                   [.int(Int32(n * d)), .float(alpha), .float(beta), .float(1 / Float(n)), .buffer(try mem(sources, op)),
                    .buffer(try mem(slopes, op)), .buffer(try mem(parts, op))],
                   global: [padded(n * d, to: 256)], local: [256])
        let total = try makeTensor([1])
        try reduceRows(parts, into: total, .sum, RowsShape(rows: 1, columns: n * d))
        let prior = Double(try download(total)[0]) / Double(n)
        try matmul(slopes, w, into: gradientX, MatmulShape(m: n, n: d, k: d))
        try matmul(slopes, x, into: gradientW, MatmulShape(m: d, n: d, k: n, transposeA: true))

        // ½·log det(W·Wᵀ) and (W·Wᵀ)⁻¹·W = L⁻ᵀ·L⁻¹·W from one factor.
        let gram = try makeTensor([d, d]), factor = try makeTensor([d, d])
        try matmul(w, w, into: gram, MatmulShape(m: d, n: d, k: d, transposeB: true))
        _ = try choleskyWithJitter(gram, into: factor, n: d, what: "W·Wᵀ", jitter: false)
        let logDet = try halfLogDeterminant(factor, n: d)
        let solved = try makeTensor([d, d])
        try copy(w, to: solved)
        try solveLeft(solved, columns: d, byLower: factor, n: d, transposed: false, alpha: 1)
        try solveLeft(solved, columns: d, byLower: factor, n: d, transposed: true, alpha: 1)
        try axpy(-1, solved, gradientW)
        return (logDet, prior)
    }
}

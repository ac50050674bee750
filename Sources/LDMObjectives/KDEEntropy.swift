import LDMEngine
import LDMParallel

/// The KDE ("contrastive") entropy estimate of a set of rows, built on the fused pairwise log-sum-exp.
enum KDEEntropy {
    /// `Ĥ = −(1/B)·Σ_i lse_i` of the rows of `u` (`B × D`), and the gradient of `weight·Ĥ` with respect to u.
    /// With a `group` of several ranks (every rank holding the same u, the gathered batch), each rank sums the
    /// pairs of its share of the rows only, against all columns, and the sums and gradients are added over the ranks:
    /// the O(B²·D) work is divided, the result is the one-process one.
    static func evaluate(_ u: Tensor, kernel: PairwiseKernel, scale: Float, leaveOneOut: Bool, weight: Float,
                         group: ProcessGroup? = nil, on backend: any Backend) throws -> (entropy: Double, gradient: Tensor) {
        if let group, group.isDistributed {
            return try split(u, kernel: kernel, scale: scale, leaveOneOut: leaveOneOut, weight: weight, group, on: backend)
        }
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

    /// This rank's rows `x` against every row as columns, ordered `[x; rows before; rows after]` so that the
    /// left-out pair of row i is column i; ∂ of the columns goes back to the rows' order and both are summed over
    /// the ranks.
    private static func split(_ u: Tensor, kernel: PairwiseKernel, scale: Float, leaveOneOut: Bool, weight: Float,
                              _ group: ProcessGroup, on backend: any Backend) throws -> (entropy: Double, gradient: Tensor) {
        let rows = u.shape.dims[0], d = u.shape.dims[1]
        let own = try group.share(of: rows, "the KDE entropy's \(rows) rows")
        let (b, before, after) = (own.count, own.lowerBound, rows - own.upperBound)
        let x = try backend.makeTensor([b, d]), columns = try backend.makeTensor([rows, d])
        try backend.copy(u, offset: before * d, to: x, offset: 0, count: b * d)
        try backend.copy(u, offset: before * d, to: columns, offset: 0, count: b * d)
        if before > 0 { try backend.copy(u, offset: 0, to: columns, offset: b * d, count: before * d) }
        if after > 0 { try backend.copy(u, offset: own.upperBound * d, to: columns, offset: rows * d - after * d, count: after * d) }
        let shape = PairwiseLSEShape(rows: b, columns: rows, dimension: d, kernel: kernel, scale: scale, excludeDiagonal: leaveOneOut)
        let lse = try backend.makeTensor([b])
        try backend.pairwiseLSE(x, columns, into: lse, shape)
        var sum = [try backend.total(lse)]
        try group.allReduceSum(&sum)
        let g = try backend.makeTensor([b])
        try backend.fill(g, with: -weight / Float(rows))
        let dx = try backend.makeTensor([b, d]), dColumns = try backend.makeTensor([rows, d])
        try backend.pairwiseLSEBackward(x, columns, lse, g, dx: dx, dy: dColumns, shape)
        // Back to the rows' order, this rank's rows getting their ∂x too.
        let du = try backend.makeTensor(u.shape)
        if before > 0 { try backend.copy(dColumns, offset: b * d, to: du, offset: 0, count: before * d) }
        if after > 0 { try backend.copy(dColumns, offset: rows * d - after * d, to: du, offset: own.upperBound * d, count: after * d) }
        let mine = try backend.makeTensor([b, d])
        try backend.copy(dColumns, offset: 0, to: mine, offset: 0, count: b * d)
        try backend.add(mine, dx, into: mine)
        try backend.copy(mine, offset: 0, to: du, offset: before * d, count: b * d)
        try group.allReduceSum([du], on: backend)
        return (-sum[0] / Double(rows), du)
    }
}

import LDMEngine

/// Small compositions of the backend's kernels that the objectives share. Each returns what it computes on the
/// backend; only scalars (one float) are read back.
extension Backend {
    /// Σ of all elements (a one-row sum reduction; one float comes back).
    func total(_ x: Tensor) throws -> Double {
        let out = try makeTensor([1])
        try reduceRows(x, into: out, .sum, RowsShape(rows: 1, columns: x.count))
        return Double(try download(out)[0])
    }

    /// ⟨a, b⟩ over all elements (a 1 × 1 product with k = count).
    func dot(_ a: Tensor, _ b: Tensor) throws -> Double {
        try KernelChecks.sameCount("dot", [("a", a), ("b", b)])
        let out = try makeTensor([1])
        try matmul(a, b, into: out, MatmulShape(m: 1, n: 1, k: a.count))
        return Double(try download(out)[0])
    }

    /// A new tensor holding `α·x`.
    func scaled(_ x: Tensor, _ alpha: Float) throws -> Tensor {
        let out = try makeTensor(x.shape)
        try scale(x, by: alpha, into: out)
        return out
    }

    /// `[a; b]`: the rows of b below the rows of a (`(Ba + Bb) × d`).
    func stackRows(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = try makeTensor([a.shape.dims[0] + b.shape.dims[0], a.shape.dims[1]])
        try copy(a, offset: 0, to: out, offset: 0, count: a.count)
        try copy(b, offset: 0, to: out, offset: a.count, count: b.count)
        return out
    }

    /// Splits the rows of `x` into the first `rows` and the rest.
    func splitRows(_ x: Tensor, at rows: Int) throws -> (Tensor, Tensor) {
        let d = x.shape.dims[1], total = x.shape.dims[0]
        let top = try makeTensor([rows, d]), bottom = try makeTensor([total - rows, d])
        try copy(x, offset: 0, to: top, offset: 0, count: top.count)
        try copy(x, offset: top.count, to: bottom, offset: 0, count: bottom.count)
        return (top, bottom)
    }

    /// `[a ‖ b]`: each row of a followed by the same row of b (`B × (da + db)`), through transposes so every
    /// copy is contiguous.
    func concatColumns(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let rows = a.shape.dims[0], da = a.shape.dims[1], db = b.shape.dims[1]
        let stacked = try stackRows(try transposed(a), try transposed(b))   // (da + db) × B
        let out = try makeTensor([rows, da + db])
        try transpose(stacked, into: out, TransposeShape(rows: da + db, columns: rows))
        return out
    }

    /// Splits the columns of `x` (`B × (da + db)`) into the first `da` and the rest.
    func splitColumns(_ x: Tensor, at da: Int) throws -> (Tensor, Tensor) {
        let (left, right) = try splitRows(try transposed(x), at: da)
        return (try transposed(left), try transposed(right))
    }

    /// A new tensor holding `xᵀ` for a matrix x.
    func transposed(_ x: Tensor) throws -> Tensor {
        let rows = x.shape.dims[0], columns = x.shape.dims[1]
        let out = try makeTensor([columns, rows])
        try transpose(x, into: out, TransposeShape(rows: rows, columns: columns))
        return out
    }

    /// `a + b` as a new tensor.
    func sum(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = try makeTensor(a.shape)
        try add(a, b, into: out)
        return out
    }
}

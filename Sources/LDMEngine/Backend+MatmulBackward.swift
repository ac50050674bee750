extension Backend {
    /// The backward of ``Backend/matmul(_:_:into:_:)``: given `gc = ∂L/∂C` for `C = α·op(A)·op(B) + β·C₀`,
    /// writes `gradA = ∂L/∂A` and `gradB = ∂L/∂B` (in A's and B's stored layouts) with two more products.
    ///
    /// `op(A)` gets `α·gc·op(B)ᵀ` and `op(B)` gets `α·op(A)ᵀ·gc`; when an operand is stored transposed, its
    /// gradient is computed transposed too, so no explicit transpose is needed. Operands shared across the
    /// batch (stride 0) would need a sum over the batch and are refused.
    ///
    /// ```swift
    /// try backend.matmul(a, b, into: c, shape)
    /// try backend.matmulBackward(gc, a, b, shape, gradA: ga, gradB: gb)
    /// ```
    public func matmulBackward(_ gc: Tensor, _ a: Tensor, _ b: Tensor, _ s: MatmulShape,
                               gradA: Tensor, gradB: Tensor) throws {
        try s.validate(a: a.count, b: b.count, c: gc.count)
        try s.validate(a: gradA.count, b: gradB.count, c: gc.count)
        guard s.batch <= 1 || (s.strideA > 0 && s.strideB > 0) else {
            throw LDMError.invalidArgument("matmulBackward \(s): operands shared across the batch (stride 0) are not supported")
        }
        let dA = s.transposeA
            ? MatmulShape(batch: s.batch, m: s.k, n: s.m, k: s.n, transposeA: s.transposeB, transposeB: true,
                          alpha: s.alpha, strideA: s.strideB, strideB: s.strideC, strideC: s.strideA)
            : MatmulShape(batch: s.batch, m: s.m, n: s.k, k: s.n, transposeA: false, transposeB: !s.transposeB,
                          alpha: s.alpha, strideA: s.strideC, strideB: s.strideB, strideC: s.strideA)
        if s.transposeA { try matmul(b, gc, into: gradA, dA) } else { try matmul(gc, b, into: gradA, dA) }
        let dB = s.transposeB
            ? MatmulShape(batch: s.batch, m: s.n, n: s.k, k: s.m, transposeA: true, transposeB: s.transposeA,
                          alpha: s.alpha, strideA: s.strideC, strideB: s.strideA, strideC: s.strideB)
            : MatmulShape(batch: s.batch, m: s.k, n: s.n, k: s.m, transposeA: !s.transposeA, transposeB: false,
                          alpha: s.alpha, strideA: s.strideA, strideB: s.strideC, strideC: s.strideB)
        if s.transposeB { try matmul(gc, a, into: gradB, dB) } else { try matmul(a, gc, into: gradB, dB) }
    }
}

import LDMEngine

/// Plain Double implementations that define what each kernel computes. Tests compare both backends' float32
/// kernels against these; benchmarks validate against them before timing. Simple loops, no cleverness.
public enum Reference {}

extension Reference {
    /// `C = α·op(A)·op(B) + β·C` in Double for every batch (see `MatmulShape`); returns all of C.
    public static func matmul<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], _ c: [T], _ s: MatmulShape) -> [Double] {
        var out = c.map { Double($0) }
        for batch in 0..<s.batch {
            for i in 0..<s.m {
                for j in 0..<s.n {
                    out[batch * s.strideC + i * s.ldc + j] = matmulEntry(a, b, c, s, batch: batch, row: i, column: j)
                }
            }
        }
        return out
    }

    /// One entry `C[batch][row, column]` of the product in Double, for spot checks of large products.
    public static func matmulEntry<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], _ c: [T], _ s: MatmulShape,
                                   batch: Int, row i: Int, column j: Int) -> Double {
        var sum = 0.0
        for p in 0..<s.k {
            let aValue = s.transposeA ? a[batch * s.strideA + p * s.lda + i] : a[batch * s.strideA + i * s.lda + p]
            let bValue = s.transposeB ? b[batch * s.strideB + j * s.ldb + p] : b[batch * s.strideB + p * s.ldb + j]
            sum += Double(aValue) * Double(bValue)
        }
        let old = Double(c[batch * s.strideC + i * s.ldc + j])
        // β = 0 ignores C entirely (BLAS semantics: NaN in an uninitialised C must not leak through).
        return Double(s.alpha) * sum + (s.beta == 0 ? 0 : Double(s.beta) * old)
    }
}

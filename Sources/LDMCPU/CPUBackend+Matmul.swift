import CBLAS
import LDMEngine

/// matmul (CPU twin of Kernels/matmul.cl): OpenBLAS SGEMM per batch.
extension CPUBackend {
    public func uncheckedMatmul(_ a: Tensor, _ b: Tensor, into c: Tensor, _ s: MatmulShape) throws {
        let pa = try floats(a, "matmul"), pb = try floats(b, "matmul"), pc = try floats(c, "matmul")
        guard s.batch > 0, s.m > 0, s.n > 0 else { return }
        if s.k == 0 {
            // An empty sum: C = β·C (β = 0 writes zeros, never reading C).
            for batch in 0..<s.batch {
                let row = pc + batch * s.strideC
                for i in 0..<(s.m * s.n) { row[i] = s.beta == 0 ? 0 : s.beta * row[i] }
            }
            return
        }
        // One product, or rows i0..<i1 of it (op(A)'s rows: A's rows, or its columns when transposed).
        let piece = { (batch: Int, rows: Range<Int>) in
            let a = pa + batch * s.strideA + rows.lowerBound * (s.transposeA ? 1 : s.lda)
            cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans,
                        s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(rows.count), Int32(s.n), Int32(s.k), s.alpha,
                        a, Int32(max(1, s.lda)),
                        pb + batch * s.strideB, Int32(max(1, s.ldb)), s.beta,
                        pc + batch * s.strideC + rows.lowerBound * s.ldc, Int32(max(1, s.ldc)))
        }
        let multiplyAdds = s.m * s.n * s.k
        if s.batch == 1 && s.m * s.n <= Self.skinnyOutput && s.k >= Self.skinnyDepth * threads {
            return skinnyMatmul(pa, pb, pc, s)
        }
        // Many small products: spread over the cores, a few pieces each. Large ones: each split over the cores.
        if s.batch > 1 && multiplyAdds < 128 * 128 * 128 {
            let split = min(s.m, max(1, (multiplyAdds + Self.blasSerialLimit - 1) / Self.blasSerialLimit))
            let tasks = s.batch * split, chunks = min(tasks, threads)
            Parallel.run(chunks) { chunk in
                for task in (tasks * chunk / chunks)..<(tasks * (chunk + 1) / chunks) {
                    let (batch, part) = task.quotientAndRemainder(dividingBy: split)
                    piece(batch, (s.m * part / split)..<(s.m * (part + 1) / split))
                }
            }
        } else {
            for batch in 0..<s.batch {
                sgemm(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k, alpha: s.alpha,
                      pa + batch * s.strideA, lda: max(1, s.lda), pb + batch * s.strideB, ldb: max(1, s.ldb), beta: s.beta,
                      pc + batch * s.strideC, ldc: max(1, s.ldc))
            }
        }
    }

    /// Products from this many multiply-adds up are worth splitting over threads (OpenBLAS 0.3.21 threads its own
    /// from 65 536 × 4).
    static let blasSerialLimit = 262_144
    /// A product is skinny when C has at most this many entries and the depth at least `skinnyDepth` per core:
    /// OpenBLAS runs those on one thread at a few GFLOP/s (the Kalman reverse sums, [4, 4] over 409 600 rows).
    static let skinnyOutput = 4_096, skinnyDepth = 8_192

    /// C = α·op(A)·op(B) + β·C for a small C and a long depth: the depth is split over the cores, each slice's
    /// product into its own [m, n] partial, and the partials summed into C.
    private func skinnyMatmul(_ pa: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>,
                              _ pc: UnsafeMutablePointer<Float>, _ s: MatmulShape) {
        let slices = threads, size = s.m * s.n
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: slices * size)
        defer { partials.deallocate() }
        Parallel.run(slices) { slice in
            let p0 = s.k * slice / slices, depth = s.k * (slice + 1) / slices - p0
            let a = pa + p0 * (s.transposeA ? s.lda : 1), b = pb + p0 * (s.transposeB ? 1 : s.ldb)
            cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(depth), s.alpha, a, Int32(max(1, s.lda)), b, Int32(max(1, s.ldb)),
                        0, partials + slice * size, Int32(s.n))
        }
        for e in 0..<size {
            var v: Float = s.beta == 0 ? 0 : s.beta * pc[e]
            for slice in 0..<slices { v += partials[slice * size + e] }
            pc[e] = v
        }
    }
}

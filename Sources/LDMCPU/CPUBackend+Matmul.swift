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
        let one = { (batch: Int) in
            cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans,
                        s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(s.k), s.alpha,
                        pa + batch * s.strideA, Int32(max(1, s.lda)),
                        pb + batch * s.strideB, Int32(max(1, s.ldb)), s.beta,
                        pc + batch * s.strideC, Int32(max(1, s.ldc)))
        }
        // Large products: OpenBLAS threads each one. Many small ones: OpenBLAS runs them on the calling
        // thread, so spread the batch across cores instead.
        let small = Double(s.m) * Double(s.n) * Double(s.k) < 128 * 128 * 128
        if s.batch > 1 && small {
            let chunks = min(s.batch, threads)
            Parallel.run(chunks) { chunk in
                for batch in (s.batch * chunk / chunks)..<(s.batch * (chunk + 1) / chunks) { one(batch) }
            }
        } else {
            for batch in 0..<s.batch { one(batch) }
        }
    }
}

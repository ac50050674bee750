import CBLAS
import LDMEngine

/// OpenBLAS as the CPU backend drives it: every call runs on the calling thread (OpenBLAS's own threading is
/// switched off once per process, in `CPUBackend.blasCore`), and the backend splits large products over its own
/// threads here.
///
/// Why: after each call it threads, OpenBLAS's workers spin (sched_yield) for about 2²⁸ cycles before sleeping. With
/// as many cores as the backend has threads, they took the cores from the backend's own parallel loops: the
/// Kalman-LDM loss at (256, 100, 64) varied between 68 and 190 ms per call with OpenBLAS threading and ran in
/// 45–49 ms without it; a 2048³ product split in two row halves runs as fast as OpenBLAS's threaded one
/// (148–153 GFLOP/s both, this 2-core machine).
extension CPUBackend {
    /// C = α·op(A)·op(B) + β·C, row-major, with cblas_sgemm's arguments: above ``CPUBackend/blasSerialLimit``
    /// multiply-adds the rows of C (its columns when it has fewer rows than threads) are split over the backend's
    /// threads, each part one single-threaded OpenBLAS call. Each entry of C is computed by one call over the whole
    /// depth, so the result does not depend on the split.
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
               _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        let call = { (rows: Range<Int>, columns: Range<Int>) in
            let pa = a + rows.lowerBound * (transposeA ? 1 : lda), pb = b + columns.lowerBound * (transposeB ? ldb : 1)
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(rows.count), Int32(columns.count), Int32(k), alpha, pa, Int32(max(1, lda)), pb,
                        Int32(max(1, ldb)), beta, c + rows.lowerBound * ldc + columns.lowerBound, Int32(max(1, ldc)))
        }
        let parts = Int(min(Double(threads), max(1, Double(m) * Double(n) * Double(k) / Double(Self.blasSerialLimit))))
        guard parts > 1, max(m, n) >= parts else { return call(0..<m, 0..<n) }
        let byRows = m >= parts
        Parallel.run(parts) { part in
            let length = byRows ? m : n, range = (length * part / parts)..<(length * (part + 1) / parts)
            if byRows { call(range, 0..<n) } else { call(0..<m, range) }
        }
    }

    /// B ← α·op(L)⁻¹·B (left) or α·B·op(L)⁻¹ (right) for a lower-triangular L, with cblas_strsm's arguments: the
    /// right-hand sides are independent (B's columns on the left, its rows on the right), so above
    /// ``CPUBackend/blasSerialLimit`` multiply-adds they are split over the backend's threads.
    func strsm(left: Bool, transposed: Bool, rows: Int, columns: Int, alpha: Float, _ l: UnsafePointer<Float>, ldl: Int,
               _ b: UnsafeMutablePointer<Float>, ldb: Int) {
        let order = left ? rows : columns, sides = left ? columns : rows
        let call = { (range: Range<Int>) in
            let start = b + (left ? range.lowerBound : range.lowerBound * ldb)
            cblas_strsm(CblasRowMajor, left ? CblasLeft : CblasRight, CblasLower, transposed ? CblasTrans : CblasNoTrans,
                        CblasNonUnit, Int32(left ? rows : range.count), Int32(left ? range.count : columns), alpha, l,
                        Int32(max(1, ldl)), start, Int32(max(1, ldb)))
        }
        let parts = Int(min(Double(threads), max(1, Double(order) * Double(order) * Double(sides) / 2 / Double(Self.blasSerialLimit))))
        guard parts > 1, sides >= parts else { return call(0..<sides) }
        Parallel.run(parts) { part in call((sides * part / parts)..<(sides * (part + 1) / parts)) }
    }

    /// The lower triangle of C = α·AᵀA (A is k × n, C n × n), like cblas_ssyrk(Lower, Trans): C's rows are split
    /// into four blocks per thread of equal triangle area, each block's rows × its leading columns one
    /// single-threaded product, taken by the threads as they come free (entries above the diagonal inside a block
    /// are written too; the upper triangle is not read).
    func syrkLowerTransposed(n: Int, k: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
                             _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        let useful = Double(n) * Double(n) * Double(k) / 2 / Double(Self.blasSerialLimit)
        guard threads > 1, useful >= 2, n >= 4 * threads else {
            return cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), 0, c, Int32(ldc))
        }
        let parts = 4 * threads
        let edges = (0...parts).map { Int((Double(n) * (Double($0) / Double(parts)).squareRoot()).rounded()) }
        Parallel.run(parts) { part in
            let (i0, i1) = (edges[part], edges[part + 1])
            guard i1 > i0 else { return }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(i1 - i0), Int32(i1), Int32(k), alpha, a + i0, Int32(lda),
                        a, Int32(lda), 0, c + i0 * ldc, Int32(ldc))
        }
    }
}

import CBLAS
import CLDMSupport
import Foundation
import LDMEngine

/// lse on one set (x = y = z, the KDE entropy and NT-Xent): the same results as the general path, using the
/// symmetry of S = Z·Zᵀ.
///
/// Square tiles I ≤ J are visited once. Forward: the block S_IJ updates the running (max, sum) of the rows of I,
/// and its transpose those of J. Backward: with W_IJ the weights of the rows of I against J and W_JI those of J
/// against I (from S_IJᵀ), the gradient of z needs only `M = W_IJ + W_JIᵀ`: `dz_I += a·M·Z_J`, `dz_J += a·Mᵀ·Z_I`,
/// and for distances `dz_m −= a·(rowsum + colsum of the full W)_m·z_m`, gathered from M's row and column sums.
/// One product per tile pair forward and three backward, against one and three per ordered tile in the general
/// path: about half the work. Tiles are visited in order, so no gradient row has two writers.
extension CPUBackend {
    static let selfTile = 1024

    /// Forward on one set; `lse` as for ``pairwiseLSE(_:_:into:_:)`` with x = y = z.
    func pairwiseLSESelf(_ z: UnsafeMutablePointer<Float>, into lse: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape)
        throws {
        let terms = LSETerms(s, z, z, threads: threads)
        let b = s.rows
        var running = [(max: Float, sum: Float)](repeating: (-.infinity, 0), count: b)
        try forEachUpperTile(z, s, terms, "pairwiseLSE") { block, flipped, i0, ti, j0, tj in
            running.withUnsafeMutableBufferPointer { state in
                fold(block, rows: ti, columns: tj, rowBase: i0, columnBase: j0, terms, s, into: state)
                if i0 != j0 { fold(flipped, rows: tj, columns: ti, rowBase: j0, columnBase: i0, terms, s, into: state) }
            }
        }
        for i in 0..<b { lse[i] = running[i].max + logf(running[i].sum) + terms.rowConstant(i) }
    }

    public func uncheckedPairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSESelfBackward \(s)"
        let pz = try floats(z, op), pl = try floats(lse, op), pg = try floats(g, op), pd = try floats(dz, op)
        let terms = LSETerms(s, pz, pz, threads: threads)
        let (b, d, t) = (s.rows, s.dimension, Self.selfTile)
        pd.update(repeating: 0, count: b * d)
        guard d > 0 else { return }
        var totalWeight = [Float](repeating: 0, count: b)   // rowsum + colsum of the full W, per row
        let ones = [Float](repeating: 1, count: min(t, b))
        try forEachUpperTile(pz, s, terms, op) { block, flipped, i0, ti, j0, tj in
            weights(block, rows: ti, columns: tj, rowBase: i0, columnBase: j0, terms, s, lse: pl, g: pg)
            if i0 != j0 {
                weights(flipped, rows: tj, columns: ti, rowBase: j0, columnBase: i0, terms, s, lse: pl, g: pg)
                // M = W_IJ + W_JIᵀ, in `block`
                Self.transposeTiles(flipped, rows: tj, columns: ti, into: block, accumulate: true, threads: threads)
            } else {
                symmetrize(block, ti)                          // M = W_II + W_IIᵀ
            }
            // dz_I += a·M·Z_J;  dz_J += a·Mᵀ·Z_I (the diagonal block's M already holds both directions).
            sgemm(transposeA: false, transposeB: false, m: ti, n: d, k: tj, alpha: terms.a,
                  block, lda: tj, pz + j0 * d, ldb: d, beta: 1, pd + i0 * d, ldc: d)
            if i0 != j0 {
                sgemm(transposeA: true, transposeB: false, m: tj, n: d, k: ti, alpha: terms.a,
                      block, lda: tj, pz + i0 * d, ldb: d, beta: 1, pd + j0 * d, ldc: d)
            }
            if s.kernel == .squaredDistance {   // row sums of M for the rows of I, column sums for those of J
                totalWeight.withUnsafeMutableBufferPointer { sums in
                    ones.withUnsafeBufferPointer { one in
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(ti), Int32(tj), 1, block, Int32(tj),
                                    one.baseAddress, 1, 1, sums.baseAddress! + i0, 1)
                        if i0 != j0 {
                            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(ti), Int32(tj), 1, block, Int32(tj),
                                        one.baseAddress, 1, 1, sums.baseAddress! + j0, 1)
                        }
                    }
                }
            }
        }
        guard s.kernel == .squaredDistance else { return }
        let a = terms.a
        Parallel.forChunks(b, threads: threads, costPerItem: d) { rows in
            for i in rows { for k in 0..<d { pd[i * d + k] -= a * totalWeight[i] * pz[i * d + k] } }
        }
    }

    /// Visits the tiles I ≤ J of S = Z·Zᵀ in order: `block` holds S_IJ (the diagonal tiles with the exact
    /// self-similarities), `flipped` S_IJᵀ when I ≠ J. Both live in one reused buffer.
    private func forEachUpperTile(_ z: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape, _ terms: LSETerms, _ op: String,
                                  _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int, Int, Int, Int) throws -> Void)
        throws {
        let (b, d, t) = (s.rows, s.dimension, Self.selfTile)
        let buffers = try makeTensor([2, min(t, b) * min(t, b)])
        let block = try floats(buffers, op), flipped = block + min(t, b) * min(t, b)
        for i0 in stride(from: 0, to: b, by: t) {
            let ti = min(t, b - i0)
            for j0 in stride(from: i0, to: b, by: t) {
                let tj = min(t, b - j0)
                sgemm(transposeA: false, transposeB: true, m: ti, n: tj, k: d, alpha: 1,
                      z + i0 * d, lda: d, z + j0 * d, ldb: d, beta: 0, block, ldc: tj)
                if i0 == j0 {
                    exactSelfSimilarity(block, ti, rowBase: i0, terms)
                } else {
                    Self.transposeTiles(block, rows: ti, columns: tj, into: flipped, accumulate: false, threads: threads)
                }
                try body(block, flipped, i0, ti, j0, tj)
            }
        }
    }

    /// Folds a block of raw products into the rows' running (max, sum), skipping the diagonal when asked.
    private func fold(_ block: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowBase: Int, columnBase: Int,
                      _ terms: LSETerms, _ s: PairwiseLSEShape,
                      into state: UnsafeMutableBufferPointer<(max: Float, sum: Float)>) {
        Parallel.forChunks(rows, threads: threads, costPerItem: columns) { range in
            for r in range {
                let skip = s.excludeDiagonal ? rowBase + r - columnBase : -1
                ldm_lse_block(block + r * columns, Int32(columns), terms.a, terms.bias.map { $0 + columnBase },
                              Int32(skip >= 0 && skip < columns ? skip : -1),
                              &state[rowBase + r].max, &state[rowBase + r].sum)
            }
        }
    }

    /// Turns a block of raw products into weights g_i·exp(s_ij − lse_i) in place.
    private func weights(_ block: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowBase: Int, columnBase: Int,
                         _ terms: LSETerms, _ s: PairwiseLSEShape, lse: UnsafeMutablePointer<Float>,
                         g: UnsafeMutablePointer<Float>) {
        Parallel.forChunks(rows, threads: threads, costPerItem: columns) { range in
            for r in range {
                let i = rowBase + r, skip = s.excludeDiagonal ? i - columnBase : -1
                _ = ldm_lse_weights(block + r * columns, Int32(columns), terms.a, terms.bias.map { $0 + columnBase },
                                    Int32(skip >= 0 && skip < columns ? skip : -1), terms.rowConstant(i) - lse[i], g[i])
            }
        }
    }

    /// For distances, sets the diagonal of a diagonal block to the rows' own squared norms, so each row's
    /// similarity to itself is exactly 0 instead of the rounding left by ‖x‖² + ‖x‖² − 2⟨x, x⟩ (large for rows of
    /// large norm, where it would dominate the log-sum-exp).
    private func exactSelfSimilarity(_ block: UnsafeMutablePointer<Float>, _ n: Int, rowBase: Int, _ terms: LSETerms) {
        guard !terms.squaredNorms.isEmpty else { return }
        for r in 0..<n { block[r * n + r] = terms.squaredNorms[rowBase + r] }
    }

    /// block ← block + blockᵀ for a square block.
    private func symmetrize(_ block: UnsafeMutablePointer<Float>, _ n: Int) {
        for r in 0..<n {
            for c in r..<n {
                let sum = block[r * n + c] + block[c * n + r]
                block[r * n + c] = sum
                block[c * n + r] = sum
            }
        }
    }
}

import CBLAS
import CLDMSupport
import Foundation
import LDMEngine

/// lse on one set (x = y = z, the KDE entropy and NT-Xent): the same results as the general path, using the
/// symmetry of S = Z·Zᵀ.
///
/// Square tiles I ≤ J are visited once. Forward: the block S_IJ updates the running (max, sum) of the rows of I
/// by rows (`ldm_lse_block`) and those of J by columns (`ldm_lse_columns`), so S_IJᵀ is never formed. Backward:
/// with W_IJ the weights of the rows of I against J and W_JI those of J against I, the gradient of z needs only
/// `M = W_IJ + W_JIᵀ`, which `ldm_lse_pair_weights` writes over the block in one pass (both exponentials of an
/// entry at once): `dz_I += a·M·Z_J`, `dz_J += a·Mᵀ·Z_I`, and for distances `dz_m −= a·(rowsum + colsum of the full
/// W)_m·z_m`, gathered from M's row and column sums. One product per tile pair forward and three backward, against
/// one and three per ordered tile in the general path: about half the work. Tiles are visited in order, so no
/// gradient row has two writers.
extension CPUBackend {
    static let selfTile = 1024

    /// Forward on one set; `lse` as for ``pairwiseLSE(_:_:into:_:)`` with x = y = z.
    func pairwiseLSESelf(_ z: UnsafeMutablePointer<Float>, into lse: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape)
        throws {
        let terms = LSETerms(s, z, z, threads: threads)
        let b = s.rows
        var running = [(max: Float, sum: Float)](repeating: (-.infinity, 0), count: b)
        var maxima = [Float](repeating: -.infinity, count: b), sums = [Float](repeating: 0, count: b)
        try forEachUpperTile(z, s, terms, "pairwiseLSE") { block, i0, ti, j0, tj in
            running.withUnsafeMutableBufferPointer { state in
                fold(block, rows: ti, columns: tj, rowBase: i0, columnBase: j0, terms, s, into: state)
            }
            if i0 != j0 { foldColumns(block, rows: ti, columns: tj, rowBase: i0, columnBase: j0, terms, max: &maxima, sum: &sums) }
        }
        // Merge the two running states of each row (its folds as a row of I and as a column of J).
        for i in 0..<b where maxima[i] != -.infinity {
            let (m, total) = running[i]
            let top = max(m, maxima[i])
            running[i] = (top, (m == -.infinity ? 0 : total * expf(m - top)) + sums[i] * expf(maxima[i] - top))
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
        // shift_m = row constant − lse_m, per row, for the weights of both directions.
        let shifts = (0..<b).map { terms.rowConstant($0) - pl[$0] }
        try forEachUpperTile(pz, s, terms, op) { block, i0, ti, j0, tj in
            pairWeights(block, rows: ti, columns: tj, rowBase: i0, columnBase: j0, terms, s, shifts: shifts, lse: pl, g: pg)
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
    /// self-similarities), in one reused buffer. A diagonal tile is visited as its upper three quarters (two
    /// diagonal halves and the block between them), recursively down to `selfTile / 4` rows: a diagonal tile
    /// computed whole does its lower triangle twice over, 6 % of all products at 16 tiles a side.
    private func forEachUpperTile(_ z: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape, _ terms: LSETerms, _ op: String,
                                  _ body: (UnsafeMutablePointer<Float>, Int, Int, Int, Int) throws -> Void) throws {
        let (b, d, t) = (s.rows, s.dimension, Self.selfTile)
        let buffer = try makeTensor([min(t, b) * min(t, b)])
        let block = try floats(buffer, op)
        func visit(_ i0: Int, _ ti: Int, _ j0: Int, _ tj: Int) throws {
            if i0 == j0 && ti > t / 4 {
                let half = (ti + 1) / 2
                try visit(i0, half, i0, half)
                try visit(i0, half, i0 + half, ti - half)
                try visit(i0 + half, ti - half, i0 + half, ti - half)
                return
            }
            sgemm(transposeA: false, transposeB: true, m: ti, n: tj, k: d, alpha: 1,
                  z + i0 * d, lda: d, z + j0 * d, ldb: d, beta: 0, block, ldc: tj)
            if i0 == j0 { exactSelfSimilarity(block, ti, rowBase: i0, terms) }
            try body(block, i0, ti, j0, tj)
        }
        for i0 in stride(from: 0, to: b, by: t) {
            let ti = min(t, b - i0)
            for j0 in stride(from: i0, to: b, by: t) { try visit(i0, ti, j0, min(t, b - j0)) }
        }
    }

    /// Folds the columns of an off-diagonal block into the running (max, sum) of the rows of J (S_IJᵀ's rows), the
    /// columns split over the threads.
    private func foldColumns(_ block: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowBase: Int, columnBase: Int,
                             _ terms: LSETerms, max maxima: inout [Float], sum sums: inout [Float]) {
        maxima.withUnsafeMutableBufferPointer { maxima in
            sums.withUnsafeMutableBufferPointer { sums in
                let (m, total) = (maxima.baseAddress! + columnBase, sums.baseAddress! + columnBase)
                Parallel.forChunks(columns, threads: threads, costPerItem: rows) { range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * range.count) { scratch in
                        ldm_lse_columns(block + range.lowerBound, Int32(rows), Int32(range.count), Int32(columns), terms.a,
                                        terms.bias.map { $0 + rowBase }, m + range.lowerBound, total + range.lowerBound,
                                        scratch.baseAddress!)
                    }
                }
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

    /// The widest spread of the log-sum-exps of a block's rows and columns for which ``pairWeights`` takes one
    /// exponential per entry: with shift C the largest of them, every weight is exp(v − C)·g·e^{C − lse}, and a
    /// weight that exp(v − C) rounds to its floor (e^{−87}) is below e^{−87 + spread} of its row's total.
    static let sharedWeightSpread: Float = 20

    /// Turns a block of raw products into M = W_IJ + W_JIᵀ in place, w_ij = g_i·exp(s_ij + shift_i) (shift = row
    /// constant − lse), the self-pairs of a diagonal block left out when asked; rows split over the threads. When
    /// the block's log-sum-exps lie within ``sharedWeightSpread``, both directions share one exponential per entry:
    /// M_ij = exp(v_ij − C)·(f_i + f_j), f_m = g_m·exp(C − lse_m) (the exponentials are what bound this pass).
    private func pairWeights(_ block: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowBase: Int, columnBase: Int,
                             _ terms: LSETerms, _ s: PairwiseLSEShape, shifts: [Float], lse: UnsafeMutablePointer<Float>,
                             g: UnsafeMutablePointer<Float>) {
        let skip = s.excludeDiagonal && rowBase == columnBase
        let members = Array(rowBase..<(rowBase + rows)) + Array(columnBase..<(columnBase + columns))
        let (low, high) = members.reduce((Float.infinity, -Float.infinity)) { (min($0.0, lse[$1]), max($0.1, lse[$1])) }
        if high - low <= Self.sharedWeightSpread {
            let factors = members.map { g[$0] * expf(high - lse[$0]) }
            factors.withUnsafeBufferPointer { factor in
                let factor = UnsafeMutablePointer(mutating: factor.baseAddress!)
                Parallel.forChunks(rows, threads: threads, costPerItem: columns) { range in
                    let r0 = range.lowerBound
                    ldm_lse_pair_weights_shared(block + r0 * columns, Int32(range.count), Int32(columns), Int32(columns),
                                                terms.a, terms.bias.map { $0 + rowBase + r0 }, terms.bias.map { $0 + columnBase },
                                                high, factor + r0, factor + rows, Int32(skip ? r0 : -1))
                }
            }
            return
        }
        shifts.withUnsafeBufferPointer { shift in
            let shift = UnsafeMutablePointer(mutating: shift.baseAddress!)
            Parallel.forChunks(rows, threads: threads, costPerItem: columns) { range in
                let r0 = range.lowerBound
                ldm_lse_pair_weights(block + r0 * columns, Int32(range.count), Int32(columns), Int32(columns), terms.a,
                                     terms.bias.map { $0 + rowBase + r0 }, terms.bias.map { $0 + columnBase },
                                     shift + rowBase + r0, shift + columnBase, g + rowBase + r0, g + columnBase,
                                     Int32(skip ? r0 : -1))
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
}

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
/// one and three per ordered tile in the general path: about half the work.
///
/// The tiles are dealt to the threads, each of which multiplies, folds and weighs its own tiles alone, in a
/// buffer of its own that stays in its core's cache (512 × 512 floats: 1 MiB, one core's L2 here): no hand-off
/// between the product and the passes over it. Each thread keeps its own running states and gradient rows, which
/// are merged in thread order at the end, so the results do not depend on scheduling.
extension CPUBackend {
    static let selfTile = 512

    /// One block of the upper triangle of S: rows i0..<i0+ti against columns j0..<j0+tj.
    struct SelfTile {
        let i0: Int, ti: Int, j0: Int, tj: Int
        var diagonal: Bool { i0 == j0 }
    }

    /// The tiles I ≤ J of S = Z·Zᵀ for `rows` rows, in order. A diagonal tile is taken as its upper three quarters
    /// (two diagonal halves and the block between them), recursively down to `selfTile / 4` rows: a diagonal tile
    /// computed whole would do its lower triangle twice over.
    static func upperTiles(rows b: Int) -> [SelfTile] {
        let t = selfTile
        var tiles: [SelfTile] = []
        func visit(_ i0: Int, _ ti: Int, _ j0: Int, _ tj: Int) {
            if i0 == j0 && ti > t / 4 {
                let half = (ti + 1) / 2
                visit(i0, half, i0, half)
                visit(i0, half, i0 + half, ti - half)
                visit(i0 + half, ti - half, i0 + half, ti - half)
                return
            }
            tiles.append(SelfTile(i0: i0, ti: ti, j0: j0, tj: tj))
        }
        for i0 in stride(from: 0, to: b, by: t) {
            for j0 in stride(from: i0, to: b, by: t) { visit(i0, min(t, b - i0), j0, min(t, b - j0)) }
        }
        return tiles
    }

    /// The tiles dealt to `workers` threads: each in order to the one with the least work so far (the lowest index
    /// on ties), so the deal depends on the shape and the thread count only.
    static func deal(_ tiles: [SelfTile], workers: Int) -> [[SelfTile]] {
        var hands = [[SelfTile]](repeating: [], count: workers), load = [Int](repeating: 0, count: workers)
        for tile in tiles {
            let worker = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            hands[worker].append(tile)
            load[worker] += tile.ti * tile.tj
        }
        return hands
    }

    /// The upper tiles of `b` rows dealt to one worker thread per core (fewer when there are fewer tiles).
    private func selfHands(rows b: Int) -> [[SelfTile]] {
        let tiles = Self.upperTiles(rows: b)
        return Self.deal(tiles, workers: max(1, min(threads, tiles.count)))
    }

    /// Runs `body(worker, tile, block)` for every tile, each worker on its own thread over its hand in order,
    /// `block` holding S_IJ (the diagonal tiles with the exact self-similarities) in the worker's buffer.
    private func forEachUpperTile(_ z: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape, _ terms: LSETerms, _ op: String,
                                  hands: [[SelfTile]], _ body: (Int, SelfTile, UnsafeMutablePointer<Float>) -> Void) throws {
        let (b, d, t, workers) = (s.rows, s.dimension, Self.selfTile, hands.count)
        // The tensors stay referenced until every worker is done (a released one goes back to the pool).
        let tensors = try (0..<workers).map { _ in try makeTensor([min(t, b) * min(t, b)]) }
        let buffers = try tensors.map { try floats($0, op) }
        withExtendedLifetime(tensors) {
            Parallel.run(workers) { worker in
                let block = buffers[worker]
                for tile in hands[worker] {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tile.ti), Int32(tile.tj), Int32(d), 1,
                                z + tile.i0 * d, Int32(max(1, d)), z + tile.j0 * d, Int32(max(1, d)), 0, block, Int32(tile.tj))
                    if tile.diagonal { exactSelfSimilarity(block, tile.ti, rowBase: tile.i0, terms) }
                    body(worker, tile, block)
                }
            }
        }
    }

    /// Forward on one set; `lse` as for ``pairwiseLSE(_:_:into:_:)`` with x = y = z.
    func pairwiseLSESelf(_ z: UnsafeMutablePointer<Float>, into lse: UnsafeMutablePointer<Float>, _ s: PairwiseLSEShape)
        throws {
        let terms = LSETerms(s, z, z, threads: threads)
        let b = s.rows, hands = selfHands(rows: b), workers = hands.count
        // Per worker: the running (max, sum) of each row folded as a row of I, and as a column of J.
        let rowMax = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: b) }
        let rowSum = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: b) }
        let columnMax = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: b) }
        let columnSum = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: b) }
        let scratch = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * Self.selfTile) }
        defer { for buffers in [rowMax, rowSum, columnMax, columnSum, scratch] { for buffer in buffers { buffer.deallocate() } } }
        for w in 0..<workers {
            rowMax[w].initialize(repeating: -.infinity)
            columnMax[w].initialize(repeating: -.infinity)
            rowSum[w].initialize(repeating: 0)
            columnSum[w].initialize(repeating: 0)
        }
        try forEachUpperTile(z, s, terms, "pairwiseLSE", hands: hands) { w, tile, block in
            for r in 0..<tile.ti {
                let skip = s.excludeDiagonal && tile.diagonal ? r : -1
                ldm_lse_block(block + r * tile.tj, Int32(tile.tj), terms.a, terms.bias.map { $0 + tile.j0 }, Int32(skip),
                              rowMax[w].baseAddress! + tile.i0 + r, rowSum[w].baseAddress! + tile.i0 + r)
            }
            if !tile.diagonal {
                ldm_lse_columns(block, Int32(tile.ti), Int32(tile.tj), Int32(tile.tj), terms.a, terms.bias.map { $0 + tile.i0 },
                                columnMax[w].baseAddress! + tile.j0, columnSum[w].baseAddress! + tile.j0, scratch[w].baseAddress!)
            }
        }
        // Merge each row's 2·workers running states, in a fixed order.
        let maxima = rowMax + columnMax, sums = rowSum + columnSum
        for i in 0..<b {
            let top = maxima.reduce(-Float.infinity) { max($0, $1[i]) }
            var total: Float = 0
            for (m, sum) in zip(maxima, sums) where m[i] != -.infinity { total += sum[i] * expf(m[i] - top) }
            lse[i] = top + logf(total) + terms.rowConstant(i)
        }
    }

    public func uncheckedPairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSESelfBackward \(s)"
        let pz = try floats(z, op), pl = try floats(lse, op), pg = try floats(g, op), pd = try floats(dz, op)
        let terms = LSETerms(s, pz, pz, threads: threads)
        let (b, d) = (s.rows, s.dimension)
        pd.update(repeating: 0, count: b * d)
        guard d > 0 else { return }
        let hands = selfHands(rows: b), workers = hands.count
        // Worker 0 accumulates into dz itself, the others into gradients of their own, added in order at the end
        // (their tensors referenced until then).
        let extraGradients = try (1..<max(1, workers)).map { _ in try makeTensor([b, d]) }
        let gradients = try [pd] + extraGradients.map { tensor in
            let buffer = try floats(tensor, op)
            buffer.update(repeating: 0, count: b * d)
            return buffer
        }
        defer { withExtendedLifetime(extraGradients) {} }
        // rowsum + colsum of the full W per row and worker (the distance kernel's −a·Σw·z_m term).
        let totalWeight = (0..<workers).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: b) }
        let ones = [Float](repeating: 1, count: min(Self.selfTile, b))
        defer { for buffer in totalWeight { buffer.deallocate() } }
        for buffer in totalWeight { buffer.initialize(repeating: 0) }
        try ones.withUnsafeBufferPointer { one in
            try forEachUpperTile(pz, s, terms, op, hands: hands) { w, tile, block in
                let (i0, ti, j0, tj) = (tile.i0, tile.ti, tile.j0, tile.tj)
                pairWeights(block, tile, terms, s, lse: pl, g: pg)
                // dz_I += a·M·Z_J;  dz_J += a·Mᵀ·Z_I (the diagonal block's M already holds both directions).
                let pdw = gradients[w]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(ti), Int32(d), Int32(tj), terms.a, block, Int32(tj),
                            pz + j0 * d, Int32(d), 1, pdw + i0 * d, Int32(d))
                if !tile.diagonal {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(tj), Int32(d), Int32(ti), terms.a, block, Int32(tj),
                                pz + i0 * d, Int32(d), 1, pdw + j0 * d, Int32(d))
                }
                if s.kernel == .squaredDistance {   // row sums of M for the rows of I, column sums for those of J
                    let sums = totalWeight[w].baseAddress!
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(ti), Int32(tj), 1, block, Int32(tj), one.baseAddress, 1, 1,
                                sums + i0, 1)
                    if !tile.diagonal {
                        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(ti), Int32(tj), 1, block, Int32(tj), one.baseAddress, 1, 1,
                                    sums + j0, 1)
                    }
                }
            }
        }
        let a = terms.a, distance = s.kernel == .squaredDistance
        Parallel.forChunks(b, threads: threads, costPerItem: d * workers) { rows in
            for i in rows {
                let weight = (0..<workers).reduce(Float(0)) { $0 + totalWeight[$1][i] }
                for k in 0..<d {
                    var v = pd[i * d + k]
                    for w in 1..<max(1, workers) { v += gradients[w][i * d + k] }
                    pd[i * d + k] = distance ? v - a * weight * pz[i * d + k] : v
                }
            }
        }
    }

    /// The widest spread of the log-sum-exps of a block's rows and columns for which ``pairWeights`` takes one
    /// exponential per entry: with shift C the largest of them, every weight is exp(v − C)·g·e^{C − lse}, and a
    /// weight that exp(v − C) rounds to its floor (e^{−87}) is below e^{−87 + spread} of its row's total.
    static let sharedWeightSpread: Float = 20

    /// Turns a block of raw products into M = W_IJ + W_JIᵀ in place, w_ij = g_i·exp(v_ij − lse_i), the self-pairs
    /// of a diagonal block left out when asked. When the block's log-sum-exps lie within ``sharedWeightSpread``,
    /// both directions share one exponential per entry: M_ij = exp(v_ij − C)·(f_i + f_j), f_m = g_m·exp(C − lse_m)
    /// (the exponentials are what bound this pass).
    private func pairWeights(_ block: UnsafeMutablePointer<Float>, _ tile: SelfTile, _ terms: LSETerms, _ s: PairwiseLSEShape,
                             lse: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>) {
        let (i0, ti, j0, tj) = (tile.i0, tile.ti, tile.j0, tile.tj)
        let skip: Int32 = s.excludeDiagonal && tile.diagonal ? 0 : -1
        let members = Array(i0..<(i0 + ti)) + Array(j0..<(j0 + tj))
        let (low, high) = members.reduce((Float.infinity, -Float.infinity)) { (min($0.0, lse[$1]), max($0.1, lse[$1])) }
        if high - low <= Self.sharedWeightSpread {
            let factors = members.map { g[$0] * expf(high - lse[$0]) }
            factors.withUnsafeBufferPointer { factor in
                ldm_lse_pair_weights_shared(block, Int32(ti), Int32(tj), Int32(tj), terms.a, terms.bias.map { $0 + i0 },
                                            terms.bias.map { $0 + j0 }, high, factor.baseAddress!, factor.baseAddress! + ti, skip)
            }
            return
        }
        // shift_m = row constant − lse_m, per row, for the weights of both directions.
        let shifts = members.map { terms.rowConstant($0) - lse[$0] }
        shifts.withUnsafeBufferPointer { shift in
            let shift = UnsafeMutablePointer(mutating: shift.baseAddress!)
            ldm_lse_pair_weights(block, Int32(ti), Int32(tj), Int32(tj), terms.a, terms.bias.map { $0 + i0 }, terms.bias.map { $0 + j0 },
                                 shift, shift + ti, g + i0, g + j0, skip)
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

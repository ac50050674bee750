import CBLAS
import Foundation
import CLDMSupport
import LDMEngine

/// lse (CPU twin of Kernels/lse.cl): the fused pairwise log-sum-exp, forward and backward.
///
/// Rows of x are taken in tiles of `rowTile`; for each tile, blocks of `columnTile` rows of y are multiplied in
/// by OpenBLAS (`X_tile·Y_blockᵀ`, multi-threaded) into one reusable buffer, and the vectorised row pass
/// (`ldm_lse_block`) folds each block into a running max and sum. For the squared distance,
/// `−c‖x−y‖² = 2c⟨x,y⟩ − c‖y‖² − c‖x‖²`: the −c‖y_j‖² term is a per-column bias and −c‖x_i‖² a per-row constant
/// that leaves the log-sum-exp unchanged. Extra memory: one `rowTile × columnTile` buffer plus O(rows + columns),
/// never `rows × columns`.
///
/// The backward recomputes each block, turns it into weights `w_ij = g_i·exp(s_ij − lse_i)` in place, and
/// accumulates `∂/∂x = a·W·Y` and `∂/∂y = a·Wᵀ·X` with two more products (a = c for dot, 2c for distances, whose
/// gradients also get `−a·(Σ_j w_ij)·x_i` and `−a·(Σ_i w_ij)·y_j`). Tiles are visited in order, so no two
/// threads ever add into the same gradient row: no atomics.
extension CPUBackend {
    /// 1024 rows: each thread's half of a tile product packs the column block once for 512 rows (with 256-row
    /// tiles it packed it for 128, and the two-view InfoNCE at B = 8192 ran 8 % slower); the buffer is 8 MiB.
    static let rowTile = 1024
    static let columnTile = 2048

    public func uncheckedPairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ s: PairwiseLSEShape) throws {
        let px = try floats(x, "pairwiseLSE"), py = try floats(y, "pairwiseLSE"), pl = try floats(lse, "pairwiseLSE")
        if x.storage === y.storage && s.rows == s.columns && s.rows > 0 {   // one set: use the symmetry of Z·Zᵀ
            try pairwiseLSESelf(px, into: pl, s)
            return
        }
        let terms = LSETerms(s, px, py, threads: threads)
        var running = [(max: Float, sum: Float)](repeating: (-.infinity, 0), count: Self.rowTile)
        try withLSEBuffer(s) { buffer in
            for r0 in stride(from: 0, to: s.rows, by: Self.rowTile) {
                let rb = min(Self.rowTile, s.rows - r0)
                for r in 0..<rb { running[r] = (-.infinity, 0) }
                for c0 in stride(from: 0, to: s.columns, by: Self.columnTile) {
                    let cb = min(Self.columnTile, s.columns - c0)
                    products(px + r0 * s.dimension, rb, py + c0 * s.dimension, cb, s.dimension, into: buffer)
                    running.withUnsafeMutableBufferPointer { state in
                        Parallel.forChunks(rb, threads: threads, costPerItem: cb) { rows in
                            for r in rows {
                                let skip = s.excludeDiagonal ? r0 + r - c0 : -1
                                ldm_lse_block(buffer + r * cb, Int32(cb), terms.a, terms.bias.map { $0 + c0 },
                                              Int32(skip >= 0 && skip < cb ? skip : -1),
                                              &state[r].max, &state[r].sum)
                            }
                        }
                    }
                }
                for r in 0..<rb {
                    pl[r0 + r] = running[r].max + logf(running[r].sum) + terms.rowConstant(r0 + r)
                }
            }
        }
    }

    public func uncheckedPairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor,
                                    dx: Tensor, dy: Tensor, _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSEBackward \(s)"
        let px = try floats(x, op), py = try floats(y, op), pl = try floats(lse, op), pg = try floats(g, op)
        let pdx = try floats(dx, op), pdy = try floats(dy, op)
        let d = s.dimension
        let terms = LSETerms(s, px, py, threads: threads)
        pdy.update(repeating: 0, count: s.columns * d)
        pdx.update(repeating: 0, count: s.rows * d)
        guard d > 0 else { return }
        var rowWeight = [Float](repeating: 0, count: s.rows)
        var columnWeight = [Float](repeating: 0, count: s.columns)
        try withLSEBuffer(s) { buffer in
            for r0 in stride(from: 0, to: s.rows, by: Self.rowTile) {
                let rb = min(Self.rowTile, s.rows - r0)
                for c0 in stride(from: 0, to: s.columns, by: Self.columnTile) {
                    let cb = min(Self.columnTile, s.columns - c0)
                    products(px + r0 * d, rb, py + c0 * d, cb, d, into: buffer)
                    rowWeight.withUnsafeMutableBufferPointer { rowSums in
                        Parallel.forChunks(rb, threads: threads, costPerItem: cb) { rows in
                            for r in rows {
                                let i = r0 + r, skip = s.excludeDiagonal ? i - c0 : -1
                                rowSums[i] += ldm_lse_weights(buffer + r * cb, Int32(cb), terms.a,
                                                              terms.bias.map { $0 + c0 },
                                                              Int32(skip >= 0 && skip < cb ? skip : -1),
                                                              terms.rowConstant(i) - pl[i], pg[i])
                            }
                        }
                    }
                    // dx_tile += a·W·Y_block;  dy_block += a·Wᵀ·X_tile
                    sgemm(transposeA: false, transposeB: false, m: rb, n: d, k: cb, alpha: terms.a,
                          buffer, lda: cb, py + c0 * d, ldb: d, beta: 1, pdx + r0 * d, ldc: d)
                    sgemm(transposeA: true, transposeB: false, m: cb, n: d, k: rb, alpha: terms.a,
                          buffer, lda: cb, px + r0 * d, ldb: d, beta: 1, pdy + c0 * d, ldc: d)
                    if s.kernel == .squaredDistance {
                        var ones = [Float](repeating: 1, count: rb)
                        columnWeight.withUnsafeMutableBufferPointer { columns in
                            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rb), Int32(cb), 1, buffer, Int32(cb),
                                        &ones, 1, 1, columns.baseAddress! + c0, 1)
                        }
                    }
                }
            }
        }
        guard s.kernel == .squaredDistance else { return }
        let a = terms.a
        Parallel.forChunks(s.rows, threads: threads, costPerItem: d) { rows in
            for i in rows { for k in 0..<d { pdx[i * d + k] -= a * rowWeight[i] * px[i * d + k] } }
        }
        Parallel.forChunks(s.columns, threads: threads, costPerItem: d) { columns in
            for j in columns { for k in 0..<d { pdy[j * d + k] -= a * columnWeight[j] * py[j * d + k] } }
        }
    }

    /// `buffer[r, c] = ⟨x_r, y_c⟩` for an `rb × cb` block (OpenBLAS threads it).
    private func products(_ x: UnsafeMutablePointer<Float>, _ rb: Int, _ y: UnsafeMutablePointer<Float>, _ cb: Int,
                          _ d: Int, into buffer: UnsafeMutablePointer<Float>) {
        guard d > 0 else {
            buffer.update(repeating: 0, count: rb * cb)
            return
        }
        sgemm(transposeA: false, transposeB: true, m: rb, n: cb, k: d, alpha: 1,
              x, lda: d, y, ldb: d, beta: 0, buffer, ldc: cb)
    }

    private func withLSEBuffer(_ s: PairwiseLSEShape, _ body: (UnsafeMutablePointer<Float>) throws -> Void) throws {
        let tile = try makeTensor([min(Self.rowTile, max(s.rows, 1)) * min(Self.columnTile, max(s.columns, 1))])
        try body(try floats(tile, "pairwiseLSE"))
    }
}

/// The affine map from raw products to similarities, `s_ij = a·⟨x_i, y_j⟩ + bias_j + rowConstant_i`.
final class LSETerms {
    let a: Float
    /// −c‖y_j‖² per column for the squared distance, nil for the dot product.
    let bias: UnsafeMutablePointer<Float>?
    private let rowConstants: [Float]
    /// ‖x_i‖² as the bias and row constant were computed from (squared distance only): a raw product set to this
    /// value gives a similarity of exactly 0, which the one-set path uses for the self-similarity.
    let squaredNorms: [Float]

    init(_ s: PairwiseLSEShape, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, threads: Int) {
        guard s.kernel == .squaredDistance else {
            a = s.scale
            bias = nil
            rowConstants = []
            squaredNorms = []
            return
        }
        a = 2 * s.scale
        let d = s.dimension, c = s.scale
        let squared = { CPUBackend.rowSquaredNorms($0, rows: $1, dimension: d, threads: threads) }
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(1, s.columns))
        for (j, norm) in squared(y, s.columns).enumerated() { columns[j] = -c * norm }
        bias = columns
        squaredNorms = squared(x, s.rows)
        rowConstants = squaredNorms.map { -c * $0 }
    }

    deinit { bias?.deallocate() }

    /// −c‖x_i‖² for the squared distance, 0 for the dot product.
    func rowConstant(_ i: Int) -> Float {
        rowConstants.isEmpty ? 0 : rowConstants[i]
    }
}

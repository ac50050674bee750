import LDMEngine

/// transpose (CPU twin of Kernels/transpose.cl): batched, in 32×32 tiles staged through a small buffer, so
/// reads and writes both run along rows. (Reading a column of x directly revisits lines whose addresses are
/// a power of two apart; they share cache sets and evict each other.)
extension CPUBackend {
    public func uncheckedTranspose(_ x: Tensor, into out: Tensor, _ s: TransposeShape) throws {
        let px = try floats(x, "transpose"), po = try floats(out, "transpose")
        for batch in 0..<s.batch {
            Self.transposeTiles(px + batch * s.rows * s.columns, rows: s.rows, columns: s.columns,
                                into: po + batch * s.rows * s.columns, accumulate: false, threads: threads)
        }
    }

    /// `out = srcᵀ` (or `out += srcᵀ` when `accumulate`) for a row-major `rows × columns` source, in staged tiles.
    static func transposeTiles(_ source: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                               into out: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int) {
        let tile = 32
        let tileRows = (rows + tile - 1) / tile, tileColumns = (columns + tile - 1) / tile
        Parallel.forChunks(tileRows * tileColumns, threads: threads, costPerItem: tile * tile) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tile * tile) { staged in
                for t in range {
                    let i0 = (t / tileColumns) * tile, j0 = (t % tileColumns) * tile
                    let height = min(tile, rows - i0), width = min(tile, columns - j0)
                    let from = source + i0 * columns + j0, to = out + j0 * rows + i0
                    for i in 0..<height {
                        for j in 0..<width { staged[j * tile + i] = from[i * columns + j] }
                    }
                    for j in 0..<width {
                        if accumulate {
                            for i in 0..<height { to[j * rows + i] += staged[j * tile + i] }
                        } else {
                            for i in 0..<height { to[j * rows + i] = staged[j * tile + i] }
                        }
                    }
                }
            }
        }
    }
}

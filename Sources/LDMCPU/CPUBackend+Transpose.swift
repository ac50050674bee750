import LDMEngine

/// transpose (CPU twin of Kernels/transpose.cl): batched, in 32×32 tiles staged through a small buffer, so
/// reads and writes both run along rows. (Reading a column of x directly revisits lines whose addresses are
/// a power of two apart; they share cache sets and evict each other.)
extension CPUBackend {
    public func transpose(_ x: Tensor, into out: Tensor, _ s: TransposeShape) throws {
        try KernelChecks.transpose(s, x: x, out: out)
        let px = try floats(x, "transpose"), po = try floats(out, "transpose")
        let tile = 32
        let tileRows = (s.rows + tile - 1) / tile, tileColumns = (s.columns + tile - 1) / tile
        let tiles = s.batch * tileRows * tileColumns
        Parallel.forChunks(tiles, threads: threads, costPerItem: tile * tile) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tile * tile) { staged in
                for t in range {
                    let batch = t / (tileRows * tileColumns), rest = t % (tileRows * tileColumns)
                    let i0 = (rest / tileColumns) * tile, j0 = (rest % tileColumns) * tile
                    let height = min(tile, s.rows - i0), width = min(tile, s.columns - j0)
                    let source = px + batch * s.rows * s.columns + i0 * s.columns + j0
                    let destination = po + batch * s.rows * s.columns + j0 * s.rows + i0
                    for i in 0..<height {
                        for j in 0..<width { staged[j * tile + i] = source[i * s.columns + j] }
                    }
                    for j in 0..<width {
                        for i in 0..<height { destination[j * s.rows + i] = staged[j * tile + i] }
                    }
                }
            }
        }
    }
}

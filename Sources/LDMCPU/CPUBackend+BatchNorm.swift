import LDMEngine

/// batch_norm (CPU twin of Kernels/batch_norm.cl): batch normalisation over the rows, forward and backward.
extension CPUBackend {
    public func uncheckedBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, into y: Tensor, mean: Tensor, variance: Tensor,
                          _ s: BatchNormShape) throws {
        let op = "batchNorm \(s)"
        let px = try floats(x, op), py = try floats(y, op), pg = try floats(gamma, op), pb = try floats(beta, op)
        let pm = try floats(mean, op), pv = try floats(variance, op)
        let (n, c) = (s.rows, s.columns)
        if s.training {
            // The kernel's two-pass statistics, over fixed blocks of rows (contiguous reads, one partial row per
            // block, added in block order: the same result for any thread timing).
            let sums = columnSums(rows: n, columns: c) { out, r in
                let row = px + r * c
                for j in 0..<c { out[j] += row[j] }
            }
            for j in 0..<c { pm[j] = sums[j] / Float(n) }
            let squares = columnSums(rows: n, columns: c) { out, r in
                let row = px + r * c
                for j in 0..<c { let d = row[j] - pm[j]; out[j] += d * d }
            }
            for j in 0..<c { pv[j] = squares[j] / Float(n) }
        }
        let inverse = (0..<c).map { 1 / (pv[$0] + s.epsilon).squareRoot() }
        Parallel.forChunks(n, threads: threads, costPerItem: c) { range in
            for i in range { for j in 0..<c { py[i * c + j] = pg[j] * (px[i * c + j] - pm[j]) * inverse[j] + pb[j] } }
        }
    }

    public func uncheckedBatchNormBackward(_ x: Tensor, _ dy: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor, dx: Tensor,
                                  dGamma: Tensor, dBeta: Tensor, _ s: BatchNormShape) throws {
        let op = "batchNormBackward \(s)"
        guard s.training else { throw LDMError.invalidArgument("\(op): the backward is defined for training mode only") }
        let px = try floats(x, op), pg = try floats(dy, op), pgamma = try floats(gamma, op), pm = try floats(mean, op)
        let pv = try floats(variance, op), pdx = try floats(dx, op), pdg = try floats(dGamma, op), pdb = try floats(dBeta, op)
        let (n, c) = (s.rows, s.columns)
        let inverse = (0..<c).map { 1 / (pv[$0] + s.epsilon).squareRoot() }
        let dBetaSums = columnSums(rows: n, columns: c) { out, r in
            let row = pg + r * c
            for j in 0..<c { out[j] += row[j] }
        }
        let dGammaSums = columnSums(rows: n, columns: c) { out, r in
            let (g, v) = (pg + r * c, px + r * c)
            for j in 0..<c { out[j] += g[j] * (v[j] - pm[j]) * inverse[j] }
        }
        for j in 0..<c { (pdb[j], pdg[j]) = (dBetaSums[j], dGammaSums[j]) }
        let sumG = (0..<c).map { pdb[$0] }, sumGX = (0..<c).map { pdg[$0] }, count = Float(n)
        Parallel.forChunks(n, threads: threads, costPerItem: c) { range in
            for i in range {
                for j in 0..<c {
                    let e = i * c + j, normalised = (px[e] - pm[j]) * inverse[j]
                    pdx[e] = pgamma[j] * inverse[j] * (pg[e] - sumG[j] / count - normalised * sumGX[j] / count)
                }
            }
        }
    }

    /// Column sums of a rows × columns matrix over fixed blocks of rows in parallel: `addRow(partial, r)` adds row
    /// r's terms into its block's partial row (one call per row, so the loop over columns inside it vectorises), and
    /// the partials are added in block order: contiguous reads, and the same result for any thread timing.
    func columnSums(rows: Int, columns c: Int, _ addRow: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
        let blocks = rows * c < 1 << 16 ? 1 : min(rows, threads * 4)
        var partials = [Float](repeating: 0, count: blocks * c)
        partials.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let partial = buffer.baseAddress!
            withoutActuallyEscaping(addRow) { addRow in
                nonisolated(unsafe) let addRow = addRow
                Parallel.run(blocks) { block in
                    for r in (rows * block / blocks)..<(rows * (block + 1) / blocks) { addRow(partial + block * c, r) }
                }
            }
        }
        var sums = [Float](repeating: 0, count: c)
        for block in 0..<blocks { for j in 0..<c { sums[j] += partials[block * c + j] } }
        return sums
    }
}

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
            // Each thread owns a block of columns and walks the rows over it (contiguous reads), accumulating
            // straight into μ and σ²: the kernel's two-pass variance.
            Parallel.forChunks(c, threads: threads, costPerItem: 2 * n) { columns in
                for j in columns { pm[j] = 0; pv[j] = 0 }
                for i in 0..<n { for j in columns { pm[j] += px[i * c + j] } }
                for j in columns { pm[j] /= Float(n) }
                for i in 0..<n { for j in columns { let d = px[i * c + j] - pm[j]; pv[j] += d * d } }
                for j in columns { pv[j] /= Float(n) }
            }
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
        Parallel.forChunks(c, threads: threads, costPerItem: 2 * n) { columns in
            for j in columns { pdg[j] = 0; pdb[j] = 0 }
            for i in 0..<n {
                for j in columns {
                    let g = pg[i * c + j]
                    pdb[j] += g
                    pdg[j] += g * (px[i * c + j] - pm[j]) * inverse[j]
                }
            }
        }
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
}

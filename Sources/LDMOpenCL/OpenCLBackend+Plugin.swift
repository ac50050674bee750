import COpenCL
import LDMEngine

/// plugin (OpenCL launcher of Kernels/plugin.cl): the categorical plug-in entropy of the batch joint `z1ᵀz2/B`
/// or the batch marginal, with gradients; the products run in CLBlast. The softmax check reads back two floats
/// per row (row sums and the smallest entry), the value one float.
extension OpenCLBackend {
    public func uncheckedCategoricalEntropy(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws -> Double {
        let op = "categoricalEntropy"
        let (b, k) = (z1.shape.dims[0], z1.shape.dims[1])
        let views = z2.flatMap { z in gradient2.map { (z2: z, gradient2: $0) } }
        try requireProbabilities(z1, b, k, "z1")
        let ones = try makeTensor([b])
        try fill(ones, with: 1)

        guard let (z2, gradient2) = views else {
            // p̄ = 1ᵀz/B (1 × K); ∂H/∂z_bk = G_k/B for every row: the outer product 1·G/B.
            let marginal = try makeTensor([1, k])
            try matmul(ones, z1, into: marginal, MatmulShape(m: 1, n: k, k: b, alpha: 1 / Float(b)))
            let (value, g) = try pluginTerms(marginal, count: k)
            try matmul(ones, g, into: gradient1, MatmulShape(m: b, n: k, k: 1, alpha: 1 / Float(b)))
            return value
        }
        try requireProbabilities(z2, b, k, "z2")
        let joint = try makeTensor([k, k])
        try matmul(z1, z2, into: joint, MatmulShape(m: k, n: k, k: b, transposeA: true, alpha: 1 / Float(b)))
        let (value, g) = try pluginTerms(joint, count: k * k)
        try matmul(z2, g, into: gradient1, MatmulShape(m: b, n: k, k: k, transposeB: true, alpha: 1 / Float(b)))
        try matmul(z1, g, into: gradient2, MatmulShape(m: b, n: k, k: k, alpha: 1 / Float(b)))
        return value
    }

    /// −Σ P log P and G = ∂/∂P.
    private func pluginTerms(_ p: Tensor, count: Int) throws -> (Double, Tensor) {
        let g = try makeTensor(p.shape), parts = try makeTensor([count])
        try launch(try kernel("plugin", "plugin_terms"), "plugin_terms",
                   [.int(Int32(count)), .buffer(try mem(p, "plugin")), .buffer(try mem(g, "plugin")),
                    .buffer(try mem(parts, "plugin"))], global: [padded(count, to: 64)], local: [64])
        let total = try makeTensor([1])
        try reduceRows(parts, into: total, .sum, RowsShape(rows: 1, columns: count))
        return (Double(try download(total)[0]), g)
    }

    /// Throws unless every row is a probability vector (entries ≥ 0 summing to 1 within 1e-3), as the CPU does.
    private func requireProbabilities(_ z: Tensor, _ b: Int, _ k: Int, _ name: String) throws {
        let sums = try makeTensor([b]), negated = try makeTensor(z.shape), largestNegation = try makeTensor([b])
        try reduceRows(z, into: sums, .sum, RowsShape(rows: b, columns: k))
        try scale(z, by: -1, into: negated)
        try reduceRows(negated, into: largestNegation, .max, RowsShape(rows: b, columns: k))
        let rowSums = try download(sums), minima = try download(largestNegation).map { -$0 }
        for i in 0..<b {
            guard minima[i] >= 0 else {
                throw LDMError.invalidArgument("categoricalEntropy: \(name) row \(i) has a negative entry; expected softmax outputs")
            }
            guard abs(rowSums[i] - 1) <= 1e-3 else {
                throw LDMError.invalidArgument("categoricalEntropy: \(name) row \(i) sums to \(rowSums[i]), not 1; expected softmax outputs")
            }
        }
    }
}

import CBLAS
import Foundation
import LDMEngine

/// plugin (CPU): the categorical plug-in entropy of softmax outputs (docs/mathematics.md §3.6), `−Σ P log P` of the batch joint
/// `P = z1ᵀz2/B` (K × K) or of the batch marginal `p̄ = mean_b z_b`. With `G = ∂H/∂P = −(log P + 1)`,
/// `∂H/∂z1 = z2·Gᵀ/B` and `∂H/∂z2 = z1·G/B`; for the marginal, `∂H/∂z_bk = G_k/B`. Probabilities are floored at
/// 1e-30 inside the log, where −p·log p has an infinite slope.
extension CPUBackend {
    public func uncheckedCategoricalEntropy(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws -> Double {
        let op = "categoricalEntropy"
        let (b, k) = (z1.shape.dims[0], z1.shape.dims[1])
        let views = z2.flatMap { z in gradient2.map { (z2: z, gradient2: $0) } }
        let p1 = try floats(z1, op), g1 = try floats(gradient1, op)
        try requireProbabilities(p1, b, k, "z1")

        guard let (z2, gradient2) = views else {
            var marginal = [Double](repeating: 0, count: k)
            for i in 0..<b { for c in 0..<k { marginal[c] += Double(p1[i * k + c]) / Double(b) } }
            var value = 0.0
            for c in 0..<k where marginal[c] > 0 { value -= marginal[c] * log(marginal[c]) }
            for i in 0..<b {
                for c in 0..<k { g1[i * k + c] = Float(-(log(max(marginal[c], 1e-30)) + 1) / Double(b)) }
            }
            return value
        }
        let p2 = try floats(z2, op), g2 = try floats(gradient2, op)
        try requireProbabilities(p2, b, k, "z2")
        let joint = try makeTensor([k, k]), pj = try floats(joint, op)
        sgemm(transposeA: true, transposeB: false, m: k, n: k, k: b, alpha: 1 / Float(b),
              p1, lda: k, p2, ldb: k, beta: 0, pj, ldc: k)
        var value = 0.0
        for t in 0..<(k * k) {
            let p = Double(pj[t])
            if p > 0 { value -= p * log(p) }
            pj[t] = Float(-(log(max(p, 1e-30)) + 1))   // G, in place
        }
        sgemm(transposeA: false, transposeB: true, m: b, n: k, k: k, alpha: 1 / Float(b),
              p2, lda: k, pj, ldb: k, beta: 0, g1, ldc: k)
        sgemm(transposeA: false, transposeB: false, m: b, n: k, k: k, alpha: 1 / Float(b),
              p1, lda: k, pj, ldb: k, beta: 0, g2, ldc: k)
        return value
    }

    /// Throws unless every row is a probability vector (entries ≥ 0 summing to 1 within 1e-3).
    private func requireProbabilities(_ p: UnsafeMutablePointer<Float>, _ b: Int, _ k: Int, _ name: String) throws {
        for i in 0..<b {
            var total: Float = 0
            for c in 0..<k {
                guard p[i * k + c] >= 0 else {
                    throw LDMError.invalidArgument("categoricalEntropy: \(name) row \(i) has a negative entry; expected softmax outputs")
                }
                total += p[i * k + c]
            }
            guard abs(total - 1) <= 1e-3 else {
                throw LDMError.invalidArgument("categoricalEntropy: \(name) row \(i) sums to \(total), not 1; expected softmax outputs")
            }
        }
    }
}

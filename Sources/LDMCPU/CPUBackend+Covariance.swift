import CBLAS
import Foundation
import LDMEngine

/// covariance (CPU): the VICReg and Taylor surrogates computed from the sample covariance, with gradients.
///
/// Both are functions f(C) of `C = X̃ᵀX̃/(B−1)`, X̃ the centred samples. With `M = ∂f/∂C` (a d × d matrix, entries
/// treated as independent), `∂f/∂X = X̃·(M + Mᵀ)/(B−1)`; centring adds nothing because the rows of X̃ sum to zero.
/// C comes from one `sgemm`, the gradient from another; everything else is O(d²).
extension CPUBackend {
    public func uncheckedCovarianceSurrogate(_ z: Tensor, gradient: Tensor, _ s: CovarianceSurrogateShape) throws -> Double {
        let op = "covarianceSurrogate \(s)"
        let pz = try floats(z, op), pg = try floats(gradient, op)
        let (b, d) = (s.rows, s.dimension)

        let centred = try makeTensor([b, d]), covariance = try makeTensor([d, d]), weights = try makeTensor([d, d])
        let px = try floats(centred, op), pc = try floats(covariance, op), pm = try floats(weights, op)
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<b { for k in 0..<d { mean[k] += Double(pz[i * d + k]) } }
        let means = mean.map { Float($0 / Double(b)) }
        Parallel.forChunks(b, threads: threads, costPerItem: d) { rows in
            for i in rows { for k in 0..<d { px[i * d + k] = pz[i * d + k] - means[k] } }
        }
        sgemm(transposeA: true, transposeB: false, m: d, n: d, k: b, alpha: 1 / Float(b - 1),
              px, lda: d, px, ldb: d, beta: 0, pc, ldc: d)

        // f(C) and M = ∂f/∂C, in Double (d² terms).
        var value = 0.0
        let dd = Double(d)
        switch s.kind {
        case let .vicreg(varianceWeight, covarianceWeight):
            for k in 0..<d {
                for l in 0..<d {
                    let c = Double(pc[k * d + l])
                    if k == l {
                        let std = (c + 1e-4).squareRoot()
                        value += Double(varianceWeight) * max(0, 1 - std) / dd
                        // ∂/∂C_kk of ReLU(1 − sqrt(C_kk + ε)) = −1/(2·std) where std < 1.
                        pm[k * d + l] = std < 1 ? Float(-Double(varianceWeight) / (2 * std) / dd) : 0
                    } else {
                        value += Double(covarianceWeight) * c * c / dd
                        pm[k * d + l] = Float(Double(covarianceWeight) * 2 * c / dd)
                    }
                }
            }
        case .taylor:
            for k in 0..<d { value += log(Double(pc[k * d + k])) }
            var diagonal = [Double](repeating: 0, count: d)
            for k in 0..<d {
                for l in 0..<d where l != k {
                    let c = Double(pc[k * d + l]), ckk = Double(pc[k * d + k]), cll = Double(pc[l * d + l])
                    let r = c * c / (ckk * cll)
                    value -= 0.5 * r * r
                    pm[k * d + l] = Float(-2 * r * c / (ckk * cll) / dd)   // ∂(−½r²)/∂C_kl = −r·∂r/∂C_kl
                    diagonal[k] += r * r / ckk                              // from C_kk in r_kl
                    diagonal[l] += r * r / cll                              // from C_ll in r_kl
                }
            }
            for k in 0..<d { pm[k * d + k] = Float((1 / Double(pc[k * d + k]) + diagonal[k]) / dd) }
            value /= dd
        }

        // ∂f/∂X = X̃·(M + Mᵀ)/(B−1): symmetrise M in place, then one product.
        for k in 0..<d {
            for l in (k + 1)..<max(k + 1, d) {
                let sum = pm[k * d + l] + pm[l * d + k]
                pm[k * d + l] = sum
                pm[l * d + k] = sum
            }
            pm[k * d + k] *= 2
        }
        sgemm(transposeA: false, transposeB: false, m: b, n: d, k: d, alpha: 1 / Float(b - 1),
              px, lda: d, pm, ldb: d, beta: 0, pg, ldc: d)
        return value
    }
}

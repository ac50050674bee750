import CBLAS
import Foundation
import LDMEngine

/// covariance.cl family, Barlow Twins (CPU twin of its cross-correlation kernels): the Barlow Twins loss, as lightly's `BarlowTwinsLoss(lambda_param)` computes it.
///
/// Each column of each view is standardised, `a = (x − mean)/std` (unbiased std), `c = AᵀB/N` is the d × d
/// cross-correlation, and `L = Σ_k (c_kk − 1)² + λ·Σ_{k≠l} c_kl²`. Backward: with `G = ∂L/∂c`,
/// `∂L/∂A = B·Gᵀ/N`, `∂L/∂B = A·G/N`, and through the standardisation of a column with upstream gradient g,
/// `∂L/∂x = (g − mean(g) − a·Σ_i g_i·a_i/(N−1))/std`.
extension CPUBackend {
    public func uncheckedBarlowTwins(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws
        -> Double {
        let op = "barlowTwins"
        let (n, d) = (z1.shape.dims[0], z1.shape.dims[1])
        let a = try makeTensor([n, d]), b = try makeTensor([n, d])
        let stdA = try standardizeColumns(try floats(z1, op), into: try floats(a, op), n, d)
        let stdB = try standardizeColumns(try floats(z2, op), into: try floats(b, op), n, d)
        let pa = try floats(a, op), pb = try floats(b, op)

        let correlation = try makeTensor([d, d]), pc = try floats(correlation, op)
        sgemm(transposeA: true, transposeB: false, m: d, n: d, k: n, alpha: 1 / Float(n),
              pa, lda: d, pb, ldb: d, beta: 0, pc, ldc: d)
        var loss = 0.0
        for k in 0..<d {
            for l in 0..<d {
                let c = Double(pc[k * d + l])
                if k == l {
                    loss += (c - 1) * (c - 1)
                    pc[k * d + l] = Float(2 * (c - 1))            // G, in place
                } else {
                    loss += Double(lambda) * c * c
                    pc[k * d + l] = Float(2 * Double(lambda) * c)
                }
            }
        }
        // Upstream gradients of the standardised views: ∂L/∂A = B·Gᵀ/N, ∂L/∂B = A·G/N.
        let ga = try makeTensor([n, d]), gb = try makeTensor([n, d])
        sgemm(transposeA: false, transposeB: true, m: n, n: d, k: d, alpha: 1 / Float(n),
              pb, lda: d, pc, ldb: d, beta: 0, try floats(ga, op), ldc: d)
        sgemm(transposeA: false, transposeB: false, m: n, n: d, k: d, alpha: 1 / Float(n),
              pa, lda: d, pc, ldb: d, beta: 0, try floats(gb, op), ldc: d)
        throughStandardization(try floats(ga, op), pa, stdA, into: try floats(gradient1, op), n, d)
        throughStandardization(try floats(gb, op), pb, stdB, into: try floats(gradient2, op), n, d)
        return loss
    }

    /// Writes `(x − mean)/std` per column (unbiased std) and returns the standard deviations.
    private func standardizeColumns(_ x: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                    _ n: Int, _ d: Int) throws -> [Float] {
        var mean = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        for i in 0..<n { for k in 0..<d { mean[k] += Double(x[i * d + k]) } }
        for k in 0..<d { mean[k] /= Double(n) }
        for i in 0..<n {
            for k in 0..<d {
                let centred = Double(x[i * d + k]) - mean[k]
                squares[k] += centred * centred
            }
        }
        let std = squares.map { Float(($0 / Double(n - 1)).squareRoot()) }
        if let k = std.firstIndex(where: { !($0 > 0) }) {
            throw LDMError.invalidArgument("barlowTwins: column \(k) is constant, so it cannot be standardised")
        }
        for i in 0..<n { for k in 0..<d { out[i * d + k] = (x[i * d + k] - Float(mean[k])) / std[k] } }
        return std
    }

    /// `(g − mean(g) − a·Σ_i g_i·a_i/(N−1))/std` per column.
    private func throughStandardization(_ g: UnsafeMutablePointer<Float>, _ a: UnsafeMutablePointer<Float>,
                                        _ std: [Float], into out: UnsafeMutablePointer<Float>, _ n: Int, _ d: Int) {
        var meanG = [Double](repeating: 0, count: d), dot = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for k in 0..<d {
                meanG[k] += Double(g[i * d + k]) / Double(n)
                dot[k] += Double(g[i * d + k]) * Double(a[i * d + k])
            }
        }
        for i in 0..<n {
            for k in 0..<d {
                let value = Double(g[i * d + k]) - meanG[k] - Double(a[i * d + k]) * dot[k] / Double(n - 1)
                out[i * d + k] = Float(value / Double(std[k]))
            }
        }
    }
}

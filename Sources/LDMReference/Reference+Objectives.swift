import Foundation
import LDMEngine

/// Double references of the LDM alignment terms and entropy estimators (docs/mathematics.md §2–§3). Matrices are row-major
/// `rows × d` arrays of Double; every function returns the quantity to be maximised (the convention of docs/mathematics.md), except
/// `ntXentLoss`, which is lightly's loss.
extension Reference {
    /// Pairwise similarity kernels of the KDE estimator.
    public enum SimilarityKernel: String, CaseIterable, Sendable {
        /// `κ·⟨ẑ_i, ẑ_j⟩` on L2-normalised rows (von Mises–Fisher).
        case vonMisesFisher
        /// `−κ·(1/d)·‖z_i − z_j‖²` (Gaussian), d the row length the estimator sees.
        case gaussian
    }

    /// Rows scaled to unit Euclidean norm.
    public static func normalizedRows(_ z: [Double], d: Int) -> [Double] {
        stride(from: 0, to: z.count, by: d).flatMap { start -> [Double] in
            let row = z[start..<(start + d)]
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return row.map { $0 / norm }
        }
    }

    /// `log Σ exp(values)` with a running maximum (finite for any finite input; −∞ for an empty list).
    public static func logSumExp(_ values: [Double]) -> Double {
        guard let top = values.max(), top.isFinite else { return values.max() ?? -.infinity }
        return top + log(values.reduce(0) { $0 + exp($1 - top) })
    }

    /// Sphere (vMF) alignment: `mean_i κ_p·⟨ẑ1_i, ẑ2_i⟩`.
    public static func sphereAlignment(_ z1: [Double], _ z2: [Double], d: Int, precision: Double) -> Double {
        let a = normalizedRows(z1, d: d), b = normalizedRows(z2, d: d)
        let rows = z1.count / d
        return (0..<rows).reduce(0) { sum, i in sum + precision * dot(a, b, i, i, d) } / Double(rows)
    }

    /// Plane (Gaussian) alignment: `mean_i −κ_p·(1/d)·Σ_k (z1_ik − z2_ik)²`.
    public static func planeAlignment(_ z1: [Double], _ z2: [Double], d: Int, precision: Double) -> Double {
        let rows = z1.count / d
        let squared = zip(z1, z2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return -precision * squared / Double(d) / Double(rows)
    }

    /// The similarity `s_ij` of the KDE estimator between row i of `x` and row j of `y` (already normalised
    /// for vMF).
    static func similarity(_ x: [Double], _ y: [Double], _ i: Int, _ j: Int, d: Int,
                           kernel: SimilarityKernel, precision: Double) -> Double {
        switch kernel {
        case .vonMisesFisher:
            return precision * dot(x, y, i, j, d)
        case .gaussian:
            var squared = 0.0
            for k in 0..<d { squared += (x[i * d + k] - y[j * d + k]) * (x[i * d + k] - y[j * d + k]) }
            return -precision * squared / Double(d)
        }
    }

    /// KDE ("contrastive") entropy: `−(1/B)·Σ_i log Σ_j K(z_i, z_j)`, j over the batch including i unless
    /// `leaveOneOut`.
    public static func kdeEntropy(_ z: [Double], d: Int, kernel: SimilarityKernel, precision: Double,
                                  leaveOneOut: Bool = false) -> Double {
        let rows = z.count / d
        let x = kernel == .vonMisesFisher ? normalizedRows(z, d: d) : z
        let total = (0..<rows).reduce(0.0) { sum, i in
            let terms = (0..<rows).filter { !leaveOneOut || $0 != i }.map {
                similarity(x, x, i, $0, d: d, kernel: kernel, precision: precision)
            }
            return sum + logSumExp(terms)
        }
        return -total / Double(rows)
    }

    /// The LDM variant's joint KDE entropy on the sphere, as the paper's code computes it: each view normalised,
    /// the concatenation used as it is, `Ĥ = −(1/B)·Σ_i log Σ_j exp(κ·(⟨ẑ1_i, ẑ1_j⟩ + ⟨ẑ2_i, ẑ2_j⟩))` (j ≠ i
    /// with `leaveOneOut`). Written from the formula, independently of ``kdeEntropy(_:d:kernel:precision:leaveOneOut:)``.
    public static func sphereJointKDEEntropy(_ z1: [Double], _ z2: [Double], d: Int, precision: Double,
                                             leaveOneOut: Bool = false) -> Double {
        let a = normalizedRows(z1, d: d), b = normalizedRows(z2, d: d), rows = z1.count / d
        let total = (0..<rows).reduce(0.0) { sum, i in
            let terms = (0..<rows).filter { !leaveOneOut || $0 != i }.map { j in
                precision * (dot(a, a, i, j, d) + dot(b, b, i, j, d))
            }
            return sum + logSumExp(terms)
        }
        return -total / Double(rows)
    }

    /// lightly's `NTXentLoss(temperature)` without a memory bank: over the 2B normalised rows of `[z1; z2]`,
    /// the mean cross-entropy of picking each row's partner among all other rows, logits `⟨ẑ_a, ẑ_b⟩/τ`.
    public static func ntXentLoss(_ z1: [Double], _ z2: [Double], d: Int, temperature: Double) -> Double {
        let rows = z1.count / d
        let all = normalizedRows(z1 + z2, d: d)
        var total = 0.0
        for a in 0..<(2 * rows) {
            let partner = a < rows ? a + rows : a - rows
            let logits = (0..<(2 * rows)).filter { $0 != a }.map { dot(all, all, a, $0, d) / temperature }
            total += logSumExp(logits) - dot(all, all, a, partner, d) / temperature
        }
        return total / Double(2 * rows)
    }

    /// Kozachenko–Leonenko kNN entropy: `c·mean_i log(ρ_i + 1e-8)`, ρ_i the distance to the k-th nearest
    /// other row, clipped to [0, q₀.₉(ρ)] (the 0.9 quantile with linear interpolation, as `torch.quantile`).
    /// `cap` replaces the quantile when given: the estimator detaches it, so finite differences must hold it fixed.
    public static func knnEntropy(_ z: [Double], d: Int, k: Int = 3, scale: Double = 1, cap fixedCap: Double? = nil)
        -> Double {
        let rho = knnDistances(z, d: d, k: k)
        let cap = fixedCap ?? quantile(rho, 0.9)
        return scale * rho.reduce(0) { $0 + log(min(max($1, 0), cap) + 1e-8) } / Double(rho.count)
    }

    /// Distance from each row to its k-th nearest other row (the k smallest kept in a sorted list).
    public static func knnDistances(_ z: [Double], d: Int, k: Int) -> [Double] {
        let rows = z.count / d
        return (0..<rows).map { i in
            var smallest: [Double] = []
            for j in 0..<rows where j != i {
                var squared = 0.0
                for t in 0..<d { squared += (z[i * d + t] - z[j * d + t]) * (z[i * d + t] - z[j * d + t]) }
                if smallest.count < k || squared < smallest[k - 1] {
                    smallest.insert(squared, at: smallest.firstIndex(where: { $0 > squared }) ?? smallest.count)
                    if smallest.count > k { smallest.removeLast() }
                }
            }
            return smallest[k - 1].squareRoot()
        }
    }

    /// The q-quantile with linear interpolation between order statistics.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (position - Double(low)) * (sorted[high] - sorted[low])
    }

    /// Sample covariance (mean removed, divided by rows − 1), `d × d`.
    public static func covariance(_ z: [Double], d: Int) -> [Double] {
        let rows = z.count / d
        let mean = (0..<d).map { k in (0..<rows).reduce(0.0) { $0 + z[$1 * d + k] } / Double(rows) }
        var cov = [Double](repeating: 0, count: d * d)
        for i in 0..<rows {
            for k in 0..<d {
                for l in 0..<d { cov[k * d + l] += (z[i * d + k] - mean[k]) * (z[i * d + l] - mean[l]) }
            }
        }
        return cov.map { $0 / Double(rows - 1) }
    }

    /// Gaussian entropy: `½·log det(Cov(z) + εI)` through a Cholesky factor. Nil when not positive definite.
    public static func gaussianLogDetEntropy(_ z: [Double], d: Int, epsilon: Double = 1e-8) -> Double? {
        var a = covariance(z, d: d)
        for k in 0..<d { a[k * d + k] += epsilon }
        guard let factor = cholesky(a, n: d) else { return nil }
        return (0..<d).reduce(0) { $0 + log(factor[$1 * d + $1]) }   // ½·log det = Σ log L_kk
    }

    /// Lower Cholesky factor of a symmetric positive definite `n × n` matrix, or nil.
    public static func cholesky(_ a: [Double], n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for p in 0..<j { sum -= l[i * n + p] * l[j * n + p] }
                if i == j {
                    guard sum > 0 else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        return l
    }

    /// Taylor (correlation) surrogate of log det, divided by d, exactly as the reference code defines it:
    /// `(Σ_k log Σ_kk − ½·Σ_{k≠l} (Σ_kl² / (Σ_kk·Σ_ll))²) / d`.
    public static func taylorLogDet(_ z: [Double], d: Int) -> Double {
        let cov = covariance(z, d: d)
        var total = (0..<d).reduce(0) { $0 + log(cov[$1 * d + $1]) }
        for k in 0..<d {
            for l in 0..<d where l != k {
                let squaredCorrelation = cov[k * d + l] * cov[k * d + l] / (cov[k * d + k] * cov[l * d + l])
                total -= 0.5 * squaredCorrelation * squaredCorrelation
            }
        }
        return total / Double(d)
    }

    /// VICReg's variance and covariance terms of one view (each a penalty, to be minimised):
    /// `(1/d)·Σ_k ReLU(1 − sqrt(Var_k + 1e-4))` and `(1/d)·Σ_{k≠l} Cov_kl²`.
    public static func vicregTerms(_ z: [Double], d: Int) -> (variance: Double, covariance: Double) {
        let cov = covariance(z, d: d)
        let variance = (0..<d).reduce(0) { $0 + max(0, 1 - (cov[$1 * d + $1] + 1e-4).squareRoot()) } / Double(d)
        var offDiagonal = 0.0
        for k in 0..<d { for l in 0..<d where l != k { offDiagonal += cov[k * d + l] * cov[k * d + l] } }
        return (variance, offDiagonal / Double(d))
    }

    /// Categorical plug-in entropy of the batch joint `P_kl = (1/B)·Σ_b z1_bk·z2_bl`: `−Σ_kl P_kl log P_kl`
    /// (0·log 0 = 0). Rows are softmax outputs over K classes.
    public static func categoricalJointEntropy(_ z1: [Double], _ z2: [Double], classes: Int) -> Double {
        let rows = z1.count / classes
        var total = 0.0
        for k in 0..<classes {
            for l in 0..<classes {
                let p = (0..<rows).reduce(0.0) { $0 + z1[$1 * classes + k] * z2[$1 * classes + l] } / Double(rows)
                if p > 0 { total -= p * log(p) }
            }
        }
        return total
    }

    /// Categorical plug-in entropy of the batch marginal `p̄ = mean_b z_b`.
    public static func categoricalMarginalEntropy(_ z: [Double], classes: Int) -> Double {
        let rows = z.count / classes
        return (0..<classes).reduce(0.0) { sum, k in
            let p = (0..<rows).reduce(0.0) { $0 + z[$1 * classes + k] } / Double(rows)
            return p > 0 ? sum - p * log(p) : sum
        }
    }

    /// lightly's Barlow Twins loss: columns standardised (unbiased std), `c = AᵀB/N`,
    /// `Σ_k (c_kk − 1)² + λ·Σ_{k≠l} c_kl²`.
    public static func barlowTwinsLoss(_ z1: [Double], _ z2: [Double], d: Int, lambda: Double) -> Double {
        let n = z1.count / d
        func standardized(_ z: [Double]) -> [Double] {
            var out = z
            for k in 0..<d {
                let mean = (0..<n).reduce(0.0) { $0 + z[$1 * d + k] } / Double(n)
                let variance = (0..<n).reduce(0.0) { $0 + (z[$1 * d + k] - mean) * (z[$1 * d + k] - mean) } / Double(n - 1)
                for i in 0..<n { out[i * d + k] = (z[i * d + k] - mean) / variance.squareRoot() }
            }
            return out
        }
        let a = standardized(z1), b = standardized(z2)
        var loss = 0.0
        for k in 0..<d {
            for l in 0..<d {
                let c = (0..<n).reduce(0.0) { $0 + a[$1 * d + k] * b[$1 * d + l] } / Double(n)
                loss += k == l ? (c - 1) * (c - 1) : lambda * c * c
            }
        }
        return loss
    }

    static func dot(_ x: [Double], _ y: [Double], _ i: Int, _ j: Int, _ d: Int) -> Double {
        (0..<d).reduce(0) { $0 + x[i * d + $1] * y[j * d + $1] }
    }
}

import Foundation

/// Double references of linear-Gaussian filtering and smoothing (docs/mathematics.md §5), one sequence at a time, plain loops.
///
/// Model: h_t = F·h_{t−1} + N(0, Q), z_t = H·h_t + N(0, R), t = 1…T, from h_0 ~ N(m0, P0); as in filterpy's
/// `batch_filter`, the first observation is preceded by a predict step from (m0, P0). Matrices are row-major.
extension Reference {
    public struct KalmanOutput: Sendable {
        /// Per step: predicted and filtered means (n) and covariances (n × n), innovation covariances (m × m).
        public var predictedMeans: [[Double]] = []
        public var predictedCovariances: [[Double]] = []
        public var filteredMeans: [[Double]] = []
        public var filteredCovariances: [[Double]] = []
        public var innovationCovariances: [[Double]] = []
        /// log p(z_1…z_T), the −m/2·log 2π constants included.
        public var logLikelihood = 0.0
    }

    /// Predict (h⁻ = F·ĥ + offset), update in Joseph form, symmetrise; the log-likelihood of the innovations.
    public static func kalmanFilter(_ z: [[Double]], F: [Double], H: [Double], Q: [Double], R: [Double],
                                    m0: [Double], P0: [Double], offset: [Double]? = nil) -> KalmanOutput {
        let n = m0.count, m = R.count.squareRootInt
        var out = KalmanOutput()
        var mean = m0, cov = P0
        for observation in z {
            let predictedMean = zip(mul(F, mean, n, n, 1), offset ?? [Double](repeating: 0, count: n)).map { $0 + $1 }
            let predictedCov = add(mul(mul(F, cov, n, n, n), transpose(F, n, n), n, n, n), Q)
            let s = add(mul(mul(H, predictedCov, m, n, n), transpose(H, m, n), m, n, m), R)
            let innovation = zip(observation, mul(H, predictedMean, m, n, 1)).map { $0 - $1 }
            let sInverse = inverse(s, m)
            let gain = mul(mul(predictedCov, transpose(H, m, n), n, n, m), sInverse, n, m, m)
            let newMean = zip(predictedMean, mul(gain, innovation, n, m, 1)).map { $0 + $1 }
            let identityMinusKH = add(identity(n), mul(gain, H, n, m, n).map { -$0 })
            var newCov = add(mul(mul(identityMinusKH, predictedCov, n, n, n), transpose(identityMinusKH, n, n), n, n, n),
                             mul(mul(gain, R, n, m, m), transpose(gain, n, m), n, m, n))
            newCov = zip(newCov, transpose(newCov, n, n)).map { 0.5 * ($0 + $1) }
            let quadratic = zip(innovation, mul(sInverse, innovation, m, m, 1)).reduce(0) { $0 + $1.0 * $1.1 }
            out.logLikelihood += -0.5 * (quadratic + logDeterminant(s, m) + Double(m) * log(2 * Double.pi))
            out.predictedMeans.append(predictedMean)
            out.predictedCovariances.append(predictedCov)
            out.filteredMeans.append(newMean)
            out.filteredCovariances.append(newCov)
            out.innovationCovariances.append(s)
            mean = newMean
            cov = newCov
        }
        return out
    }

    /// The filtered covariances P_t alone (the covariance half of ``kalmanFilter(_:F:H:Q:R:m0:P0:offset:)``) for
    /// `steps` steps with an observation noise R_t per step (`noise(t)`, m × m): P⁻ = F·P·Fᵀ + Q,
    /// P = P⁻ − P⁻Hᵀ·S⁻¹·H·P⁻, symmetrised as the kernels do (without it the antisymmetric part of P grows from
    /// step to step even in Double: at n = m = 16 it swamped P within 300 steps). What the time-parallel covariance
    /// recursion must reproduce.
    public static func kalmanFilteredCovariances(F: [Double], H: [Double], Q: [Double], P0: [Double], steps: Int,
                                                 noise: (Int) -> [Double]) -> [[Double]] {
        let n = P0.count.squareRootInt, m = H.count / max(1, n)
        var p = P0, out = [[Double]]()
        for t in 0..<steps {
            let predicted = add(mul(mul(F, p, n, n, n), transpose(F, n, n), n, n, n), Q)
            let pht = mul(predicted, transpose(H, m, n), n, n, m)
            let s = add(mul(H, pht, m, n, m), noise(t))
            let gain = mul(pht, inverse(s, m), n, m, m)
            p = zip(predicted, mul(gain, transpose(pht, n, m), n, m, n)).map { $0 - $1 }
            p = zip(p, transpose(p, n, n)).map { 0.5 * ($0 + $1) }
            out.append(p)
        }
        return out
    }

    /// Rauch–Tung–Striebel smoother on a filter's output: smoothed means and covariances per step.
    public static func rtsSmoother(_ f: KalmanOutput, F: [Double]) -> (means: [[Double]], covariances: [[Double]]) {
        let steps = f.filteredMeans.count, n = f.filteredMeans.first?.count ?? 0
        var means = f.filteredMeans, covs = f.filteredCovariances
        guard steps > 1 else { return (means, covs) }
        for t in stride(from: steps - 2, through: 0, by: -1) {
            let gain = mul(mul(f.filteredCovariances[t], transpose(F, n, n), n, n, n),
                           inverse(f.predictedCovariances[t + 1], n), n, n, n)
            let meanStep = zip(means[t + 1], f.predictedMeans[t + 1]).map { $0 - $1 }
            means[t] = zip(f.filteredMeans[t], mul(gain, meanStep, n, n, 1)).map { $0 + $1 }
            let covStep = zip(covs[t + 1], f.predictedCovariances[t + 1]).map { $0 - $1 }
            covs[t] = add(f.filteredCovariances[t], mul(mul(gain, covStep, n, n, n), transpose(gain, n, n), n, n, n))
        }
        return (means, covs)
    }

    // Small dense helpers in Double (row-major). The reference may invert: it defines meaning, not speed.

    static func mul(_ a: [Double], _ b: [Double], _ rows: Int, _ inner: Int, _ columns: Int) -> [Double] {
        var c = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows { for j in 0..<columns { for p in 0..<inner { c[i * columns + j] += a[i * inner + p] * b[p * columns + j] } } }
        return c
    }

    static func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }

    static func transpose(_ a: [Double], _ rows: Int, _ columns: Int) -> [Double] {
        (0..<(rows * columns)).map { e in a[(e % rows) * columns + e / rows] }
    }

    static func identity(_ n: Int) -> [Double] { (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 } }

    /// Inverse by Gauss–Jordan elimination with partial pivoting.
    public static func inverse(_ a: [Double], _ n: Int) -> [Double] {
        var m = a, inv = identity(n)
        for column in 0..<n {
            let pivot = (column..<n).max { abs(m[$0 * n + column]) < abs(m[$1 * n + column]) }!
            for k in 0..<n {
                m.swapAt(column * n + k, pivot * n + k)
                inv.swapAt(column * n + k, pivot * n + k)
            }
            let scale = m[column * n + column]
            for k in 0..<n { m[column * n + k] /= scale; inv[column * n + k] /= scale }
            for row in 0..<n where row != column {
                let factor = m[row * n + column]
                for k in 0..<n { m[row * n + k] -= factor * m[column * n + k]; inv[row * n + k] -= factor * inv[column * n + k] }
            }
        }
        return inv
    }

    /// log det of a symmetric positive definite matrix through its Cholesky factor.
    public static func logDeterminant(_ a: [Double], _ n: Int) -> Double {
        let factor = cholesky(a, n: n)!
        return 2 * (0..<n).reduce(0) { $0 + log(factor[$1 * n + $1]) }
    }
}

private extension Int {
    /// The integer square root of a perfect square (the side of a square matrix from its element count).
    var squareRootInt: Int { Int(Double(self).squareRoot().rounded()) }
}

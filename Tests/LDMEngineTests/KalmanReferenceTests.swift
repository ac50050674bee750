import Foundation
import LDMReference
import Testing

/// The Kalman references against an independent oracle: exact Gaussian conditioning of the whole stacked
/// sequence (h_1…h_T, z_1…z_T) for small T.
@Suite("Kalman references")
struct KalmanReferenceTests {
    // A 2-state rotation observed in 1 dimension, T = 5.
    static let (n, m, steps) = (2, 1, 5)
    static let F: [Double] = [0.95 * cos(0.3), -0.95 * sin(0.3), 0.95 * sin(0.3), 0.95 * cos(0.3)]
    static let H: [Double] = [1, 0.5]
    static let Q: [Double] = [0.1, 0.02, 0.02, 0.05]
    static let R: [Double] = [0.3]
    static let m0: [Double] = [0.5, -0.2]
    static let P0: [Double] = [1, 0.1, 0.1, 0.8]
    static let z: [[Double]] = [[0.4], [-0.1], [0.7], [0.2], [-0.5]]

    /// Mean and covariance of the stacked (h_1…h_T) and (z_1…z_T): h_t = F^t·m0 + …, built step by step.
    static func joint() -> (hMean: [Double], zMean: [Double], hh: [[Double]], hz: [[Double]], zz: [[Double]]) {
        // Cov(h_s, h_t) for s ≤ t is F^{t−s}·Cov(h_s); Cov(h_t) = F·Cov(h_{t−1})·Fᵀ + Q with Cov(h_0) = P0.
        var means: [[Double]] = [], covs: [[Double]] = []
        var mean = m0, cov = P0
        for _ in 0..<steps {
            mean = mul(F, mean, n, n, 1)
            cov = add(mul(mul(F, cov, n, n, n), transpose(F, n, n), n, n, n), Q)
            means.append(mean)
            covs.append(cov)
        }
        func cross(_ s: Int, _ t: Int) -> [Double] {   // Cov(h_s, h_t)
            if s == t { return covs[s] }
            if s < t { return transpose(cross(t, s), n, n) }
            var c = covs[t]
            for _ in t..<s { c = mul(F, c, n, n, n) }   // Cov(h_s, h_t) = F^{s−t}·Cov(h_t)
            return c
        }
        let total = steps * n, obs = steps * m
        var hh = [[Double]](repeating: [Double](repeating: 0, count: total), count: total)
        var hz = [[Double]](repeating: [Double](repeating: 0, count: obs), count: total)
        var zz = [[Double]](repeating: [Double](repeating: 0, count: obs), count: obs)
        for s in 0..<steps {
            for t in 0..<steps {
                let c = cross(s, t)
                let hzBlock = mul(c, transpose(H, m, n), n, n, m)
                let zzBlock = add(mul(H, hzBlock, m, n, m), s == t ? R : [Double](repeating: 0, count: m * m))
                for i in 0..<n { for j in 0..<n { hh[s * n + i][t * n + j] = c[i * n + j] } }
                for i in 0..<n { for j in 0..<m { hz[s * n + i][t * m + j] = hzBlock[i * m + j] } }
                for i in 0..<m { for j in 0..<m { zz[s * m + i][t * m + j] = zzBlock[i * m + j] } }
            }
        }
        return (means.flatMap { $0 }, means.flatMap { mul(H, $0, m, n, 1) }, hh, hz, zz)
    }

    /// E[h_t | z_1…z_k] and Cov[h_t | z_1…z_k] by exact conditioning on the first k observations.
    static func condition(_ t: Int, on k: Int) -> (mean: [Double], cov: [Double]) {
        let (hMean, zMean, hh, hz, zz) = joint()
        let obs = k * m
        let zzK = (0..<obs).flatMap { i in (0..<obs).map { zz[i][$0] } }
        let inverseZZ = Reference.inverse(zzK, obs)
        let residual = (0..<obs).map { z[$0 / m][$0 % m] - zMean[$0] }
        var mean = [Double](repeating: 0, count: n), cov = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            let row = t * n + i
            let weights = (0..<obs).map { j in (0..<obs).reduce(0.0) { $0 + hz[row][$1] * inverseZZ[$1 * obs + j] } }
            mean[i] = hMean[row] + zip(weights, residual).reduce(0) { $0 + $1.0 * $1.1 }
            for j in 0..<n { cov[i * n + j] = hh[row][t * n + j] - (0..<obs).reduce(0.0) { $0 + weights[$1] * hz[t * n + j][$1] } }
        }
        return (mean, cov)
    }

    @Test func filterSmootherAndLikelihoodMatchExactConditioning() {
        let output = Reference.kalmanFilter(Self.z, F: Self.F, H: Self.H, Q: Self.Q, R: Self.R, m0: Self.m0, P0: Self.P0)
        let smoothed = Reference.rtsSmoother(output, F: Self.F)
        for t in 0..<Self.steps {
            let filtered = Self.condition(t, on: t + 1), smoothedExact = Self.condition(t, on: Self.steps)
            for (a, b) in zip(output.filteredMeans[t], filtered.mean) { #expect(abs(a - b) < 1e-10) }
            for (a, b) in zip(output.filteredCovariances[t], filtered.cov) { #expect(abs(a - b) < 1e-10) }
            for (a, b) in zip(smoothed.means[t], smoothedExact.mean) { #expect(abs(a - b) < 1e-10) }
            for (a, b) in zip(smoothed.covariances[t], smoothedExact.cov) { #expect(abs(a - b) < 1e-10) }
        }
        // log p(z_1…z_T) = log N(z; zMean, zz).
        let (_, zMean, _, _, zz) = Self.joint()
        let obs = Self.steps * Self.m
        let matrix = zz.flatMap { $0 }
        let residual = (0..<obs).map { Self.z[$0 / Self.m][$0 % Self.m] - zMean[$0] }
        let solved = Reference.inverse(matrix, obs)
        let quadratic = (0..<obs).reduce(0.0) { sum, i in sum + residual[i] * (0..<obs).reduce(0.0) { $0 + solved[i * obs + $1] * residual[$1] } }
        let exact = -0.5 * (quadratic + Reference.logDeterminant(matrix, obs) + Double(obs) * log(2 * Double.pi))
        #expect(abs(output.logLikelihood - exact) < 1e-10, "\(output.logLikelihood) vs \(exact)")
    }

    static func mul(_ a: [Double], _ b: [Double], _ r: Int, _ k: Int, _ c: Int) -> [Double] {
        var out = [Double](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { for p in 0..<k { out[i * c + j] += a[i * k + p] * b[p * c + j] } } }
        return out
    }
    static func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }
    static func transpose(_ a: [Double], _ r: Int, _ c: Int) -> [Double] { (0..<(r * c)).map { a[($0 % r) * c + $0 / r] } }
}

import Foundation
import LDMEngine

extension Reference {
    /// act(x) in Double (relu, tanh, exact gelu, absolute value, log(x + 1e-5)).
    public static func activation(_ x: [Double], _ kind: Activation) -> [Double] {
        x.map { v in
            switch kind {
            case .relu: return max(v, 0)
            case .tanh: return Foundation.tanh(v)
            case .gelu: return 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot()))
            case .absolute: return abs(v)
            case .logShifted: return Foundation.log(v + 1e-5)
            }
        }
    }

    /// One optimiser step in Double: returns the new (parameter, first, second).
    public static func optimizerStep(_ p: [Double], _ g: [Double], first m: [Double], second v: [Double],
                                     _ step: OptimizerStep) -> ([Double], [Double], [Double]) {
        switch step {
        case let .adam(lr, beta1, beta2, epsilon, weightDecay, decoupled, t):
            let (b1, b2, rate, wd) = (Double(beta1), Double(beta2), Double(lr), Double(weightDecay))
            var (np, nm, nv) = (p, m, v)
            for i in p.indices {
                var value = p[i], gi = g[i]
                if decoupled { value -= rate * wd * value } else { gi += wd * value }
                nm[i] = b1 * m[i] + (1 - b1) * gi
                nv[i] = b2 * v[i] + (1 - b2) * gi * gi
                let mHat = nm[i] / (1 - pow(b1, Double(t))), vHat = nv[i] / (1 - pow(b2, Double(t)))
                np[i] = value - rate * mHat / (vHat.squareRoot() + Double(epsilon))
            }
            return (np, nm, nv)
        case let .sgd(lr, momentum, weightDecay):
            var (np, nm) = (p, m)
            for i in p.indices {
                nm[i] = Double(momentum) * m[i] + g[i] + Double(weightDecay) * p[i]
                np[i] = p[i] - Double(lr) * nm[i]
            }
            return (np, nm, v)
        }
    }
}

extension Reference {
    /// variance_features in Double: y_ij = (w_j·x_ij − m_i)², m_i = mean_j w_j·x_ij; returns (y, m).
    public static func varianceFeatures(_ x: [Double], _ w: [Double], rows: Int) -> (y: [Double], means: [Double]) {
        let f = w.count
        var y = [Double](repeating: 0, count: rows * f), means = [Double](repeating: 0, count: rows)
        for i in 0..<rows {
            let m = (0..<f).reduce(0.0) { $0 + w[$1] * x[i * f + $1] } / Double(f)
            means[i] = m
            for j in 0..<f { y[i * f + j] = (w[j] * x[i * f + j] - m) * (w[j] * x[i * f + j] - m) }
        }
        return (y, means)
    }
}

extension Reference {
    /// Batch normalisation in Double over the rows of x [rows, C] with the batch's biased variance; returns
    /// (y, μ, σ²).
    public static func batchNorm(_ x: [Double], gamma: [Double], beta: [Double], rows: Int, epsilon: Double = 1e-5)
        -> (y: [Double], mean: [Double], variance: [Double]) {
        let c = gamma.count
        let mean = (0..<c).map { j in (0..<rows).reduce(0.0) { $0 + x[$1 * c + j] } / Double(rows) }
        let variance = (0..<c).map { j in (0..<rows).reduce(0.0) { $0 + pow(x[$1 * c + j] - mean[j], 2) } / Double(rows) }
        let y = (0..<(rows * c)).map { e in
            let j = e % c
            return gamma[j] * (x[e] - mean[j]) / (variance[j] + epsilon).squareRoot() + beta[j]
        }
        return (y, mean, variance)
    }
}

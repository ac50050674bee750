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

extension Reference {
    /// The backward of ``varianceFeatures(_:_:rows:)`` in closed form: with h_ij = 2·(w_j·x_ij − m_i)·dy_ij and
    /// r_i = mean_j h_ij, ∂L/∂w_j = Σ_i x_ij·(h_ij − r_i) and ∂L/∂x_ij = w_j·(h_ij − r_i). (The tests hold it to
    /// central differences; the benchmarks validate against it on their full arrays.)
    public static func varianceFeaturesBackward(_ x: [Double], _ w: [Double], _ dy: [Double], rows: Int)
        -> (dw: [Double], dx: [Double]) {
        let f = w.count, means = varianceFeatures(x, w, rows: rows).means
        var dw = [Double](repeating: 0, count: f), dx = [Double](repeating: 0, count: rows * f)
        for i in 0..<rows {
            let h = (0..<f).map { 2 * (w[$0] * x[i * f + $0] - means[i]) * dy[i * f + $0] }
            let r = h.reduce(0, +) / Double(f)
            for j in 0..<f {
                dw[j] += x[i * f + j] * (h[j] - r)
                dx[i * f + j] = w[j] * (h[j] - r)
            }
        }
        return (dw, dx)
    }

    /// The training-mode backward of ``batchNorm(_:gamma:beta:rows:epsilon:)`` in closed form, per column with
    /// x̂ = (x − μ)/σ: ∂L/∂x = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), ∂L/∂γ = Σ dy·x̂, ∂L/∂β = Σ dy.
    public static func batchNormBackward(_ x: [Double], _ dy: [Double], gamma: [Double], rows: Int, epsilon: Double = 1e-5)
        -> (dx: [Double], dGamma: [Double], dBeta: [Double]) {
        let c = gamma.count, forward = batchNorm(x, gamma: gamma, beta: [Double](repeating: 0, count: c), rows: rows, epsilon: epsilon)
        var dx = [Double](repeating: 0, count: rows * c), dGamma = [Double](repeating: 0, count: c), dBeta = dGamma
        for j in 0..<c {
            let sigma = (forward.variance[j] + epsilon).squareRoot()
            let xhat = (0..<rows).map { (x[$0 * c + j] - forward.mean[j]) / sigma }
            let g = (0..<rows).map { dy[$0 * c + j] }
            dBeta[j] = g.reduce(0, +)
            dGamma[j] = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 }
            for i in 0..<rows {
                dx[i * c + j] = gamma[j] / sigma * (g[i] - dBeta[j] / Double(rows) - xhat[i] * dGamma[j] / Double(rows))
            }
        }
        return (dx, dGamma, dBeta)
    }

    /// The backward of ``softmaxRows(_:scale:_:)`` from its output y: `dx_i = scale·y_i ⊙ (dy_i − ⟨y_i, dy_i⟩)`.
    public static func softmaxRowsBackward(_ y: [Double], _ dy: [Double], scale: Double = 1, _ s: RowsShape) -> [Double] {
        (0..<s.rows).flatMap { i -> [Double] in
            let row = (i * s.columns)..<((i + 1) * s.columns)
            let inner = row.reduce(0.0) { $0 + y[$1] * dy[$1] }
            return row.map { scale * y[$0] * (dy[$0] - inner) }
        }
    }
}

extension Reference {
    /// Central finite differences of `f` at `x`, one coordinate at a time with step `step`·max(1, |x_i|): what every
    /// analytic gradient is held to (tests and benchmark validations alike).
    public static func centralDifferences(_ x: [Double], step: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var probe = x
        return x.indices.map { i in
            let h = step * max(1, abs(x[i]))
            probe[i] = x[i] + h
            let up = f(probe)
            probe[i] = x[i] - h
            let down = f(probe)
            probe[i] = x[i]
            return (up - down) / (2 * h)
        }
    }
}

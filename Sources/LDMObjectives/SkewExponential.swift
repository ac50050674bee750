import Foundation

/// Rotations parametrised as `W = exp(X)`, X skew-symmetric with `X[i, j] = p_k`, `X[j, i] = −p_k` for the k-th
/// pair i < j in row-major order (the ICA model's unmixing matrix). Host-side Double: the matrices are tiny.
public enum SkewExponential {
    /// The number of parameters of an n × n rotation, n(n − 1)/2.
    public static func parameterCount(_ n: Int) -> Int { n * (n - 1) / 2 }

    /// The skew-symmetric matrix X (n × n row-major) of parameters p.
    public static func skew(_ p: [Double], dimension n: Int) -> [Double] {
        var x = [Double](repeating: 0, count: n * n), k = 0
        for i in 0..<n {
            for j in (i + 1)..<n {
                x[i * n + j] = p[k]
                x[j * n + i] = -p[k]
                k += 1
            }
        }
        return x
    }

    /// W = exp(X(p)).
    public static func rotation(_ p: [Double], dimension n: Int) -> [Double] {
        exponential(skew(p, dimension: n), dimension: n)
    }

    /// ∂L/∂p given G = ∂L/∂W at W = exp(X(p)): the adjoint of the Fréchet derivative of exp, L(Xᵀ, G), read from
    /// the upper-right block of exp([[Xᵀ, G], [0, Xᵀ]]) (Mathias 1996), then folded onto the pairs i < j.
    public static func parameterGradient(_ p: [Double], dimension n: Int, weightGradient g: [Double]) -> [Double] {
        let x = skew(p, dimension: n), m = 2 * n
        var block = [Double](repeating: 0, count: m * m)
        for i in 0..<n {
            for j in 0..<n {
                block[i * m + j] = x[j * n + i]
                block[(i + n) * m + (j + n)] = x[j * n + i]
                block[i * m + (j + n)] = g[i * n + j]
            }
        }
        let e = exponential(block, dimension: m)
        var gradient: [Double] = []
        for i in 0..<n {
            for j in (i + 1)..<n { gradient.append(e[i * m + (j + n)] - e[j * m + (i + n)]) }
        }
        return gradient
    }

    /// exp(A) by scaling and squaring: a Taylor series of degree 18 on A/2^s with ‖A/2^s‖₁ ≤ 1/2, then s squarings
    /// (the truncation error is below 1e-20 relative, far under Double rounding).
    public static func exponential(_ a: [Double], dimension n: Int) -> [Double] {
        let norm = (0..<n).map { j in (0..<n).reduce(0) { $0 + abs(a[$1 * n + j]) } }.max() ?? 0
        let squarings = norm > 0.5 ? Int(ceil(log2(norm / 0.5))) : 0
        let scaled = a.map { $0 / pow(2, Double(squarings)) }
        var result = [Double](repeating: 0, count: n * n), term = result
        for i in 0..<n { result[i * n + i] = 1; term[i * n + i] = 1 }
        for order in 1...18 {
            term = multiply(term, scaled, n).map { $0 / Double(order) }
            for e in 0..<(n * n) { result[e] += term[e] }
        }
        for _ in 0..<squarings { result = multiply(result, result, n) }
        return result
    }

    static func multiply(_ a: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n where a[i * n + k] != 0 { for j in 0..<n { c[i * n + j] += a[i * n + k] * b[k * n + j] } } }
        return c
    }
}

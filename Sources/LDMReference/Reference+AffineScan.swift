import LDMEngine

extension Reference {
    /// The affine scan of ``AffineScanShape`` as its plain sequential recursion in Double: `x_t = A_t·x_{t−1} + u_t`
    /// (A_tᵀ when transposed; from x_T backwards when reversed), u and x `[T, B, n]`, A `[T, n, n]`.
    public static func affineScan<T: BinaryFloatingPoint>(_ u: [T], transitions a: [T], initial: [T]?, _ s: AffineScanShape)
        -> [Double] {
        let (steps, b, n) = (s.steps, s.batch, s.n)
        var x = [Double](repeating: 0, count: steps * b * n)
        var state = initial.map { $0.map { Double($0) } } ?? [Double](repeating: 0, count: b * n)
        for tau in 0..<steps {
            let t = s.reverse ? steps - 1 - tau : tau
            var next = [Double](repeating: 0, count: b * n)
            for q in 0..<b {
                for i in 0..<n {
                    var v = Double(u[(t * b + q) * n + i])
                    for j in 0..<n {
                        let entry = s.transposed ? a[(t * n + j) * n + i] : a[(t * n + i) * n + j]
                        v += Double(entry) * state[q * n + j]
                    }
                    next[q * n + i] = v
                }
            }
            state = next
            for e in 0..<(b * n) { x[t * b * n + e] = state[e] }
        }
        return x
    }
}

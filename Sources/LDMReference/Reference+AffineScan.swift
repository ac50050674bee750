import LDMEngine

extension Reference {
    /// The affine scan of ``AffineScanShape`` as its plain sequential recursion in Double: `x_t = A_t·x_{t−1} + u_t`
    /// (A_tᵀ when transposed; from x_T backwards when reversed), u and x `[T, B, n]`, A `[T, G, n, n]` with row q
    /// on group q / (B / G).
    public static func affineScan<T: BinaryFloatingPoint>(_ u: [T], transitions a: [T], initial: [T]?, _ s: AffineScanShape)
        -> [Double] {
        let (steps, b, n, g, perGroup) = (s.steps, s.batch, s.n, s.groups, s.rowsPerGroup)
        var x = [Double](repeating: 0, count: steps * b * n)
        var state = initial.map { $0.map { Double($0) } } ?? [Double](repeating: 0, count: b * n)
        for tau in 0..<steps {
            let t = s.reverse ? steps - 1 - tau : tau
            var next = [Double](repeating: 0, count: b * n)
            for q in 0..<b {
                for i in 0..<n {
                    var v = Double(u[(t * b + q) * n + i])
                    let matrix = (t * g + q / perGroup) * n * n
                    for j in 0..<n {
                        let entry = s.transposed ? a[matrix + j * n + i] : a[matrix + i * n + j]
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

/// Dense row-major operations on small float matrices (state and observation dimensions of a Kalman filter),
/// written as plain loops: at n ≤ 16 they beat any call overhead.
enum SmallMatrix {
    /// c = a (r × k) · b (k × c), or with bᵀ when `transposeB` (b stored c × k).
    static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ r: Int, _ k: Int, _ c: Int,
                         transposeB: Bool = false, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<r {
            for j in 0..<c {
                var total: Float = 0
                for p in 0..<k { total += a[i * k + p] * (transposeB ? b[j * k + p] : b[p * c + j]) }
                out[i * c + j] = total
            }
        }
    }

    /// In-place lower Cholesky factor of an n × n SPD matrix; false when a pivot is not positive.
    static func cholesky(_ a: UnsafeMutablePointer<Float>, _ n: Int) -> Bool {
        for j in 0..<n {
            var pivot = a[j * n + j]
            for p in 0..<j { pivot -= a[j * n + p] * a[j * n + p] }
            guard pivot > 0 else { return false }
            let root = pivot.squareRoot()
            a[j * n + j] = root
            for i in (j + 1)..<max(j + 1, n) {
                var value = a[i * n + j]
                for p in 0..<j { value -= a[i * n + p] * a[j * n + p] }
                a[i * n + j] = value / root
            }
            for i in 0..<j { a[i * n + j] = 0 }
        }
        return true
    }

    /// Solves L·Lᵀ·x = b in place for each of `columns` right-hand sides stored as the columns of b (n × columns).
    static func choleskySolve(_ l: UnsafePointer<Float>, _ n: Int, _ b: UnsafeMutablePointer<Float>, columns: Int) {
        for c in 0..<columns {
            for i in 0..<n {
                var value = b[i * columns + c]
                for p in 0..<i { value -= l[i * n + p] * b[p * columns + c] }
                b[i * columns + c] = value / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var value = b[i * columns + c]
                for p in (i + 1)..<max(i + 1, n) { value -= l[p * n + i] * b[p * columns + c] }
                b[i * columns + c] = value / l[i * n + i]
            }
        }
    }
}

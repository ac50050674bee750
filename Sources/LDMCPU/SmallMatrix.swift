import Foundation
import CBLAS

/// Dense row-major operations on small float matrices (state and observation dimensions of a Kalman filter),
/// written as plain loops: at n ≤ 16 they beat any call overhead.
enum SmallMatrix {
    /// c = a (r × k) · b (k × c), or with bᵀ when `transposeB`: plain loops for small products (call overhead
    /// dominates there), OpenBLAS from about 24³ multiply-adds up (the Kalman filter at d_s = 64).
    static func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ r: Int, _ k: Int, _ c: Int,
                        transposeB: Bool = false, into out: UnsafeMutablePointer<Float>) {
        if r * k * c >= 16_384 && r > 1 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(r), Int32(c), Int32(k),
                        1, a, Int32(k), b, Int32(transposeB ? k : c), 0, out, Int32(c))
        } else if transposeB {
            multiply(a, b, r, k, c, transposeB: true, into: out)
        } else {
            // i-p-j order: the inner loop runs along rows of b and out, which vectorises.
            for i in 0..<r {
                let row = out + i * c
                row.update(repeating: 0, count: c)
                for p in 0..<k {
                    let v = a[i * k + p], bp = b + p * c
                    for j in 0..<c { row[j] += v * bp[j] }
                }
            }
        }
    }

    /// out = aᵀ·b for n × n matrices.
    static func transposedProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int,
                                  into out: UnsafeMutablePointer<Float>) {
        if n * n * n >= 16_384 {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n),
                        0, out, Int32(n))
            return
        }
        out.update(repeating: 0, count: n * n)
        for p in 0..<n {
            for i in 0..<n {
                let v = a[p * n + i], bp = b + p * n, row = out + i * n
                for j in 0..<n { row[j] += v * bp[j] }
            }
        }
    }

    /// Factors the m × m matrix s into `factor` with the SPEC §9 jitter policy (1e-6·mean diagonal, ×10 per try);
    /// returns the jitter used, or nil when even the last try fails.
    static func factorWithJitter(_ s: UnsafePointer<Float>, _ m: Int, into factor: UnsafeMutablePointer<Float>,
                                 tries: Int) -> Float? {
        var meanDiagonal: Float = 0
        for i in 0..<m { meanDiagonal += s[i * m + i] / Float(m) }
        for attempt in 0...tries {
            let jitter: Float = attempt == 0 ? 0 : 1e-6 * meanDiagonal * Float(pow(10, Double(attempt - 1)))
            factor.update(from: s, count: m * m)
            for i in 0..<m { factor[i * m + i] += jitter }
            if cholesky(factor, m) { return jitter }
        }
        return nil
    }

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

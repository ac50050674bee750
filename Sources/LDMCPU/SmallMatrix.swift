import CBLAS
import Foundation

/// Dense row-major operations on small float matrices (state and observation dimensions of a Kalman filter).
/// Every loop nest keeps its innermost loop a multiply-add along contiguous rows (never a reduction), which the
/// compiler vectorises; products from about 24³ multiply-adds up go to OpenBLAS (d_s = 64).
enum SmallMatrix {
    static let blasThreshold = 16_384

    /// out = a (r × k) · b (k × c), or a·bᵀ when `transposeB` (b stored c × k).
    static func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ r: Int, _ k: Int, _ c: Int,
                        transposeB: Bool = false, into out: UnsafeMutablePointer<Float>) {
        if r * k * c >= blasThreshold && r > 1 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(r), Int32(c), Int32(k),
                        1, a, Int32(k), b, Int32(transposeB ? k : c), 0, out, Int32(c))
            return
        }
        guard transposeB else { return rowProduct(a, b, r, k, c, into: out) }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: k * c) { scratch in
            let bt = scratch.baseAddress!
            for j in 0..<c { for p in 0..<k { bt[p * c + j] = b[j * k + p] } }
            rowProduct(a, bt, r, k, c, into: out)
        }
    }

    /// out = aᵀ·b for a (k × r) and b (k × c): out is r × c.
    static func transposedProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ r: Int, _ c: Int,
                                  into out: UnsafeMutablePointer<Float>) {
        if r * k * c >= blasThreshold && r > 1 {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r), Int32(c), Int32(k), 1, a, Int32(r), b, Int32(c),
                        0, out, Int32(c))
            return
        }
        out.update(repeating: 0, count: r * c)
        for p in 0..<k {
            let bp = b + p * c
            for i in 0..<r {
                let v = a[p * r + i], row = out + i * c
                for j in 0..<c { row[j] += v * bp[j] }
            }
        }
    }

    /// The i-p-j product: each row of out accumulates scaled rows of b.
    private static func rowProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ r: Int, _ k: Int, _ c: Int,
                                   into out: UnsafeMutablePointer<Float>) {
        for i in 0..<r {
            let row = out + i * c
            row.update(repeating: 0, count: c)
            for p in 0..<k {
                let v = a[i * k + p], bp = b + p * c
                for j in 0..<c { row[j] += v * bp[j] }
            }
        }
    }

    /// From this order up, factorisations go to LAPACK's blocked `spotrf` (the scalar loop's inner dot products
    /// do not vectorise: at n = 64 it was a fifth of a Kalman covariance step).
    static let lapackOrder = 16

    /// In-place lower Cholesky factor of an n × n SPD matrix; false when a pivot is not positive.
    static func cholesky(_ a: UnsafeMutablePointer<Float>, _ n: Int) -> Bool {
        if n >= lapackOrder {
            // LAPACK is column-major: its upper factor U (A = UᵀU) read row-major is the lower L = Uᵀ.
            var size = Int32(n), lda = Int32(n), info: Int32 = 0
            var uplo = CChar(UInt8(ascii: "U"))
            spotrf_(&uplo, &size, a, &lda, &info)
            guard info == 0 else { return false }
            for i in 0..<n { for j in (i + 1)..<n { a[i * n + j] = 0 } }
            return true
        }
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

    /// Factors the m × m matrix s into `factor` with the docs/mathematics.md §9 jitter policy (1e-6·mean diagonal, ×10 per try);
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

    /// Solves L·Lᵀ·X = B in place for B (n × columns), all columns at once: each substitution step updates whole
    /// rows of B.
    static func choleskySolve(_ l: UnsafePointer<Float>, _ n: Int, _ b: UnsafeMutablePointer<Float>, columns: Int) {
        if n * n * columns >= blasThreshold {
            // L·Y = B, then Lᵀ·X = Y.
            cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(n), Int32(columns), 1,
                        l, Int32(n), b, Int32(columns))
            cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(columns), 1,
                        l, Int32(n), b, Int32(columns))
            return
        }
        for i in 0..<n {
            let row = b + i * columns
            for p in 0..<i {
                let v = l[i * n + p], other = b + p * columns
                for c in 0..<columns { row[c] -= v * other[c] }
            }
            let inverse = 1 / l[i * n + i]
            for c in 0..<columns { row[c] *= inverse }
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            let row = b + i * columns
            for p in (i + 1)..<max(i + 1, n) {
                let v = l[p * n + i], other = b + p * columns
                for c in 0..<columns { row[c] -= v * other[c] }
            }
            let inverse = 1 / l[i * n + i]
            for c in 0..<columns { row[c] *= inverse }
        }
    }
}

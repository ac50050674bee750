import CBLAS
import Foundation
import LDMEngine

/// cholesky (CPU twin of Kernels/cholesky.cl): LAPACK's `spotrf` per matrix with the docs/mathematics.md §9 jitter policy, and
/// triangular solves through `strsm`.
extension CPUBackend {
    /// Jitter tries before giving up (docs/mathematics.md §9).
    static let jitterTries = 5

    public func uncheckedCholesky(_ a: Tensor, into factor: Tensor, _ s: CholeskyShape) throws -> Float {
        let op = "cholesky \(s)"
        let pa = try floats(a, op), pf = try floats(factor, op)
        let n = s.n
        var largest: Float = 0
        for batch in 0..<s.batch {
            let source = pa + batch * n * n, target = pf + batch * n * n
            var meanDiagonal = 0.0
            for j in 0..<n { meanDiagonal += Double(source[j * n + j]) / Double(n) }
            var jitter: Float = 0
            var factored = false
            for attempt in 0...Self.jitterTries {
                if attempt > 0 { jitter = Float(1e-6 * meanDiagonal * pow(10, Double(attempt - 1))) }
                target.update(from: source, count: n * n)
                for j in 0..<n { target[j * n + j] += jitter }
                // LAPACK is column-major: its upper factor U (A = UᵀU) read row-major is the lower L = Uᵀ.
                var size = Int32(n), lda = Int32(n), info: Int32 = 0
                var uplo = CChar(UInt8(ascii: "U"))
                spotrf_(&uplo, &size, target, &lda, &info)
                if info == 0 {
                    factored = true
                    break
                }
            }
            guard factored else {
                throw LDMError.notPositiveDefinite(what: "matrix \(batch) of \(s)",
                                                   detail: "Cholesky failed even with jitter \(jitter) on the diagonal")
            }
            for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { target[i * n + j] = 0 } }
            largest = max(largest, jitter)
        }
        return largest
    }

    public func uncheckedTriangularSolve(_ factor: Tensor, _ b: Tensor, _ s: TriangularSolveShape) throws {
        let pl = try floats(factor, "triangularSolve"), pb = try floats(b, "triangularSolve")
        strsm(left: s.left, transposed: s.transposed, rows: s.rows, columns: s.columns, alpha: s.alpha, pl, ldl: s.n, pb,
              ldb: s.columns)
    }
}

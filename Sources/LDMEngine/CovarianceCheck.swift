/// Checks that a covariance matrix given by a user is one: symmetric and positive semi-definite (or definite,
/// where it is inverted). A non-symmetric Q would be used as given by some kernels and symmetrised by others, so
/// the filter's log-likelihood would match no symmetrisation of it; it is refused instead.
public enum CovarianceCheck {
    /// Allowed asymmetry |Σ_ij − Σ_ji| and negative eigenvalue, relative to the largest |entry|: float32 rounding
    /// of a matrix computed as symmetric stays well inside it.
    public static let tolerance = 1e-5

    /// Throws unless each of the `values.count / (n·n)` matrices n × n in `values` is symmetric within
    /// ``tolerance`` and positive semi-definite (its smallest eigenvalue ≥ −tolerance·max|Σ|), or, with
    /// `definite`, positive definite. `name` names the matrix in errors.
    public static func symmetric(_ values: [Float], _ n: Int, _ name: String, definite: Bool) throws {
        guard n >= 1, values.count % (n * n) == 0 else { return }
        let groups = values.count / (n * n)
        for g in 0..<groups {
            let a = values[(g * n * n)..<((g + 1) * n * n)].map(Double.init)
            let which = groups == 1 ? name : "\(name) of sequence \(g)"
            let scale = a.reduce(0) { max($0, abs($1)) }
            for i in 0..<n {
                for j in (i + 1)..<max(n, i + 1) where abs(a[i * n + j] - a[j * n + i]) > tolerance * scale {
                    throw LDMError.invalidArgument("\(which) is not symmetric: [\(i), \(j)] = \(a[i * n + j]) but [\(j), \(i)] = "
                        + "\(a[j * n + i]) (allowed difference \(tolerance) × the largest entry)")
                }
            }
            // Cholesky of the symmetric part, shifted by the tolerance for the semi-definite test: it succeeds
            // exactly when the smallest eigenvalue exceeds −shift.
            let shift = definite ? 0 : tolerance * max(scale, Double.leastNormalMagnitude)
            var l = [Double](repeating: 0, count: n * n)
            for j in 0..<n {
                var pivot = a[j * n + j] + shift
                for k in 0..<j { pivot -= l[j * n + k] * l[j * n + k] }
                guard pivot > 0, pivot.isFinite else {
                    if definite {
                        throw LDMError.notPositiveDefinite(what: which, detail: "its Cholesky pivot \(j) is \(pivot); it must be symmetric positive definite")
                    }
                    throw LDMError.invalidArgument("\(which) is not a covariance: it has an eigenvalue below −\(tolerance) × its "
                        + "largest entry (it must be symmetric positive semi-definite)")
                }
                l[j * n + j] = pivot.squareRoot()
                for i in (j + 1)..<max(n, j + 1) {
                    var v = 0.5 * (a[i * n + j] + a[j * n + i])
                    for k in 0..<j { v -= l[i * n + k] * l[j * n + k] }
                    l[i * n + j] = v / l[j * n + j]
                }
            }
        }
    }
}

import CBLAS
import Foundation
import LDMEngine

/// Evaluation metrics of docs/mathematics.md §7 (host-side, Double: the matrices are small).
public enum Metrics {
    /// A ridge-regression linear probe (closed form through a Cholesky solve) from features [N, f] to targets
    /// [N, k], with an intercept; returns the weights [(f + 1), k] (the last row is the intercept).
    public static func fitRidge(features: [Float], targets: [Float], rows: Int, lambda: Double = 1e-3) throws -> [Double] {
        let f = features.count / rows, k = targets.count / rows, p = f + 1
        var gram = [Double](repeating: 0, count: p * p), cross = [Double](repeating: 0, count: p * k)
        for r in 0..<rows {
            let x = (0..<p).map { $0 < f ? Double(features[r * f + $0]) : 1 }
            for i in 0..<p {
                for j in 0..<p { gram[i * p + j] += x[i] * x[j] }
                for j in 0..<k { cross[i * k + j] += x[i] * Double(targets[r * k + j]) }
            }
        }
        for i in 0..<f { gram[i * p + i] += lambda * Double(rows) }   // no penalty on the intercept
        gram[p * p - 1] += 1e-12
        guard let weights = solveSPD(gram, cross, p, k) else {
            throw LDMError.notPositiveDefinite(what: "the ridge probe's Gram matrix", detail: "features are degenerate")
        }
        return weights
    }

    /// R² of the probe per target dimension: 1 − SS_res / SS_tot on (features, targets). A target column that
    /// is constant (its spread below float32's resolution of its mean) has no R²: it is NaN, which
    /// ``Probe/r2PerDimension`` reports as undefined, rather than the ±1e271 that dividing by ~0 gives.
    public static func rSquared(weights: [Double], features: [Float], targets: [Float], rows: Int) -> [Double] {
        let f = features.count / rows, k = targets.count / rows
        return (0..<k).map { j in
            let mean = (0..<rows).reduce(0.0) { $0 + Double(targets[$1 * k + j]) } / Double(rows)
            var residual = 0.0, total = 0.0
            for r in 0..<rows {
                var prediction = weights[f * k + j]
                for i in 0..<f { prediction += Double(features[r * f + i]) * weights[i * k + j] }
                let y = Double(targets[r * k + j])
                residual += (y - prediction) * (y - prediction)
                total += (y - mean) * (y - mean)
            }
            let resolution = 1e-7 * abs(mean)
            guard total > 0, total > Double(rows) * resolution * resolution else { return .nan }
            return 1 - residual / total
        }
    }

    /// The probe's predictions [N, k].
    public static func predict(weights: [Double], features: [Float], rows: Int, outputs k: Int) -> [Float] {
        let f = features.count / rows
        return (0..<(rows * k)).map { e in
            let (r, j) = (e / k, e % k)
            var v = weights[f * k + j]
            for i in 0..<f { v += Double(features[r * f + i]) * weights[i * k + j] }
            return Float(v)
        }
    }

    /// A fitted and scored linear probe: R² per target dimension, their mean, and the test rows' predictions.
    public struct Probe: Sendable {
        /// R² per target dimension, NaN where the target is constant (undefined).
        public var r2: [Double]
        public var decoded: [Float]
        /// The mean over the dimensions where R² is defined (NaN when it is defined nowhere).
        public var meanR2: Double {
            let defined = r2.filter(\.isFinite)
            return defined.isEmpty ? .nan : defined.reduce(0, +) / Double(defined.count)
        }
        /// R² per dimension, nil where undefined (JSON null).
        public var r2PerDimension: [Double?] { r2.map { $0.isFinite ? $0 : nil } }
        /// The dimensions whose target is constant on the test rows.
        public var undefinedDimensions: [Int] { r2.indices.filter { !r2[$0].isFinite } }
    }

    /// The ridge probe of docs/mathematics.md §7: fitted on `train` (features [N, f], targets [N, k]) and scored on
    /// `test`, k = `outputs`.
    public static func ridgeProbe(train: (features: [Float], targets: [Float]), test: (features: [Float], targets: [Float]),
                                  outputs k: Int) throws -> Probe {
        let weights = try fitRidge(features: train.features, targets: train.targets, rows: train.targets.count / k)
        let rows = test.targets.count / k
        return Probe(r2: rSquared(weights: weights, features: test.features, targets: test.targets, rows: rows),
                     decoded: predict(weights: weights, features: test.features, rows: rows, outputs: k))
    }

    /// The rotation per step of a linear map with these eigenvalues: the angle of its largest complex pair
    /// (|atan2(im, re)|), 0 when every eigenvalue is real.
    public static func rotationPerStep(_ eigenvalues: [(re: Double, im: Double)]) -> Double {
        let leading = eigenvalues.filter { abs($0.im) > 1e-9 }.max { hypot($0.re, $0.im) < hypot($1.re, $1.im) }
        return leading.map { abs(atan2($0.im, $0.re)) } ?? 0
    }

    /// Eigenvalues as summary.json lists them ([re, im] pairs) and as the report prints them.
    public static func describe(_ eigenvalues: [(re: Double, im: Double)]) -> (pairs: [[Double]], text: String) {
        (eigenvalues.map { [$0.re, $0.im] },
         eigenvalues.map { String(format: "%.4f %@ %.4fi", $0.re, $0.im < 0 ? "−" : "+", abs($0.im)) }.joined(separator: ", "))
    }

    /// The eigenvalues (real, imaginary) of a square row-major matrix, by LAPACK's dgeev.
    public static func eigenvalues(_ a: [Float]) throws -> [(re: Double, im: Double)] {
        var n = Int32(Double(a.count).squareRoot().rounded())
        guard Int(n * n) == a.count, n > 0 else {
            throw LDMError.shapeMismatch(operation: "eigenvalues", detail: "\(a.count) entries is not a square matrix")
        }
        let size = Int(n)
        // Column-major copy.
        var matrix = (0..<(size * size)).map { Double(a[($0 % size) * size + $0 / size]) }
        var re = [Double](repeating: 0, count: size), im = re
        var lwork = Int32(8 * size), info: Int32 = 0, one: Int32 = 1, oneRight: Int32 = 1
        var work = [Double](repeating: 0, count: Int(lwork)), left = [Double](repeating: 0, count: 1), right = left
        var lda = n
        "N".withCString { jobvl in
            "N".withCString { jobvr in
                dgeev_(jobvl, jobvr, &n, &matrix, &lda, &re, &im, &left, &one, &right, &oneRight, &work, &lwork, &info)
            }
        }
        guard info == 0 else {
            throw LDMError.invalidArgument("eigenvalues: LAPACK dgeev failed with info \(info)")
        }
        return zip(re, im).map { ($0, $1) }
    }

    private static func solveSPD(_ a: [Double], _ b: [Double], _ n: Int, _ k: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var pivot = a[j * n + j]
            for p in 0..<j { pivot -= l[j * n + p] * l[j * n + p] }
            guard pivot > 0 else { return nil }
            l[j * n + j] = pivot.squareRoot()
            for i in (j + 1)..<max(j + 1, n) {
                var v = a[i * n + j]
                for p in 0..<j { v -= l[i * n + p] * l[j * n + p] }
                l[i * n + j] = v / l[j * n + j]
            }
        }
        var x = b
        for c in 0..<k {
            for i in 0..<n {
                var v = x[i * k + c]
                for p in 0..<i { v -= l[i * n + p] * x[p * k + c] }
                x[i * k + c] = v / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var v = x[i * k + c]
                for p in (i + 1)..<max(i + 1, n) { v -= l[p * n + i] * x[p * k + c] }
                x[i * k + c] = v / l[i * n + i]
            }
        }
        return x
    }
}

import Foundation
import LDMEngine

/// Metrics that compare representations up to the symmetries a method cannot fix (docs/mathematics.md §7): MCC after the best
/// matching of dimensions, linear CKA, and clustering accuracy after the best matching of clusters to labels.
/// Host-side, Double: the matrices are d × d or K × K.
extension Metrics {
    /// The assignment of each of `rows` rows to a distinct one of `columns` columns (rows ≤ columns) that minimises
    /// the summed cost (row-major [rows, columns]): the Hungarian method with potentials, O(rows²·columns).
    public static func hungarian(cost: [Double], rows n: Int, columns m: Int) throws -> [Int] {
        guard n >= 1, n <= m, cost.count == n * m, cost.allSatisfy(\.isFinite) else {
            throw LDMError.shapeMismatch(operation: "hungarian",
                                         detail: "need 1 ≤ rows ≤ columns and rows·columns finite costs, got \(n)×\(m) with \(cost.count) values")
        }
        // 1-based potentials u (rows), v (columns); owner[j] is the row matched to column j (0: none).
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: m + 1)
        var owner = [Int](repeating: 0, count: m + 1), previous = [Int](repeating: 0, count: m + 1)
        for row in 1...n {
            owner[0] = row
            var column = 0
            var slack = [Double](repeating: .infinity, count: m + 1), used = [Bool](repeating: false, count: m + 1)
            repeat {
                used[column] = true
                let current = owner[column]
                var delta = Double.infinity, next = 0
                for j in 1...m where !used[j] {
                    let reduced = cost[(current - 1) * m + (j - 1)] - u[current] - v[j]
                    if reduced < slack[j] { slack[j] = reduced; previous[j] = column }
                    if slack[j] < delta { delta = slack[j]; next = j }
                }
                for j in 0...m {
                    if used[j] { u[owner[j]] += delta; v[j] -= delta } else { slack[j] -= delta }
                }
                column = next
            } while owner[column] != 0
            // Augment along the alternating path back to the virtual column 0.
            repeat {
                let back = previous[column]
                owner[column] = owner[back]
                column = back
            } while column != 0
        }
        var assignment = [Int](repeating: -1, count: n)
        for j in 1...m where owner[j] != 0 { assignment[owner[j] - 1] = j - 1 }
        return assignment
    }

    /// Pearson correlations [p, q] between the columns of x [N, p] and y [N, q] (a constant column correlates 0).
    public static func correlations(_ x: [Float], _ y: [Float], rows: Int) throws -> [Double] {
        guard rows >= 2, x.count % rows == 0, y.count % rows == 0, !x.isEmpty, !y.isEmpty else {
            throw LDMError.shapeMismatch(operation: "correlations", detail: "need two [N, ·] matrices with N ≥ 2 rows, got \(x.count) and \(y.count) values for N = \(rows)")
        }
        let (a, p) = centred(x, rows: rows), (b, q) = centred(y, rows: rows)
        let normA = (0..<p).map { i in (0..<rows).reduce(0.0) { $0 + a[$1 * p + i] * a[$1 * p + i] }.squareRoot() }
        let normB = (0..<q).map { j in (0..<rows).reduce(0.0) { $0 + b[$1 * q + j] * b[$1 * q + j] }.squareRoot() }
        return (0..<(p * q)).map { e in
            let (i, j) = (e / q, e % q)
            guard normA[i] > 0, normB[j] > 0 else { return 0 }
            return (0..<rows).reduce(0.0) { $0 + a[$1 * p + i] * b[$1 * q + j] } / (normA[i] * normB[j])
        }
    }

    /// Mean correlation coefficient: the mean |Pearson correlation| between the dimensions of `estimate` [N, p]
    /// and `truth` [N, q] (p ≥ q) after the matching that maximises it (Hungarian); returns it with the matched
    /// estimate dimension of each true dimension.
    public static func meanCorrelationCoefficient(estimate: [Float], truth: [Float], rows: Int) throws -> (value: Double, matching: [Int]) {
        let p = estimate.count / max(rows, 1), q = truth.count / max(rows, 1)
        guard q <= p else {
            throw LDMError.shapeMismatch(operation: "MCC", detail: "the estimate has \(p) dimensions, fewer than the truth's \(q)")
        }
        let r = try correlations(truth, estimate, rows: rows)   // [q, p]
        let matching = try hungarian(cost: r.map { -abs($0) }, rows: q, columns: p)
        let value = matching.enumerated().reduce(0.0) { $0 + abs(r[$1.offset * p + $1.element]) } / Double(q)
        return (value, matching)
    }

    /// Top-1 retrieval accuracy: the share of rows i whose y_i is the nearest (Euclidean) of all rows of y to
    /// x_i, for paired x, y [N, d] (ties count as misses).
    public static func retrievalAccuracy(_ x: [Float], _ y: [Float], rows: Int) -> Double {
        guard rows >= 1, x.count == y.count, x.count % rows == 0 else { return 0 }
        let d = x.count / rows
        var hits = 0
        for i in 0..<rows {
            func distance(_ j: Int) -> Float { (0..<d).reduce(0) { $0 + (x[i * d + $1] - y[j * d + $1]) * (x[i * d + $1] - y[j * d + $1]) } }
            let own = distance(i)
            if !(0..<rows).contains(where: { $0 != i && distance($0) <= own }) { hits += 1 }
        }
        return Double(hits) / Double(rows)
    }

    /// Linear CKA (Kornblith et al. 2019) between x [N, p] and y [N, q], columns centred:
    /// ‖yᵀx‖²_F / (‖xᵀx‖_F·‖yᵀy‖_F), in [0, 1], invariant to orthogonal maps and isotropic scaling of either.
    public static func linearCKA(_ x: [Float], _ y: [Float], rows: Int) throws -> Double {
        guard rows >= 2, x.count % rows == 0, y.count % rows == 0, !x.isEmpty, !y.isEmpty else {
            throw LDMError.shapeMismatch(operation: "linearCKA", detail: "need two [N, ·] matrices with N ≥ 2 rows, got \(x.count) and \(y.count) values for N = \(rows)")
        }
        let (a, p) = centred(x, rows: rows), (b, q) = centred(y, rows: rows)
        func crossNormSquared(_ u: [Double], _ s: Int, _ w: [Double], _ t: Int) -> Double {
            var total = 0.0
            for i in 0..<s {
                for j in 0..<t {
                    let c = (0..<rows).reduce(0.0) { $0 + u[$1 * s + i] * w[$1 * t + j] }
                    total += c * c
                }
            }
            return total
        }
        let denominator = (crossNormSquared(a, p, a, p) * crossNormSquared(b, q, b, q)).squareRoot()
        guard denominator > 0 else {
            throw LDMError.invalidArgument("linearCKA: a representation is constant over the rows")
        }
        return crossNormSquared(b, q, a, p) / denominator
    }

    /// The most distinct cluster ids (and labels) ``clusteringAccuracy(clusters:labels:)`` matches: the Hungarian
    /// matching is cubic in their number (about 10 s at this size).
    public static let maximumDistinctIDs = 2_000

    /// `ids` renumbered 0, 1, … in the order of their sorted distinct values, with the number of distinct values:
    /// tables sized by this count, not by the largest id (one id of 10⁶ among 200 rows needs 200 entries, not 10⁶).
    public static func denseIDs(_ ids: [Int]) -> (ids: [Int], count: Int) {
        let distinct = Array(Set(ids)).sorted()
        let index = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
        return (ids.map { index[$0]! }, distinct.count)
    }

    /// The share of items whose cluster maps to their label under the best one-to-one matching of clusters to
    /// labels (Hungarian on the contingency table of the distinct ids); clusters beyond the labels' count match
    /// nothing. Ids need not be consecutive.
    public static func clusteringAccuracy(clusters: [Int], labels: [Int]) throws -> Double {
        guard !labels.isEmpty, clusters.count == labels.count, (clusters + labels).allSatisfy({ $0 >= 0 }) else {
            throw LDMError.shapeMismatch(operation: "clusteringAccuracy", detail: "need as many non-negative cluster ids as labels (\(clusters.count) vs \(labels.count))")
        }
        let (clusters, k) = denseIDs(clusters), (labels, l) = denseIDs(labels), size = max(k, l)
        guard size <= maximumDistinctIDs else {
            throw LDMError.invalidArgument("clustering accuracy: \(k) distinct cluster ids and \(l) distinct labels; "
                + "at most \(maximumDistinctIDs) of each are supported (the matching is cubic in their number)")
        }
        var table = [Double](repeating: 0, count: size * size)
        for (c, y) in zip(clusters, labels) { table[c * size + y] += 1 }
        let matching = try hungarian(cost: table.map { -$0 }, rows: size, columns: size)
        let matched = matching.enumerated().reduce(0.0) { $0 + table[$1.offset * size + $1.element] }
        return matched / Double(labels.count)
    }

    /// Columns minus their means, in Double; returns (values, columns).
    static func centred(_ x: [Float], rows: Int) -> ([Double], Int) {
        let p = x.count / rows
        var out = x.map(Double.init)
        for j in 0..<p {
            let mean = (0..<rows).reduce(0.0) { $0 + out[$1 * p + j] } / Double(rows)
            for r in 0..<rows { out[r * p + j] -= mean }
        }
        return (out, p)
    }
}

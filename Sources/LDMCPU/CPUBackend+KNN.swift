import CBLAS
import Foundation
import LDMEngine

/// knn (CPU): the Kozachenko–Leonenko entropy and its gradient.
///
/// Squared distances come in tiles from OpenBLAS (`‖x‖² + ‖y‖² − 2⟨x, y⟩`, one reusable buffer, never B × B);
/// each row keeps its k smallest by insertion. The k-th neighbour's distance is then recomputed exactly from
/// the difference of the two rows, so the expansion's rounding only affects which of two near-equal neighbours
/// is chosen. The gradient `c/(B·(ρ_i + 1e-8))·(z_i − z_n)/ρ_i` goes to row i and, negated, to its neighbour n,
/// added row by row on one thread (a row can be the neighbour of many): no atomics.
extension CPUBackend {
    public func uncheckedKnnEntropy(_ z: Tensor, gradient: Tensor, _ s: KNNShape) throws -> KNNResult {
        let op = "knnEntropy \(s)"
        let pz = try floats(z, op), pg = try floats(gradient, op)
        let (b, d, k) = (s.rows, s.dimension, s.k)

        let squaredNorms = Self.rowSquaredNorms(pz, rows: b, dimension: d, threads: threads)

        // Per row: the k smallest squared distances to other rows and their indices, ascending.
        var nearest = [Float](repeating: .infinity, count: b * k)
        var nearestIndex = [Int32](repeating: -1, count: b * k)
        let rowTile = Self.rowTile, columnTile = Self.columnTile
        let buffer = try makeTensor([min(rowTile, b) * min(columnTile, b)])
        let products = try floats(buffer, op)
        for r0 in stride(from: 0, to: b, by: rowTile) {
            let rb = min(rowTile, b - r0)
            for c0 in stride(from: 0, to: b, by: columnTile) {
                let cb = min(columnTile, b - c0)
                sgemm(transposeA: false, transposeB: true, m: rb, n: cb, k: d, alpha: 1,
                      pz + r0 * d, lda: d, pz + c0 * d, ldb: d, beta: 0, products, ldc: cb)
                nearest.withUnsafeMutableBufferPointer { best in
                    nearestIndex.withUnsafeMutableBufferPointer { bestIndex in
                        Parallel.forChunks(rb, threads: threads, costPerItem: cb) { rows in
                            for r in rows {
                                let i = r0 + r
                                let row = products + r * cb
                                for c in 0..<cb where c0 + c != i {
                                    let distance = squaredNorms[i] + squaredNorms[c0 + c] - 2 * row[c]
                                    guard distance < best[i * k + k - 1] else { continue }
                                    var slot = k - 1   // insertion into the sorted top k
                                    while slot > 0 && best[i * k + slot - 1] > distance {
                                        best[i * k + slot] = best[i * k + slot - 1]
                                        bestIndex[i * k + slot] = bestIndex[i * k + slot - 1]
                                        slot -= 1
                                    }
                                    best[i * k + slot] = distance
                                    bestIndex[i * k + slot] = Int32(c0 + c)
                                }
                            }
                        }
                    }
                }
            }
        }

        // ρ_i exactly, the detached quantile cap, the value.
        var rho = [Float](repeating: 0, count: b)
        for i in 0..<b {
            let n = Int(nearestIndex[i * k + k - 1])
            var total: Float = 0
            for t in 0..<d {
                let difference = pz[i * d + t] - pz[n * d + t]
                total += difference * difference
            }
            rho[i] = total.squareRoot()
        }
        let (cap, value) = s.capAndValue(rho.map(Double.init))

        pg.update(repeating: 0, count: b * d)
        // Rows above the cap get no gradient; at the cap itself it passes, as through PyTorch's clamp.
        for i in 0..<b where rho[i] <= cap && rho[i] > 0 {
            let n = Int(nearestIndex[i * k + k - 1])
            let weight = s.scale / Float(b) / (rho[i] + 1e-8) / rho[i]
            for t in 0..<d {
                let step = weight * (pz[i * d + t] - pz[n * d + t])
                pg[i * d + t] += step
                pg[n * d + t] -= step
            }
        }
        return KNNResult(value: value, cap: cap)
    }

    /// ‖p_i‖² for each of `rows` rows of length `dimension` (the distance expansions of knn and lse use them).
    static func rowSquaredNorms(_ p: UnsafeMutablePointer<Float>, rows: Int, dimension d: Int, threads: Int) -> [Float] {
        var norms = [Float](repeating: 0, count: rows)
        norms.withUnsafeMutableBufferPointer { out in
            Parallel.forChunks(rows, threads: threads, costPerItem: d) { range in
                for i in range {
                    var total: Float = 0
                    for t in 0..<d { total += p[i * d + t] * p[i * d + t] }
                    out[i] = total
                }
            }
        }
        return norms
    }
}

import Foundation
import LDMEngine

/// reduce (CPU twin of Kernels/reduce.cl): row-wise max, sum and Euclidean norm, and their backward (row
/// normalisation and softmax follow below).
/// Sums and norms accumulate in Double: as cheap as float here (the loop is memory-bound) and it makes the
/// norm immune to overflow of x². Eight independent accumulators keep the adds from waiting on each other.
extension CPUBackend {
    public func uncheckedReduceRows(_ x: Tensor, into out: Tensor, _ reduction: RowReduction, _ s: RowsShape) throws {
        let px = try floats(x, "reduceRows"), po = try floats(out, "reduceRows")
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: columns) { rows in
            for i in rows {
                let row = px + i * columns
                switch reduction {
                case .max:
                    var best = -Float.infinity
                    for j in 0..<columns where row[j] > best { best = row[j] }
                    po[i] = best
                case .sum:
                    po[i] = Float(Self.accumulate(row, columns) { Double($0) })
                case .norm:
                    po[i] = Float(Self.accumulate(row, columns) { Double($0) * Double($0) }.squareRoot())
                }
            }
        }
    }

    /// Σ_j term(row[j]) with eight interleaved Double partial sums.
    @inline(__always)
    static func accumulate(_ row: UnsafeMutablePointer<Float>, _ count: Int, _ term: (Float) -> Double) -> Double {
        var partial = SIMD8<Double>()
        var j = 0
        while j + 8 <= count {
            partial += SIMD8(term(row[j]), term(row[j + 1]), term(row[j + 2]), term(row[j + 3]),
                             term(row[j + 4]), term(row[j + 5]), term(row[j + 6]), term(row[j + 7]))
            j += 8
        }
        var total = partial.sum()
        while j < count {
            total += term(row[j])
            j += 1
        }
        return total
    }

    public func uncheckedReduceRowsBackward(_ x: Tensor, _ y: Tensor, _ gy: Tensor, into gx: Tensor,
                                   _ reduction: RowReduction, _ s: RowsShape) throws {
        let op = "reduceRowsBackward(\(reduction))"
        let px = try floats(x, op), py = try floats(y, op), pg = try floats(gy, op), pgx = try floats(gx, op)
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: columns) { rows in
            for i in rows {
                let row = px + i * columns, grad = pgx + i * columns
                switch reduction {
                case .sum:
                    grad.update(repeating: pg[i], count: columns)
                case .max:
                    grad.update(repeating: 0, count: columns)
                    if let j = (0..<columns).first(where: { row[$0] == py[i] }) { grad[j] = pg[i] }
                case .norm:
                    let scale = py[i] > 0 ? pg[i] / py[i] : 0
                    for j in 0..<columns { grad[j] = scale * row[j] }
                }
            }
        }
    }
}

/// Row normalisation (CPU twin of normalize_rows in Kernels/reduce.cl).
extension CPUBackend {
    static let normalizeEpsilon: Float = 1e-12

    public func uncheckedNormalizeRows(_ x: Tensor, into out: Tensor, norms: Tensor, _ s: RowsShape) throws {
        let op = "normalizeRows \(s)"
        let px = try floats(x, op), po = try floats(out, op), pn = try floats(norms, op)
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: columns) { rows in
            for i in rows {
                let row = px + i * columns
                let norm = Float(Self.accumulate(row, columns) { Double($0) * Double($0) }.squareRoot())
                let inverse = 1 / max(norm, Self.normalizeEpsilon)
                for j in 0..<columns { po[i * columns + j] = row[j] * inverse }
                pn[i] = norm
            }
        }
    }

    public func uncheckedNormalizeRowsBackward(_ out: Tensor, _ norms: Tensor, _ g: Tensor, into dx: Tensor,
                                      _ s: RowsShape) throws {
        let op = "normalizeRowsBackward \(s)"
        let po = try floats(out, op), pn = try floats(norms, op), pg = try floats(g, op), pdx = try floats(dx, op)
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: columns) { rows in
            for i in rows {
                let o = po + i * columns, grad = pg + i * columns, result = pdx + i * columns
                var dot = 0.0
                for j in 0..<columns { dot += Double(o[j]) * Double(grad[j]) }
                let norm = pn[i]
                if norm > Self.normalizeEpsilon {
                    for j in 0..<columns { result[j] = (grad[j] - o[j] * Float(dot)) / norm }
                } else {
                    for j in 0..<columns { result[j] = grad[j] / Self.normalizeEpsilon }
                }
            }
        }
    }
}

/// Row softmax (CPU twin of softmax_rows in Kernels/reduce.cl): the same running maximum, sums in Double.
extension CPUBackend {
    public func uncheckedSoftmaxRows(_ x: Tensor, into y: Tensor, scale: Float, _ s: RowsShape) throws {
        let op = "softmaxRows \(s)"
        let px = try floats(x, op), py = try floats(y, op)
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: 4 * columns) { rows in
            for i in rows {
                let row = px + i * columns, out = py + i * columns
                var largest = -Float.infinity
                for j in 0..<columns { largest = max(largest, scale * row[j]) }
                var total = 0.0
                for j in 0..<columns {
                    let e = Foundation.exp(scale * row[j] - largest)
                    out[j] = e
                    total += Double(e)
                }
                let inverse = Float(1 / total)
                for j in 0..<columns { out[j] *= inverse }
            }
        }
    }

    public func uncheckedSoftmaxRowsBackward(_ y: Tensor, _ dy: Tensor, into dx: Tensor, scale: Float, _ s: RowsShape) throws {
        let op = "softmaxRowsBackward \(s)"
        let py = try floats(y, op), pg = try floats(dy, op), pdx = try floats(dx, op)
        let columns = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: 2 * columns) { rows in
            for i in rows {
                let out = py + i * columns, grad = pg + i * columns, result = pdx + i * columns
                var dot = 0.0
                for j in 0..<columns { dot += Double(out[j]) * Double(grad[j]) }
                for j in 0..<columns { result[j] = scale * out[j] * (grad[j] - Float(dot)) }
            }
        }
    }
}

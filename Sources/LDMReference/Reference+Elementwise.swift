import Foundation
import LDMEngine

extension Reference {
    /// `a + b`.
    public static func add(_ a: [Float], _ b: [Float]) -> [Double] {
        zip(a, b).map { Double($0) + Double($1) }
    }

    /// `α·x`.
    public static func scale(_ x: [Float], by alpha: Float) -> [Double] {
        x.map { Double(alpha) * Double($0) }
    }

    /// `α·x + y`.
    public static func axpy(_ alpha: Float, _ x: [Float], _ y: [Float]) -> [Double] {
        zip(x, y).map { Double(alpha) * Double($0) + Double($1) }
    }

    /// Row-wise max, sum or Euclidean norm of a `rows × columns` matrix.
    public static func reduceRows<T: BinaryFloatingPoint>(_ x: [T], _ reduction: RowReduction, _ s: RowsShape) -> [Double] {
        (0..<s.rows).map { i in
            let row = x[(i * s.columns)..<((i + 1) * s.columns)].map { Double($0) }
            switch reduction {
            case .max: return row.max() ?? -.infinity
            case .sum: return row.reduce(0, +)
            case .norm: return sqrt(row.reduce(0) { $0 + $1 * $1 })
            }
        }
    }

    /// Gradient of `Σ_i gy_i · reduceRows(x)_i` with respect to x (first maximal entry for max; zero rows of
    /// a norm get zero).
    public static func reduceRowsBackward(_ x: [Float], _ gy: [Float], _ reduction: RowReduction,
                                          _ s: RowsShape) -> [Double] {
        var gx = [Double](repeating: 0, count: s.count)
        let y = reduceRows(x, reduction, s)
        for i in 0..<s.rows {
            let base = i * s.columns
            switch reduction {
            case .sum:
                for j in 0..<s.columns { gx[base + j] = Double(gy[i]) }
            case .max:
                if let j = (0..<s.columns).first(where: { Double(x[base + $0]) == y[i] }) {
                    gx[base + j] = Double(gy[i])
                }
            case .norm:
                guard y[i] > 0 else { continue }
                for j in 0..<s.columns { gx[base + j] = Double(gy[i]) * Double(x[base + j]) / y[i] }
            }
        }
        return gx
    }

    /// `x_i / max(‖x_i‖, 1e-12)` per row (PyTorch's `F.normalize`).
    public static func normalizeRows<T: BinaryFloatingPoint>(_ x: [T], _ s: RowsShape) -> [Double] {
        (0..<s.rows).flatMap { i -> [Double] in
            let row = x[(i * s.columns)..<((i + 1) * s.columns)].map { Double($0) }
            let norm = max(row.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return row.map { $0 / norm }
        }
    }

    /// `softmax(scale·x_i)` per row, through the row maximum.
    public static func softmaxRows<T: BinaryFloatingPoint>(_ x: [T], scale: Double = 1, _ s: RowsShape) -> [Double] {
        (0..<s.rows).flatMap { i -> [Double] in
            let row = x[(i * s.columns)..<((i + 1) * s.columns)].map { scale * Double($0) }
            let largest = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - largest) }
            let total = e.reduce(0, +)
            return e.map { $0 / total }
        }
    }

    /// The strided copy (or accumulation) of ``StridedCopyShape`` applied to `destination`, element by element.
    public static func stridedCopy<T: BinaryFloatingPoint>(_ source: [T], into destination: [T], _ s: StridedCopyShape) -> [Double] {
        var out = destination.map { Double($0) }
        for b in 0..<s.blocks {
            for r in 0..<s.rows {
                for j in 0..<s.width {
                    let from = s.source.offset + b * s.source.blockStride + r * s.source.rowStride + j
                    let to = s.destination.offset + b * s.destination.blockStride + r * s.destination.rowStride + j
                    out[to] = (s.accumulate ? out[to] : 0) + Double(source[from])
                }
            }
        }
        return out
    }

    /// Batched transpose of row-major `rows × columns` matrices.
    public static func transpose<T: BinaryFloatingPoint>(_ x: [T], _ s: TransposeShape) -> [Double] {
        var out = [Double](repeating: 0, count: s.count)
        for b in 0..<s.batch {
            for i in 0..<s.rows {
                for j in 0..<s.columns {
                    out[b * s.rows * s.columns + j * s.rows + i] = Double(x[b * s.rows * s.columns + i * s.columns + j])
                }
            }
        }
        return out
    }
}

import Foundation
import LDMEngine

extension Reference {
    /// `lse_i = log Σ_j exp(s_ij)` in Double (see `PairwiseLSEShape`), one row at a time with a running max.
    public static func pairwiseLSE<T: BinaryFloatingPoint>(_ x: [T], _ y: [T], _ s: PairwiseLSEShape) -> [Double] {
        let d = s.dimension, scale = Double(s.scale)
        return (0..<s.rows).map { i in
            logSumExp((0..<s.columns).filter { !s.excludeDiagonal || $0 != i }.map { j in
                var value = 0.0
                for k in 0..<d {
                    let xi = Double(x[i * d + k]), yj = Double(y[j * d + k])
                    value += s.kernel == .dot ? xi * yj : (xi - yj) * (xi - yj)
                }
                return s.kernel == .dot ? scale * value : -scale * value
            })
        }
    }
}

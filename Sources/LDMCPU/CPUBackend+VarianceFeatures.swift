import LDMEngine

/// variance_features (CPU twin of Kernels/variance_features.cl): the noise network's first stage.
extension CPUBackend {
    public func uncheckedVarianceFeatures(_ x: Tensor, _ w: Tensor, into y: Tensor, means: Tensor, _ s: RowsShape) throws {
        let op = "varianceFeatures \(s)"
        let px = try floats(x, op), pw = try floats(w, op), py = try floats(y, op), pm = try floats(means, op)
        let f = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: 3 * f) { range in
            for i in range {
                var sum: Float = 0
                for j in 0..<f { sum += pw[j] * px[i * f + j] }
                let mean = sum / Float(f)
                pm[i] = mean
                for j in 0..<f { let c = pw[j] * px[i * f + j] - mean; py[i * f + j] = c * c }
            }
        }
    }

    public func uncheckedVarianceFeaturesBackward(_ x: Tensor, _ w: Tensor, means: Tensor, _ dy: Tensor, gradientW: Tensor,
                                                  gradientX: Tensor?, _ s: RowsShape) throws {
        let op = "varianceFeaturesBackward \(s)"
        let px = try floats(x, op), pw = try floats(w, op), pm = try floats(means, op), pg = try floats(dy, op)
        let pdw = try floats(gradientW, op), pdx = try gradientX.map { try floats($0, op) }
        let (rows, f) = (s.rows, s.columns)
        // Per thread: a partial dw over its rows (h_ij − r_i needs the whole row first), summed after.
        let chunks = rows * f < 1 << 16 ? 1 : max(1, min(threads, rows))
        var partials = [Float](repeating: 0, count: chunks * f)
        partials.withUnsafeMutableBufferPointer { partial in
            let base = partial.baseAddress!
            Parallel.run(chunks) { c in
                let lower = rows * c / chunks, upper = rows * (c + 1) / chunks
                var h = [Float](repeating: 0, count: f)
                for i in lower..<upper {
                    var sum: Float = 0
                    for j in 0..<f {
                        h[j] = 2 * (pw[j] * px[i * f + j] - pm[i]) * pg[i * f + j]
                        sum += h[j]
                    }
                    let r = sum / Float(f)
                    for j in 0..<f { base[c * f + j] += px[i * f + j] * (h[j] - r) }
                    if let pdx { for j in 0..<f { pdx[i * f + j] = pw[j] * (h[j] - r) } }
                }
            }
        }
        for j in 0..<f { pdw[j] = (0..<chunks).reduce(0) { $0 + partials[$1 * f + j] } }
    }
}

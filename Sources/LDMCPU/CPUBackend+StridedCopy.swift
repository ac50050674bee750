import LDMEngine

/// strided_copy (CPU twin of Kernels/strided_copy.cl): runs of contiguous floats between strided layouts, copied
/// or added. Each thread takes whole runs; destination runs never overlap (checked), so no two threads write
/// the same element.
extension CPUBackend {
    public func uncheckedStridedCopy(_ source: Tensor, into destination: Tensor, _ s: StridedCopyShape) throws {
        let op = "stridedCopy \(s)"
        guard s.count > 0 else { return }
        let from = try floats(source, op), to = try floats(destination, op)
        let (width, rows) = (s.width, s.rows)
        Parallel.forChunks(s.blocks * rows, threads: threads, costPerItem: width) { runs in
            for run in runs {
                let (b, r) = (run / rows, run % rows)
                let input = from + s.source.offset + b * s.source.blockStride + r * s.source.rowStride
                let output = to + s.destination.offset + b * s.destination.blockStride + r * s.destination.rowStride
                if s.accumulate {
                    for j in 0..<width { output[j] += input[j] }
                } else {
                    output.update(from: input, count: width)
                }
            }
        }
    }
}

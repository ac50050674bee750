import LDMEngine
import LDMReference

/// strided_copy.cl: windows of 4 frames over a [256, 100, 64] batch gathered into a packed context matrix (CPC's
/// contexts), GB/s of what is read and written, validated against the Double reference. Its backward is the same
/// kernel with the layouts swapped (what the row times).
public enum StridedCopyBenchmark {
    public static func run(_ context: BenchmarkContext, sequences: Int = 256, steps: Int = 100, features: Int = 64,
                           window: Int = 4) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x737463)
        let z = generator.floats(sequences * steps * features), rows = steps - window + 1
        let shape = StridedCopyShape(blocks: sequences, rows: rows, width: window * features,
                                     source: StridedLayout(blockStride: steps * features, rowStride: features),
                                     destination: StridedLayout(blockStride: rows * window * features, rowStride: window * features))
        let tz = try backend.upload(z, shape: [sequences, steps, features]), out = try backend.makeTensor([shape.count])
        try backend.stridedCopy(tz, into: out, shape)
        let sample = StridedCopyShape(blocks: 2, rows: rows, width: window * features, source: shape.source, destination: shape.destination)
        let expected = Reference.stridedCopy(Array(z[0..<(2 * steps * features)]), into: [Float](repeating: 0, count: sample.count), sample)
        let error = Validation.relativeError(Array(try backend.download(out)[0..<sample.count]), expected)
        try Validation.check("strided_copy", "\(shape)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.stridedCopy(tz, into: out, shape) }
        return [Validation.row(context, "strided_copy windows", "\(sequences)x\(steps)x\(features) m=\(window)", timing,
                               bytes: 2.0 * 4 * Double(shape.count), error: error)]
    }
}

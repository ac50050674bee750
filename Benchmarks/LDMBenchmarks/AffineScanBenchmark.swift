import LDMEngine
import LDMReference

/// affine_scan.cl: x_t = A_t·x_{t−1} + u_t for B = 32 rows of n = 16 through T = 10 000 steps (the Kalman means of
/// a long sequence), with the backend's own choice of chunks, the sequential recursion (1 chunk) and a split into
/// √T = 100 chunks; GFLOP/s count the sequential recursion's 2·T·B·n² (the split form does about 2.5× that).
/// Validated against the Double reference.
public enum AffineScanBenchmark {
    public static func run(_ context: BenchmarkContext, steps: Int = 10_000, batch: Int = 32, n: Int = 16) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x7363616e)
        let u = generator.floats(steps * batch * n), noise = generator.floats(steps * n * n)
        let a = (0..<(steps * n * n)).map { e in 0.3 * noise[e] / Float(n).squareRoot() + ((e % (n * n)) / n == e % n ? 0.6 : 0) }
        let tu = try backend.upload(u, shape: [steps, batch, n]), ta = try backend.upload(a, shape: [steps, n, n])
        let x = try backend.makeTensor([steps, batch, n])
        let expected = Reference.affineScan(u, transitions: a, initial: nil, AffineScanShape(steps: steps, batch: batch, n: n))
        let chunkings = [(0, "auto"), (1, "1 chunk"), (Int(Double(steps).squareRoot()), "\(Int(Double(steps).squareRoot())) chunks")]
        return try chunkings.map { chunks, label in
            let shape = AffineScanShape(steps: steps, batch: batch, n: n, chunks: chunks)
            try backend.affineScan(tu, transitions: ta, into: x, shape)
            let error = Validation.relativeError(try backend.download(x), expected)
            try Validation.check("affine_scan", "\(shape)", error)
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
                try backend.affineScan(tu, transitions: ta, into: x, shape)
            }
            return Validation.row(context, "affine_scan", "T=\(steps) B=\(batch) n=\(n) \(label)", timing, flops: shape.flops,
                                  error: error)
        }
    }
}

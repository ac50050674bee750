import LDMEngine
import LDMReference

/// batch_norm.cl: forward (training statistics) + backward on a 4096 × 1024 activation (a projector layer), GB/s;
/// both directions validated against the Double reference on the whole arrays.
public enum BatchNormBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 4096, columns: Int = 1024) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x626e)
        let x = generator.floats(rows * columns), gamma = generator.floats(columns).map { 1 + 0.1 * $0 }
        let beta = generator.floats(columns), g = generator.floats(rows * columns)
        let shape = BatchNormShape(rows: rows, columns: columns)
        let tx = try backend.upload(x, shape: [rows, columns]), tg = try backend.upload(gamma, shape: [columns])
        let tb = try backend.upload(beta, shape: [columns]), dy = try backend.upload(g, shape: [rows, columns])
        let y = try backend.makeTensor([rows, columns]), dx = try backend.makeTensor([rows, columns])
        let (mean, variance) = (try backend.makeTensor([columns]), try backend.makeTensor([columns]))
        let (dGamma, dBeta) = (try backend.makeTensor([columns]), try backend.makeTensor([columns]))
        let run = {
            try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: mean, variance: variance, shape)
            try backend.batchNormBackward(tx, dy, gamma: tg, mean: mean, variance: variance, dx: dx, dGamma: dGamma, dBeta: dBeta, shape)
        }
        try run()
        let (x64, gamma64) = (x.map(Double.init), gamma.map(Double.init))
        let forward = Reference.batchNorm(x64, gamma: gamma64, beta: beta.map(Double.init), rows: rows).y
        let backward = Reference.batchNormBackward(x64, g.map(Double.init), gamma: gamma64, rows: rows)
        let error = max(Validation.relativeError(try backend.download(y), forward),
                        Validation.relativeError(try backend.download(dx), backward.dx),
                        Validation.relativeError(try backend.download(dGamma), backward.dGamma),
                        Validation.relativeError(try backend.download(dBeta), backward.dBeta))
        try Validation.check("batch_norm", "\(rows)x\(columns)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try run() }
        // Forward: x read twice for the statistics and once to apply, y written; backward: x and dy read for the
        // sums and again for dx, dx written.
        return [Validation.row(context, "batch_norm fwd+bwd", "\(rows)x\(columns)", timing, bytes: 9.0 * 4 * Double(rows * columns),
                               error: error)]
    }
}

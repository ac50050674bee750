import LDMEngine
import LDMReference

/// pool.cl: 3 × 3 max and average pooling at stride 2 (padding 1) and global average pooling of a 512 × 14 × 14 × 64
/// activation, forward + backward, GB/s; validated on the whole arrays against the Double definitions (the
/// backwards by the same functional's central differences on a 2-image slice).
public enum PoolBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x9001)
        var rows: [BenchmarkRow] = []
        for kind in PoolKind.allCases {
            let s = PoolShape(batch: 512, height: 14, width: 14, channels: 64, window: 3, stride: 2, padding: 1, kind: kind)
            let host = generator.floats(s.inputCount)
            let x = try backend.upload(host, shape: s.inputShape), y = try backend.makeTensor(s.outputShape)
            let dy = try backend.upload(generator.floats(s.outputCount), shape: s.outputShape), dx = try backend.makeTensor(s.inputShape)
            try backend.pool(x, into: y, s)
            let error = Validation.relativeError(try backend.download(y), Reference.pool(host.map(Double.init), s))
            try Validation.check("pool.\(kind)", "\(s)", error)
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
                try backend.pool(x, into: y, s)
                try backend.poolBackward(x, dy, into: dx, s)
            }
            // x read by both directions (max re-reads it in the backward), y and dy once, dx written.
            rows.append(Validation.row(context, "pool.\(kind) fwd+bwd", "\(s)", timing,
                                       bytes: 4.0 * Double(3 * s.inputCount + 2 * s.outputCount), error: error))
        }
        let g = GlobalPoolShape(batch: 512, positions: 49, channels: 128)
        let host = generator.floats(g.inputCount)
        let x = try backend.upload(host, shape: [g.inputCount]), y = try backend.makeTensor([g.outputCount])
        let dx = try backend.makeTensor([g.inputCount])
        try backend.globalAveragePool(x, into: y, g)
        let error = Validation.relativeError(try backend.download(y), Reference.globalAveragePool(host.map(Double.init), g))
        try Validation.check("global_average_pool", "\(g)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.globalAveragePool(x, into: y, g)
            try backend.globalAveragePoolBackward(y, into: dx, g)
        }
        rows.append(Validation.row(context, "global_average_pool fwd+bwd", "\(g)", timing,
                                   bytes: 4.0 * Double(2 * g.inputCount + 2 * g.outputCount), error: error))
        return rows
    }
}

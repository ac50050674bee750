import LDMEngine
import LDMReference

/// activation and optimizer micro-benchmarks (Kernels/activation.cl, Kernels/optimizer.cl and their CPU twins):
/// streaming kernels, reported in GB/s of the arrays they read and write. Each is validated against the Double
/// reference before it is timed.
public enum TrainingBenchmarks {
    /// GELU forward + backward on 2^24 elements.
    public static func activation(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x616374)
        let host = generator.floats(count)
        let x = try backend.upload(host, shape: [count]), y = try backend.makeTensor([count]), dx = try backend.makeTensor([count])
        try backend.activation(x, into: y, .gelu)
        let sample = Array(0..<4096)
        let got = try backend.download(y)
        let expected = Reference.activation(sample.map { Double(host[$0]) }, .gelu)
        let error = StreamBenchmarks.relativeError(sample.map { got[$0] }, expected)
        try StreamBenchmarks.check("activation.gelu", "\(count)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.activation(x, into: y, .gelu)
            try backend.activationBackward(x, y, into: dx, .gelu)
        }
        return StreamBenchmarks.row(context, "activation.gelu fwd+bwd", "\(count)", timing, bytes: 5.0 * 4 * Double(count), error: error)
    }

    /// One Adam step on 2^24 parameters.
    public static func adam(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6164616d)
        let hosts = (0..<4).map { _ in generator.floats(count) }.enumerated().map { $0.offset == 3 ? $0.element.map(abs) : $0.element }
        let tensors = try hosts.map { try backend.upload($0, shape: [count]) }
        let step = OptimizerStep.adam(lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4, decoupled: true, t: 1)
        try backend.optimizerStep(tensors[0], tensors[1], first: tensors[2], second: tensors[3], step)
        let sample = Array(0..<4096)
        let (expected, _, _) = Reference.optimizerStep(sample.map { Double(hosts[0][$0]) }, sample.map { Double(hosts[1][$0]) },
                                                       first: sample.map { Double(hosts[2][$0]) },
                                                       second: sample.map { Double(hosts[3][$0]) }, step)
        let got = try backend.download(tensors[0])
        let error = StreamBenchmarks.relativeError(sample.map { got[$0] }, expected)
        try StreamBenchmarks.check("optimizer.adam", "\(count)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.optimizerStep(tensors[0], tensors[1], first: tensors[2], second: tensors[3], step)
        }
        return StreamBenchmarks.row(context, "optimizer.adam", "\(count)", timing, bytes: 7.0 * 4 * Double(count), error: error)
    }

    /// variance_features forward + weight gradient on `rows` frames of 100 pixels (the noise network's first stage;
    /// a circular-inferred batch is 3 200 rows), validated against the Double reference first.
    public static func varianceFeatures(_ context: BenchmarkContext, rows: Int = 1 << 15, features: Int = 100) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x766172)
        let x = generator.floats(rows * features), w = generator.floats(features).map { 1 + 0.1 * $0 }
        let shape = RowsShape(rows: rows, columns: features)
        let tx = try backend.upload(x, shape: [rows, features]), tw = try backend.upload(w, shape: [features])
        let y = try backend.makeTensor([rows, features]), means = try backend.makeTensor([rows]), dw = try backend.makeTensor([features])
        try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
        let sampleRows = 64
        let expected = Reference.varianceFeatures(x[0..<(sampleRows * features)].map(Double.init), w.map(Double.init), rows: sampleRows).y
        let error = StreamBenchmarks.relativeError(Array(try backend.download(y)[0..<(sampleRows * features)]), expected)
        try StreamBenchmarks.check("variance_features", "\(rows)x\(features)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
            try backend.varianceFeaturesBackward(tx, tw, means: means, y, gradientW: dw, shape)
        }
        // Forward reads x and writes y; the backward reads x and dy twice (row terms, then weights).
        return StreamBenchmarks.row(context, "variance_features fwd+bwd", "\(rows)x\(features)", timing,
                                    bytes: 6.0 * 4 * Double(rows * features), error: error)
    }

    /// batch_norm forward (training statistics) + backward on a `rows × columns` activation (a projector layer of
    /// 4096 rows × 1024 features by default), validated against the Double reference first.
    public static func batchNorm(_ context: BenchmarkContext, rows: Int = 4096, columns: Int = 1024) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x626e)
        let x = generator.floats(rows * columns), gamma = generator.floats(columns).map { 1 + 0.1 * $0 }
        let beta = generator.floats(columns)
        let shape = BatchNormShape(rows: rows, columns: columns)
        let tx = try backend.upload(x, shape: [rows, columns]), tg = try backend.upload(gamma, shape: [columns])
        let tb = try backend.upload(beta, shape: [columns])
        let y = try backend.makeTensor([rows, columns]), dx = try backend.makeTensor([rows, columns])
        let (mean, variance) = (try backend.makeTensor([columns]), try backend.makeTensor([columns]))
        let (dGamma, dBeta) = (try backend.makeTensor([columns]), try backend.makeTensor([columns]))
        try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: mean, variance: variance, shape)
        let expected = Reference.batchNorm(x.map(Double.init), gamma: gamma.map(Double.init), beta: beta.map(Double.init), rows: rows).y
        let error = StreamBenchmarks.relativeError(try backend.download(y), expected)
        try StreamBenchmarks.check("batch_norm", "\(rows)x\(columns)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: mean, variance: variance, shape)
            try backend.batchNormBackward(tx, y, gamma: tg, mean: mean, variance: variance, dx: dx, dGamma: dGamma,
                                          dBeta: dBeta, shape)
        }
        // Forward: x read twice for the statistics and once to apply, y written; backward: x and dy read for the
        // sums and again for dx, dx written.
        return StreamBenchmarks.row(context, "batch_norm fwd+bwd", "\(rows)x\(columns)", timing,
                                    bytes: 9.0 * 4 * Double(rows * columns), error: error)
    }

    /// Row softmax forward + backward on `rows` rows of `columns` logits (a clustering head's output; 2^18 rows of
    /// 64 classes by default), validated against the Double reference first.
    public static func softmax(_ context: BenchmarkContext, rows: Int = 1 << 18, columns: Int = 64) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x736d78)
        let x = generator.floats(rows * columns).map { 3 * $0 }, shape = RowsShape(rows: rows, columns: columns)
        let tx = try backend.upload(x, shape: [rows, columns])
        let y = try backend.makeTensor([rows, columns]), dx = try backend.makeTensor([rows, columns])
        try backend.softmaxRows(tx, into: y, scale: 1, shape)
        let sampleRows = 64, sample = RowsShape(rows: sampleRows, columns: columns)
        let expected = Reference.softmaxRows(Array(x[0..<(sampleRows * columns)]), sample)
        let error = StreamBenchmarks.relativeError(Array(try backend.download(y)[0..<(sampleRows * columns)]), expected)
        try StreamBenchmarks.check("softmax", "\(rows)x\(columns)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.softmaxRows(tx, into: y, scale: 1, shape)
            try backend.softmaxRowsBackward(y, tx, into: dx, scale: 1, shape)
        }
        // Forward reads x twice and writes y (then rescales it in place); the backward reads y twice and dy once
        // (here x stands in for dy) and writes dx.
        return StreamBenchmarks.row(context, "softmax fwd+bwd", "\(rows)x\(columns)", timing,
                                    bytes: 9.0 * 4 * Double(rows * columns), error: error)
    }

    /// strided_copy: windows of `window` frames over a [sequences, steps, features] batch gathered into a packed
    /// context matrix (CPC's contexts), validated against the Double reference first; GB/s of what is read and
    /// written.
    public static func stridedCopy(_ context: BenchmarkContext, sequences: Int = 256, steps: Int = 100, features: Int = 64,
                                   window: Int = 4) throws -> BenchmarkRow {
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
        let error = StreamBenchmarks.relativeError(Array(try backend.download(out)[0..<sample.count]), expected)
        try StreamBenchmarks.check("strided_copy", "\(shape)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.stridedCopy(tz, into: out, shape) }
        return StreamBenchmarks.row(context, "strided_copy windows", "\(sequences)x\(steps)x\(features) m=\(window)", timing,
                                    bytes: 2.0 * 4 * Double(shape.count), error: error)
    }
}

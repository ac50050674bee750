import LDMEngine
import LDMReference

/// variance_features.cl: forward + backward (∂/∂w, as training takes it) on 2^15 frames of 100 pixels (a
/// circular-inferred batch is 3 200 rows), GB/s; both directions validated against the Double reference on the
/// whole arrays.
public enum VarianceFeaturesBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 1 << 15, features: Int = 100) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x766172)
        let x = generator.floats(rows * features), w = generator.floats(features).map { 1 + 0.1 * $0 }, g = generator.floats(rows * features)
        let shape = RowsShape(rows: rows, columns: features)
        let tx = try backend.upload(x, shape: [rows, features]), tw = try backend.upload(w, shape: [features])
        let dy = try backend.upload(g, shape: [rows, features])
        let y = try backend.makeTensor([rows, features]), means = try backend.makeTensor([rows]), dw = try backend.makeTensor([features])
        try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
        try backend.varianceFeaturesBackward(tx, tw, means: means, dy, gradientW: dw, shape)
        let (x64, w64) = (x.map(Double.init), w.map(Double.init))
        let error = max(Validation.relativeError(try backend.download(y), Reference.varianceFeatures(x64, w64, rows: rows).y),
                        Validation.relativeError(try backend.download(dw),
                                                 Reference.varianceFeaturesBackward(x64, w64, g.map(Double.init), rows: rows).dw))
        try Validation.check("variance_features", "\(rows)x\(features)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
            try backend.varianceFeaturesBackward(tx, tw, means: means, dy, gradientW: dw, shape)
        }
        // Forward reads x and writes y; the backward reads x and dy twice (row terms, then weights).
        return [Validation.row(context, "variance_features fwd+bwd", "\(rows)x\(features)", timing,
                               bytes: 6.0 * 4 * Double(rows * features), error: error)]
    }
}

import LDMEngine
import LDMReference

/// reduce.cl: row norms and row normalisation of a 16384 × 1024 matrix, and the row softmax forward + backward of
/// 2^18 rows of 64 logits (a clustering head); GB/s of the arrays read and written.
public enum ReduceBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        [try rowNorm(context), try normalize(context), try softmax(context)]
    }

    static func rowNorm(_ context: BenchmarkContext, rows: Int = 16384, columns: Int = 1024) throws -> BenchmarkRow {
        let backend = context.backend, s = RowsShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x6e6f726d)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([rows])
        try backend.reduceRows(x, into: out, .norm, s)
        let error = Validation.relativeError(try backend.download(out), Reference.reduceRows(hostX, .norm, s))
        try Validation.check("reduce.norm", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.reduceRows(x, into: out, .norm, s) }
        return Validation.row(context, "reduce.norm", s.description, timing, bytes: 4.0 * Double(s.count + rows), error: error)
    }

    /// Row normalisation (forward), as the sphere model applies to every embedding.
    static func normalize(_ context: BenchmarkContext, rows: Int = 16384, columns: Int = 1024) throws -> BenchmarkRow {
        let backend = context.backend, s = RowsShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x756e6974)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([rows, columns])
        let norms = try backend.makeTensor([rows])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        let error = Validation.relativeError(try backend.download(out), Reference.normalizeRows(hostX, s))
        try Validation.check("reduce.normalize", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.normalizeRows(x, into: out, norms: norms, s) }
        return Validation.row(context, "reduce.normalize", s.description, timing, bytes: 4.0 * Double(2 * s.count + rows), error: error)
    }

    /// Softmax forward + backward, both validated on 64 sample rows against the Double reference.
    static func softmax(_ context: BenchmarkContext, rows: Int = 1 << 18, columns: Int = 64) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x736d78)
        let x = generator.floats(rows * columns).map { 3 * $0 }, dy = generator.floats(rows * columns)
        let shape = RowsShape(rows: rows, columns: columns)
        let tx = try backend.upload(x, shape: [rows, columns]), tdy = try backend.upload(dy, shape: [rows, columns])
        let y = try backend.makeTensor([rows, columns]), dx = try backend.makeTensor([rows, columns])
        try backend.softmaxRows(tx, into: y, scale: 1, shape)
        try backend.softmaxRowsBackward(y, tdy, into: dx, scale: 1, shape)
        let sample = 64 * columns, sampleShape = RowsShape(rows: 64, columns: columns)
        let expected = Reference.softmaxRows(Array(x[0..<sample]), sampleShape)
        let expectedDx = Reference.softmaxRowsBackward(expected, dy[0..<sample].map(Double.init), sampleShape)
        let error = max(Validation.relativeError(Array(try backend.download(y)[0..<sample]), expected),
                        Validation.relativeError(Array(try backend.download(dx)[0..<sample]), expectedDx))
        try Validation.check("reduce.softmax", "\(rows)x\(columns)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.softmaxRows(tx, into: y, scale: 1, shape)
            try backend.softmaxRowsBackward(y, tdy, into: dx, scale: 1, shape)
        }
        // Forward reads x twice and writes y (then rescales it in place); the backward reads y twice and dy once
        // and writes dx.
        return Validation.row(context, "reduce.softmax fwd+bwd", "\(rows)x\(columns)", timing, bytes: 9.0 * 4 * Double(rows * columns),
                              error: error)
    }
}

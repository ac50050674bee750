import LDMEngine
import LDMReference

/// transpose.cl: a 4096 × 4096 matrix, GB/s of what is read and written.
public enum TransposeBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 4096, columns: Int = 4096) throws -> [BenchmarkRow] {
        let backend = context.backend
        let s = TransposeShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x7472616e)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([columns, rows])
        try backend.transpose(x, into: out, s)
        let error = Validation.relativeError(try backend.download(out), Reference.transpose(hostX, s))
        try Validation.check("transpose", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.transpose(x, into: out, s) }
        return [Validation.row(context, "transpose", s.description, timing, bytes: 8.0 * Double(s.count), error: error)]
    }
}

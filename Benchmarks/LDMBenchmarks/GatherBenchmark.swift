import LDMEngine
import LDMReference

/// gather.cl: a batch of 256 rows of 784 values picked from a 60 000-row table (one training step's images), GB/s
/// of the rows read and written; the gathered rows checked exactly.
public enum GatherBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 60_000, columns: Int = 784, count: Int = 256) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6a7)
        let table = generator.floats(rows * columns)
        let indices = (0..<count).map { _ in Float(Int(generator.uniform() * Double(rows))) }
        let shape = GatherShape(rows: rows, columns: columns, count: count)
        let tTable = try backend.upload(table, shape: [rows, columns]), tIndices = try backend.upload(indices, shape: [count])
        let out = try backend.makeTensor([count, columns])
        try backend.gatherRows(tTable, indices: tIndices, into: out, shape)
        let expected = Reference.gatherRows(table.map(Double.init), indices.map(Double.init), shape)
        let error = Validation.relativeError(try backend.download(out), expected)
        try Validation.check("gather_rows", "\(shape)", error, tolerance: 0)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.gatherRows(tTable, indices: tIndices, into: out, shape)
        }
        return [Validation.row(context, "gather_rows", "\(shape)", timing, bytes: 8.0 * Double(count * columns), error: error)]
    }
}

import LDMEngine
import LDMReference

/// Micro-benchmarks of the bandwidth-bound kernels: elementwise (axpy), reduce (row norms, row normalisation)
/// and transpose.
/// Each is validated against the Double reference first and reported in GB/s (inputs read once, outputs
/// written once).
public enum StreamBenchmarks {
    static let tolerance = 1e-5

    /// y = α·x + y over 16 Mi elements (64 MiB per array).
    public static func axpy(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x61787079)
        let hostX = generator.floats(count), hostY = generator.floats(count)
        let x = try backend.upload(hostX, shape: [count]), y = try backend.upload(hostY, shape: [count])
        try backend.axpy(0.5, x, y)
        let expected = Reference.axpy(0.5, hostX, hostY)
        let error = relativeError(try backend.download(y), expected)
        try check("elementwise.axpy", "\(count)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.axpy(1e-7, x, y) }
        return row(context, "elementwise.axpy", "\(count)", timing, bytes: 3.0 * 4 * Double(count), error: error)
    }

    /// Row norms of a 16384 × 1024 matrix.
    public static func rowNorm(_ context: BenchmarkContext, rows: Int = 16384, columns: Int = 1024) throws
        -> BenchmarkRow {
        let backend = context.backend
        let s = RowsShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x6e6f726d)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([rows])
        try backend.reduceRows(x, into: out, .norm, s)
        let error = relativeError(try backend.download(out), Reference.reduceRows(hostX, .norm, s))
        try check("reduce.norm", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.reduceRows(x, into: out, .norm, s)
        }
        return row(context, "reduce.norm", s.description, timing, bytes: 4.0 * Double(s.count + rows), error: error)
    }

    /// Row normalisation (forward) of a 16384 × 1024 matrix, as the sphere model applies to every embedding.
    public static func normalize(_ context: BenchmarkContext, rows: Int = 16384, columns: Int = 1024) throws
        -> BenchmarkRow {
        let backend = context.backend
        let s = RowsShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x756e6974)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([rows, columns])
        let norms = try backend.makeTensor([rows])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        let error = relativeError(try backend.download(out), Reference.normalizeRows(hostX, s))
        try check("reduce.normalize", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.normalizeRows(x, into: out, norms: norms, s)
        }
        return row(context, "reduce.normalize", s.description, timing, bytes: 4.0 * Double(2 * s.count + rows),
                   error: error)
    }

    /// Transpose of a 4096 × 4096 matrix.
    public static func transpose(_ context: BenchmarkContext, rows: Int = 4096, columns: Int = 4096) throws
        -> BenchmarkRow {
        let backend = context.backend
        let s = TransposeShape(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: 0x7472616e)
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [rows, columns]), out = try backend.makeTensor([columns, rows])
        try backend.transpose(x, into: out, s)
        let error = relativeError(try backend.download(out), Reference.transpose(hostX, s))
        try check("transpose", s.description, error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.transpose(x, into: out, s)
        }
        return row(context, "transpose", s.description, timing, bytes: 8.0 * Double(s.count), error: error)
    }

    static func relativeError(_ got: [Float], _ expected: [Double]) -> Double {
        var difference = 0.0, norm = 0.0
        for (g, e) in zip(got, expected) {
            difference += (Double(g) - e) * (Double(g) - e)
            norm += e * e
        }
        return (difference / max(norm, 1e-300)).squareRoot()
    }

    static func check(_ kernel: String, _ shape: String, _ error: Double) throws {
        guard error <= tolerance else {
            throw ValidationFailure(kernel: kernel, shape: shape, error: error, tolerance: tolerance)
        }
    }

    static func row(_ context: BenchmarkContext, _ kernel: String, _ shape: String, _ timing: Timing.Result,
                    bytes: Double, error: Double) -> BenchmarkRow {
        BenchmarkRow(kernel: kernel, backend: context.label, device: context.backend.info.deviceName, shape: shape,
                     secondsMedian: timing.median, secondsMin: timing.min, secondsMax: timing.max,
                     repeats: timing.samples.count, gflops: nil, gbPerSecond: bytes / timing.median / 1e9,
                     peakGflops: context.peakGflops, shareOfPeak: nil, validationError: error)
    }
}

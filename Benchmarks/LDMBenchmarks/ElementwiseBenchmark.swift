import LDMEngine
import LDMReference

/// elementwise.cl: y = α·x + y over 16 Mi elements (64 MiB per array), GB/s of the arrays read and written.
public enum ElementwiseBenchmark {
    public static func run(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x61787079)
        let hostX = generator.floats(count), hostY = generator.floats(count)
        let x = try backend.upload(hostX, shape: [count]), y = try backend.upload(hostY, shape: [count])
        try backend.axpy(0.5, x, y)
        let error = Validation.relativeError(try backend.download(y), Reference.axpy(0.5, hostX, hostY))
        try Validation.check("elementwise.axpy", "\(count)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try backend.axpy(1e-7, x, y) }
        return [Validation.row(context, "elementwise.axpy", "\(count)", timing, bytes: 3.0 * 4 * Double(count), error: error)]
    }
}

import LDMEngine
import LDMReference

/// cholesky.cl (CPUBackend+LogDet and +Cholesky, OpenCLBackend+Cholesky): value + gradient of the Gaussian log-det
/// entropy ½·log det(Cov(z) + εI), which factors and solves with it, B = 8192, d = 512 (d = 128 on OpenCL CPU
/// devices such as PoCL, whose single-work-group Cholesky is slow). The value is validated on a 2d-row subsample,
/// the gradient on a 20 × 4 instance against central differences of the Double reference.
public enum CholeskyBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        try cases(for: context.backend).map { try run(context, $0) }
    }

    public static func cases(for backend: any Backend) -> [LogDetShape] {
        let slowDevice = backend.info.kind == .opencl && backend.info.details["type"] == "CPU"
        return [LogDetShape(rows: 8192, dimension: slowDevice ? 128 : 512)]
    }

    public static func run(_ context: BenchmarkContext, _ s: LogDetShape) throws -> BenchmarkRow {
        let cpu = context.backend
        let rssBefore = PeakMemory.residentBytes()
        var generator = SeededGenerator(seed: 0x6c6f6764)
        let host = generator.floats(s.rows * s.dimension)
        let z = try cpu.upload(host, shape: [s.rows, s.dimension]), gradient = try cpu.makeTensor([s.rows, s.dimension])
        let result = try cpu.gaussianLogDet(z, gradient: gradient, s)
        // Validate on a 2d-row subsample against the Double reference (the full one costs B·d² in Double; fewer
        // than d rows would make the covariance singular).
        let subRows = min(s.rows, 2 * s.dimension), count = subRows * s.dimension
        let sub = LogDetShape(rows: subRows, dimension: s.dimension, epsilon: s.epsilon)
        let subZ = try cpu.upload(Array(host[0..<count]), shape: [subRows, s.dimension])
        let subValue = try cpu.gaussianLogDet(subZ, gradient: try cpu.makeTensor([subRows, s.dimension]), sub).value
        let expected = Reference.gaussianLogDetEntropy(host[0..<count].map(Double.init), d: s.dimension,
                                                       epsilon: Double(s.epsilon)) ?? .nan
        let error = abs(subValue - expected) / max(1, abs(expected))
        guard error <= 1e-4, result.value.isFinite else {
            throw ValidationFailure(kernel: "cholesky.logdet", shape: s.description, error: error, tolerance: 1e-4)
        }
        let small = LogDetShape(rows: 20, dimension: 4, epsilon: s.epsilon)
        var smallGenerator = SeededGenerator(seed: 0x6c6f6765)
        let smallZ = smallGenerator.floats(80), smallGradient = try cpu.makeTensor([20, 4])
        _ = try cpu.gaussianLogDet(try cpu.upload(smallZ, shape: [20, 4]), gradient: smallGradient, small)
        let gradientError = Validation.gradientError(try cpu.download(smallGradient), at: smallZ.map(Double.init)) {
            Reference.gaussianLogDetEntropy($0, d: 4, epsilon: Double(s.epsilon)) ?? .nan
        }
        try Validation.check("cholesky.logdet gradient", s.description, gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(cpu, minSeconds: context.minSeconds) {
            _ = try cpu.gaussianLogDet(z, gradient: gradient, s)
        }
        // syrk B·d² + two triangular solves 2·B·d² multiply-adds, Cholesky d³/3.
        let b = Double(s.rows), d = Double(s.dimension)
        let flops = 2 * (b * d * d / 2 + 2 * b * d * d) + d * d * d / 3
        let gflops = flops / timing.median / 1e9
        return BenchmarkRow(kernel: "cholesky.logdet forward+backward", backend: context.label, device: cpu.info.deviceName,
                            shape: s.description, secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: gflops, gbPerSecond: nil,
                            peakGflops: context.peakGflops, shareOfPeak: context.peakGflops.map { gflops / $0 },
                            validationError: max(error, gradientError), peakMemoryGrowthBytes: PeakMemory.residentBytes() - rssBefore)
    }
}

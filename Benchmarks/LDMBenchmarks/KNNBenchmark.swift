import LDMEngine
import LDMReference

/// knn.cl (CPUBackend+KNN, OpenCLBackend+KNN): value + gradient of the Kozachenko–Leonenko entropy, B = 4096,
/// d = 128, k = 3. The value is validated on a 512-row subsample, the gradient on a 40 × 3 instance against central
/// differences of the Double reference (its cap held fixed, as the kernel detaches it).
public enum KNNBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] { try cases.map { try run(context, $0) } }

    public static let cases = [KNNShape(rows: 4096, dimension: 128, k: 3)]

    public static func run(_ context: BenchmarkContext, _ s: KNNShape) throws -> BenchmarkRow {
        let cpu = context.backend
        let rssBefore = PeakMemory.residentBytes()
        var generator = SeededGenerator(seed: 0x6b6e6e)
        let host = generator.floats(s.rows * s.dimension)
        let z = try cpu.upload(host, shape: [s.rows, s.dimension]), gradient = try cpu.makeTensor([s.rows, s.dimension])
        let result = try cpu.knnEntropy(z, gradient: gradient, s)
        // Validate on a 512-row subsample against the Double reference (the full one is B² distances in Double).
        let sub = 512
        let subZ = try cpu.upload(Array(host[0..<(sub * s.dimension)]), shape: [sub, s.dimension])
        var subShape = s
        subShape.rows = sub
        let subValue = try cpu.knnEntropy(subZ, gradient: try cpu.makeTensor([sub, s.dimension]), subShape).value
        let expected = Reference.knnEntropy(host[0..<(sub * s.dimension)].map(Double.init), d: s.dimension, k: s.k,
                                            scale: Double(s.scale))
        let error = abs(subValue - expected) / max(1, abs(expected))
        guard error <= 1e-4, result.value.isFinite else {
            throw ValidationFailure(kernel: "knn", shape: s.description, error: error, tolerance: 1e-4)
        }
        let gradientError = try validateGradient(cpu, k: s.k, scale: s.scale)
        try Validation.check("knn gradient", s.description, gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(cpu, minSeconds: context.minSeconds) {
            _ = try cpu.knnEntropy(z, gradient: gradient, s)
        }
        let gflops = 2 * Double(s.rows) * Double(s.rows) * Double(s.dimension) / timing.median / 1e9
        return BenchmarkRow(kernel: "knn.forward+backward", backend: context.label, device: cpu.info.deviceName,
                            shape: s.description, secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: gflops, gbPerSecond: nil,
                            peakGflops: context.peakGflops, shareOfPeak: context.peakGflops.map { gflops / $0 },
                            validationError: max(error, gradientError), peakMemoryGrowthBytes: PeakMemory.residentBytes() - rssBefore)
    }

    static func validateGradient(_ backend: any Backend, k: Int, scale: Float) throws -> Double {
        let (b, d) = (40, 3)
        var generator = SeededGenerator(seed: 43)   // the parity test's instance: no neighbour changes within the differences
        let host = generator.floats(b * d)
        let gradient = try backend.makeTensor([b, d])
        let shape = KNNShape(rows: b, dimension: d, k: k, scale: scale)
        _ = try backend.knnEntropy(try backend.upload(host, shape: [b, d]), gradient: gradient, shape)
        let z = host.map(Double.init), cap = Reference.quantile(Reference.knnDistances(z, d: d, k: k), 0.9)
        return Validation.gradientError(try backend.download(gradient), at: z, step: 1e-6) {
            Reference.knnEntropy($0, d: d, k: k, scale: Double(scale), cap: cap)
        }
    }
}

import LDMEngine
import LDMReference

/// kalman micro-benchmark (kalman.cl / CPUBackend+Kalman*): forward + backward of the Kalman-LDM loss
/// (stop-gradient) for (B, T, d) with d_s = d_l = d, on any backend, validated on one sequence against the Double
/// reference first.
public enum KalmanBenchmark {
    public static let cases: [(batch: Int, steps: Int, dimension: Int)] = [(32, 100, 2), (32, 100, 10), (256, 100, 64), (4096, 100, 4)]

    public static func run(_ context: BenchmarkContext, batch: Int, steps: Int, dimension d: Int) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6b616c)
        var hostA = generator.floats(d * d).map { 0.1 * $0 / Float(d).squareRoot() }
        for i in 0..<d { hostA[i * d + i] += 0.9 }
        let parameters = try KalmanLDMParameters(A: hostA, logScale: -1)
        let hostZ = generator.floats(batch * steps * d)
        let z = try backend.upload(hostZ, shape: [batch, steps, d])
        // Validate the first sequence's loss against the Double reference.
        let one = try backend.kalmanLDMLoss(try backend.upload(Array(hostZ[0..<(steps * d)]), shape: [1, steps, d]), parameters)
        let sequence = (0..<steps).map { t in (0..<d).map { Double(hostZ[t * d + $0]) } }
        let expected = Reference.kalmanLDMLoss(filterZ: sequence, targetZ: sequence, A: hostA.map(Double.init),
                                               b: [Double](repeating: 0, count: d), logNoise: [Double](repeating: 0, count: d),
                                               logScale: -1)
        let error = abs(one.loss - expected) / max(1, abs(expected))
        guard error <= 1e-4 else { throw ValidationFailure(kernel: "kalman", shape: "\(batch)x\(steps)x\(d)", error: error, tolerance: 1e-4) }
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) {
            _ = try backend.kalmanLDMLoss(z, parameters)
        }
        return BenchmarkRow(kernel: "kalman.forward+backward", backend: context.label, device: backend.info.deviceName,
                            shape: "\(batch)x\(steps)x\(d)", secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: nil, gbPerSecond: nil,
                            peakGflops: context.peakGflops, shareOfPeak: nil, validationError: error)
    }
}

import LDMEngine
import LDMObjectives
import LDMReference

/// kalman.cl (CPUBackend+Kalman*, OpenCLBackend+Kalman): forward + backward of the Kalman-LDM loss (stop-gradient)
/// for (B, T, d) with d_s = d_l = d. The loss is validated on the first sequence against the Double reference, its
/// gradients (z, A) on a 2-sequence, 12-step instance against central differences of it. The long sequences are timed
/// in both forms of the means (`kalman.sequential`, `kalman.time-parallel`), the time-parallel one validated against
/// the sequential one (loss and ∂/∂z within 1e-4).
public enum KalmanBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        try cases.map { c in try run(context, batch: c.batch, steps: c.steps, dimension: c.dimension) }
            + longCases.flatMap { c in try timeParallelRows(context, batch: c.batch, steps: c.steps, dimension: c.dimension) }
    }

    public static let cases: [(batch: Int, steps: Int, dimension: Int)] = [(32, 100, 2), (32, 100, 10), (256, 100, 64), (4096, 100, 4)]
    /// Where the time-parallel means may pay: long sequences, few of them.
    public static let longCases: [(batch: Int, steps: Int, dimension: Int)] = [(32, 1000, 16), (32, 10_000, 16), (4, 10_000, 16)]

    /// The Kalman-LDM loss (forward + backward) with the sequential and the time-parallel means, one row each.
    public static func timeParallelRows(_ context: BenchmarkContext, batch: Int, steps: Int, dimension d: Int) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6b6174)
        var hostA = generator.floats(d * d).map { 0.1 * $0 / Float(d).squareRoot() }
        for i in 0..<d { hostA[i * d + i] += 0.9 }
        let parameters = try KalmanLDMParameters(A: hostA, logScale: -1)
        let z = try backend.upload(generator.floats(batch * steps * d), shape: [batch, steps, d])
        let sequential = try backend.kalmanLDMLoss(z, parameters, timeParallel: .off)
        let parallel = try backend.kalmanLDMLoss(z, parameters, timeParallel: .on)
        let error = max(abs(parallel.loss - sequential.loss) / max(1, abs(sequential.loss), Double(steps * d)),
                        Validation.relativeError(try backend.download(parallel.gradZ), try backend.download(sequential.gradZ).map(Double.init)))
        try Validation.check("kalman.time-parallel", "\(batch)x\(steps)x\(d)", error, tolerance: 1e-4)
        let theta = try backend.upload(parameters.packed, shape: [d * d + 2 * d + 1]), gradient = try backend.makeTensor(theta.shape)
        return try [KalmanTimeParallel.off, .on].map { form in
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) {
                _ = try backend.kalmanLDMLoss(z, packed: theta, stateDimension: d, gradient: gradient, timeParallel: form)
            }
            return BenchmarkRow(kernel: form == .on ? "kalman.time-parallel" : "kalman.sequential", backend: context.label,
                                device: backend.info.deviceName, shape: "\(batch)x\(steps)x\(d)", secondsMedian: timing.median,
                                secondsMin: timing.min, secondsMax: timing.max, repeats: timing.samples.count, gflops: nil,
                                gbPerSecond: nil, peakGflops: context.peakGflops, shareOfPeak: nil, validationError: error)
        }
    }

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
        let gradientError = try validateGradients(backend)
        try Validation.check("kalman gradients", "\(batch)x\(steps)x\(d)", gradientError, tolerance: Validation.gradientTolerance)
        // Timed as training runs it: θ and θ̄ stay on the device.
        let theta = try backend.upload(parameters.packed, shape: [d * d + 2 * d + 1]), gradient = try backend.makeTensor(theta.shape)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) {
            _ = try backend.kalmanLDMLoss(z, packed: theta, stateDimension: d, gradient: gradient)
        }
        return BenchmarkRow(kernel: "kalman.forward+backward", backend: context.label, device: backend.info.deviceName,
                            shape: "\(batch)x\(steps)x\(d)", secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: nil, gbPerSecond: nil,
                            peakGflops: context.peakGflops, shareOfPeak: nil, validationError: max(error, gradientError))
    }

    /// ∂loss/∂z and ∂loss/∂A of a [2, 12, 2] problem against central differences of the Double loss (the target z
    /// detached, as the stop-gradient form has it).
    static func validateGradients(_ backend: any Backend) throws -> Double {
        let (b, t, d) = (2, 12, 2)
        var generator = SeededGenerator(seed: 0x6b616d)
        let hostA: [Float] = [0.9, -0.2, 0.2, 0.9], hostZ = generator.floats(b * t * d)
        let result = try backend.kalmanLDMLoss(try backend.upload(hostZ, shape: [b, t, d]), try KalmanLDMParameters(A: hostA, logScale: -1))
        let z = hostZ.map(Double.init), a = hostA.map(Double.init), zeros = [Double](repeating: 0, count: d)
        let sequences = { (v: [Double]) in (0..<b).map { q in (0..<t).map { s in (0..<d).map { v[(q * t + s) * d + $0] } } } }
        let loss = { (filterZ: [Double], A: [Double]) -> Double in
            zip(sequences(filterZ), sequences(z)).reduce(0.0) {
                $0 + Reference.kalmanLDMLoss(filterZ: $1.0, targetZ: $1.1, A: A, b: zeros, logNoise: zeros, logScale: -1)
            } / Double(b)
        }
        return max(Validation.gradientError(try backend.download(result.gradZ), at: z) { loss($0, a) },
                   Validation.gradientError(result.gradA, at: a) { loss(z, $0) })
    }
}

import LDMEngine
import LDMObjectives
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
        // Timed as training runs it: θ and θ̄ stay on the device.
        let theta = try backend.upload(parameters.packed, shape: [d * d + 2 * d + 1]), gradient = try backend.makeTensor(theta.shape)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) {
            _ = try backend.kalmanLDMLoss(z, packed: theta, stateDimension: d, gradient: gradient)
        }
        return BenchmarkRow(kernel: "kalman.forward+backward", backend: context.label, device: backend.info.deviceName,
                            shape: "\(batch)x\(steps)x\(d)", secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: nil, gbPerSecond: nil,
                            peakGflops: context.peakGflops, shareOfPeak: nil, validationError: error)
    }

    /// kalman_ldm_parameters: unpack (A, Q, b − A·b), shift ℓ by s for a [B, T, d_l] batch, and pack θ̄ from G
    /// groups' sums, for state dimension n — the per-step cost of keeping the filter parameters on the device
    /// (a latency, not a throughput), validated against the Double reference first.
    public static func parameters(_ context: BenchmarkContext, n: Int = 10, groups: Int = 32, steps: Int = 100,
                                  latent: Int = 5) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x706172)
        let hostTheta = generator.floats(n * n + 2 * n + 1).map { 0.3 * $0 }
        let theta = try backend.upload(hostTheta, shape: [n * n + 2 * n + 1])
        let a = try backend.makeTensor([n, n]), q = try backend.makeTensor([n, n]), offset = try backend.makeTensor([n])
        let logNoise = try backend.upload(generator.floats(groups * steps * latent), shape: [groups, steps, latent])
        let shifted = try backend.makeTensor(logNoise.shape)
        let covariances = try KalmanLDMCovarianceGradients(groups: groups, steps: steps, n: n, m: latent, on: backend)
        let hostC = generator.floats(groups * n * n), hostQ = generator.floats(groups * n)
        let hostV = generator.floats(n), hostM = generator.floats(n * n)
        try backend.write(hostC, to: covariances.gradA)
        try backend.write(hostQ, to: covariances.gradLogQ)
        let sums = KalmanLDMReverseSums(hBarSum: try backend.upload(hostV, shape: [n]), meanGradA: try backend.upload(hostM, shape: [n, n]),
                                        covariances: covariances, groups: groups, logRSum: try backend.upload([0.5], shape: [1]))
        let gradient = try backend.makeTensor(theta.shape)
        try backend.kalmanLDMUnpack(theta, n: n, A: a, Q: q, offset: offset)
        try backend.kalmanLDMPackGradient(theta, n: n, sums: sums, batch: groups, into: gradient)
        let theta64 = hostTheta.map(Double.init)
        let unpacked = Reference.kalmanLDMUnpack(theta64, n: n)
        let packed = Reference.kalmanLDMPackGradient(theta64, n: n, v: hostV.map(Double.init), M: hostM.map(Double.init),
                                                     C: hostC.map(Double.init), q: hostQ.map(Double.init), rho: 0.5,
                                                     groups: groups, batch: groups)
        let error = max(StreamBenchmarks.relativeError(try backend.download(q), unpacked.Q),
                        StreamBenchmarks.relativeError(try backend.download(offset), unpacked.offset),
                        StreamBenchmarks.relativeError(try backend.download(gradient), packed))
        try StreamBenchmarks.check("kalman_ldm_parameters", "n\(n)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.kalmanLDMUnpack(theta, n: n, A: a, Q: q, offset: offset)
            try backend.kalmanLDMShiftLogNoise(theta, n: n, logNoise: logNoise, into: shifted)
            try backend.kalmanLDMPackGradient(theta, n: n, sums: sums, batch: groups, into: gradient)
        }
        // Bytes: the shift dominates (ℓ read, ℓ' written); unpack and pack touch a few hundred floats.
        return StreamBenchmarks.row(context, "kalman_ldm_parameters unpack+shift+pack", "n\(n) G\(groups) \(groups)x\(steps)x\(latent)",
                                    timing, bytes: 8.0 * Double(logNoise.count), error: error)
    }
}

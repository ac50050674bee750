import LDMEngine
import LDMObjectives
import LDMReference

/// kalman_ldm_parameters.cl (CPUBackend+KalmanLDMParameters, OpenCLBackend+KalmanLDMParameters): the per-step cost of
/// keeping the filter parameters on the device, validated against the Double reference first.
public enum KalmanLDMParametersBenchmark {
    /// kalman_ldm_parameters: unpack (A, Q, b − A·b), shift ℓ by s for a [B, T, d_l] batch, and pack θ̄ from G
    /// groups' sums, for state dimension n — the per-step cost of keeping the filter parameters on the device
    /// (a latency, not a throughput), validated against the Double reference first.
    public static func run(_ context: BenchmarkContext, n: Int = 10, groups: Int = 32, steps: Int = 100,
                                  latent: Int = 5) throws -> [BenchmarkRow] {
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
        let error = max(Validation.relativeError(try backend.download(q), unpacked.Q),
                        Validation.relativeError(try backend.download(offset), unpacked.offset),
                        Validation.relativeError(try backend.download(gradient), packed))
        try Validation.check("kalman_ldm_parameters", "n\(n)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.kalmanLDMUnpack(theta, n: n, A: a, Q: q, offset: offset)
            try backend.kalmanLDMShiftLogNoise(theta, n: n, logNoise: logNoise, into: shifted)
            try backend.kalmanLDMPackGradient(theta, n: n, sums: sums, batch: groups, into: gradient)
        }
        // Bytes: the shift dominates (ℓ read, ℓ' written); unpack and pack touch a few hundred floats.
        return [Validation.row(context, "kalman_ldm_parameters unpack+shift+pack", "n\(n) G\(groups) \(groups)x\(steps)x\(latent)",
                                    timing, bytes: 8.0 * Double(logNoise.count), error: error)]
    }
}

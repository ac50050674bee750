import Foundation
import LDMEngine
import LDMReference

/// kalman_scan.cl (with kalman_covariance_forward in chunks): the covariance recursion of the Kalman-LDM loss with
/// a noise predicted per step, G = 32 groups (one per sequence), T = 10 000 steps, n = m = 16, H = [I 0]: the
/// sequential recursion (1 chunk), the backend's choice for `--time-parallel on`, and √T = 100 chunks. The
/// sequential tape's P_t of the first group over its first 300 steps is validated against the Double recursion, and
/// every chunked tape against the sequential one (1e-4). Then the Kalman-LDM reverse pass through that tape
/// (`kalman_scan.reverse`), each split's ∂/∂A and ∂/∂log R validated against one chunk's (1e-4).
public enum KalmanScanBenchmark {
    public static func run(_ context: BenchmarkContext, groups g: Int = 32, steps t: Int = 10_000, n: Int = 16) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6b7363)
        var f = generator.floats(n * n).map { 0.1 * $0 / Float(n).squareRoot() }
        for i in 0..<n { f[i * n + i] += 0.9 }
        let identity = (0..<(n * n)).map { $0 / n == $0 % n ? Float(1) : 0 }
        let q = identity.map { 0.05 * $0 }
        let logNoise = generator.floats(g * t * n).map { log(0.2) + 0.5 * $0 }
        let inputs = KalmanCovarianceInputs(
            F: try backend.upload(f, shape: [n, n]), H: try backend.upload(identity, shape: [n, n]),
            Q: try backend.upload(q, shape: [1, n, n]), qGroups: 1,
            R: .logDiagonal(try backend.upload(logNoise, shape: [g, t, n]), groups: g, steps: t, extra: 0),
            P0: try backend.upload(identity, shape: [n, n]), groups: g, steps: t, n: n, m: n)
        let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: n, on: backend)
        _ = try backend.kalmanCovarianceForward(inputs, into: tape, chunks: 1)
        let sequential = try backend.download(tape.filtered)
        let checked = min(t, 300)
        let noise = { (step: Int) -> [Double] in
            (0..<(n * n)).map { e -> Double in e / n == e % n ? Foundation.exp(Double(logNoise[step * n + e / n])) : 0 }
        }
        let (fd, id, qd) = (f.map(Double.init), identity.map(Double.init), q.map(Double.init))
        let expected = Reference.kalmanFilteredCovariances(F: fd, H: id, Q: qd, P0: id, steps: checked, noise: noise)
        var firstGroup = [Float]()
        for step in 0..<checked { firstGroup += sequential[(step * g * n * n)..<((step * g + 1) * n * n)] }
        let referenceError = Validation.relativeError(firstGroup, expected.flatMap { $0 })
        try Validation.check("kalman_scan", "1 chunk vs Double", referenceError)
        let root = Int(Double(t).squareRoot().rounded(.up))
        let chunkings = [(1, "1 chunk"), (backend.kalmanCovarianceChunks(groups: g, steps: t, n: n), "auto"), (root, "\(root) chunks")]
        let forward = try chunkings.map { chunks, label in
            _ = try backend.kalmanCovarianceForward(inputs, into: tape, chunks: chunks)
            let error = max(referenceError, Validation.relativeError(try backend.download(tape.filtered), sequential.map(Double.init)))
            try Validation.check("kalman_scan", "\(chunks) chunks", error, tolerance: 1e-4)
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) {
                _ = try backend.kalmanCovarianceForward(inputs, into: tape, chunks: chunks)
            }
            return Validation.row(context, "kalman_scan", "G=\(g) T=\(t) n=\(n) \(label) (\(chunks))", timing, flops: nil, error: error)
        }
        // The Kalman-LDM reverse pass through that tape (seeds as a batch of 4 sequences per group would give them),
        // each split validated against one chunk.
        _ = try backend.kalmanCovarianceForward(inputs, into: tape, chunks: 1)
        let seedC = try backend.upload(generator.floats(t * g * n * n).map { 0.1 * $0 }, shape: [t, g, n, n])
        let seedS = try backend.upload(generator.floats(t * g * n * n).map { 0.1 * $0 }, shape: [t, g, n, n])
        let gradients = try KalmanLDMCovarianceGradients(groups: g, steps: t, n: n, m: n, on: backend)
        let reverse = { (chunks: Int) throws in
            try backend.kalmanLDMCovarianceBackward(inputs, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: 4, into: gradients,
                                                    chunks: chunks)
        }
        try reverse(1)
        let expectedA = try backend.download(gradients.gradA).map(Double.init)
        let expectedR = try backend.download(gradients.gradLogR).map(Double.init)
        let backward = try chunkings.map { chunks, label in
            try reverse(chunks)
            let error = max(Validation.relativeError(try backend.download(gradients.gradA), expectedA),
                            Validation.relativeError(try backend.download(gradients.gradLogR), expectedR))
            try Validation.check("kalman_scan.reverse", "\(chunks) chunks", error, tolerance: 1e-4)
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds, minRepeats: 3) { try reverse(chunks) }
            return Validation.row(context, "kalman_scan.reverse", "G=\(g) T=\(t) n=\(n) \(label) (\(chunks))", timing, flops: nil,
                                  error: error)
        }
        return forward + backward
    }
}

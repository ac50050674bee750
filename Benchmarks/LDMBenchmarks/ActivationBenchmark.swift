import LDMEngine
import LDMReference

/// activation.cl: GELU forward + backward on 2^24 elements, GB/s; both directions validated on 4096 samples (the
/// derivative against central differences of the Double GELU).
public enum ActivationBenchmark {
    public static func run(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x616374)
        let host = generator.floats(count), upstream = generator.floats(count)
        let x = try backend.upload(host, shape: [count]), dy = try backend.upload(upstream, shape: [count])
        let y = try backend.makeTensor([count]), dx = try backend.makeTensor([count])
        try backend.activation(x, into: y, .gelu)
        try backend.activationBackward(x, dy, into: dx, .gelu)
        let sample = Array(0..<4096)
        let values = Validation.relativeError(Array(try backend.download(y)[0..<4096]),
                                              Reference.activation(sample.map { Double(host[$0]) }, .gelu))
        let gelu = { (v: Double) in Reference.activation([v], .gelu)[0] }
        let derivative = sample.map { i -> Double in
            let v = Double(host[i]), h = 1e-5 * max(1, abs(v))
            return Double(upstream[i]) * (gelu(v + h) - gelu(v - h)) / (2 * h)
        }
        let gradients = Validation.relativeError(Array(try backend.download(dx)[0..<4096]), derivative)
        try Validation.check("activation.gelu", "\(count)", values)
        try Validation.check("activation.gelu backward", "\(count)", gradients, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.activation(x, into: y, .gelu)
            try backend.activationBackward(x, dy, into: dx, .gelu)
        }
        return [Validation.row(context, "activation.gelu fwd+bwd", "\(count)", timing, bytes: 5.0 * 4 * Double(count),
                               error: max(values, gradients))]
    }
}

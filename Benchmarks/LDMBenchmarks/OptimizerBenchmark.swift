import LDMEngine
import LDMReference

/// optimizer.cl: one AdamW step on 2^24 parameters (parameter, gradient and both moments), GB/s, validated on 4096
/// samples against the Double reference.
public enum OptimizerBenchmark {
    public static func run(_ context: BenchmarkContext, count: Int = 1 << 24) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6164616d)
        let hosts = (0..<4).map { _ in generator.floats(count) }.enumerated().map { $0.offset == 3 ? $0.element.map(abs) : $0.element }
        let tensors = try hosts.map { try backend.upload($0, shape: [count]) }
        let step = OptimizerStep.adam(lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4, decoupled: true, t: 1)
        try backend.optimizerStep(tensors[0], tensors[1], first: tensors[2], second: tensors[3], step)
        let sample = (0..<4).map { k in (0..<4096).map { Double(hosts[k][$0]) } }
        let (expected, expectedM, expectedV) = Reference.optimizerStep(sample[0], sample[1], first: sample[2], second: sample[3], step)
        let error = max(Validation.relativeError(Array(try backend.download(tensors[0])[0..<4096]), expected),
                        Validation.relativeError(Array(try backend.download(tensors[2])[0..<4096]), expectedM),
                        Validation.relativeError(Array(try backend.download(tensors[3])[0..<4096]), expectedV))
        try Validation.check("optimizer.adamw", "\(count)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.optimizerStep(tensors[0], tensors[1], first: tensors[2], second: tensors[3], step)
        }
        return [Validation.row(context, "optimizer.adamw", "\(count)", timing, bytes: 7.0 * 4 * Double(count), error: error)]
    }
}

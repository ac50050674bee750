import LDMEngine
import LDMReference

/// matmul micro-benchmark (Kernels/matmul.cl, CPUBackend+Matmul, OpenCLBackend+Matmul): the cases,
/// each validated on sampled entries against the Double reference before it is timed.
public enum MatmulBenchmark {
    /// 512³, 1024³, 2048³ and 256 products of 64³ (the batched case of small heads).
    public static let cases: [MatmulShape] = [
        MatmulShape(m: 512, n: 512, k: 512),
        MatmulShape(m: 1024, n: 1024, k: 1024),
        MatmulShape(m: 2048, n: 2048, k: 2048),
        MatmulShape(batch: 256, m: 64, n: 64, k: 64),
    ]

    /// Sampled-entry error bound, relative to Σ_p |a_ip·b_pj|: float32 accumulation over K ≤ 2048 stays
    /// well under K·ε ≈ 1.2e-4 in the worst case and near √K·ε ≈ 3e-6 in practice.
    static let tolerance = 1e-4

    public static func run(_ context: BenchmarkContext, cases: [MatmulShape] = cases) throws -> [BenchmarkRow] {
        try cases.map { try run(context, $0) }
    }

    public static func run(_ context: BenchmarkContext, _ s: MatmulShape) throws -> BenchmarkRow {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x6d61_746d_756c)
        let hostA = generator.floats(s.requiredA), hostB = generator.floats(s.requiredB)
        let a = try backend.upload(hostA, shape: [s.requiredA])
        let b = try backend.upload(hostB, shape: [s.requiredB])
        let c = try backend.makeTensor([s.requiredC])
        try backend.matmul(a, b, into: c, s)
        let error = try validate(try backend.download(c), hostA, hostB, s, generator: &generator)
        guard error <= tolerance else {
            throw ValidationFailure(kernel: "matmul", shape: s.description, error: error, tolerance: tolerance)
        }
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.matmul(a, b, into: c, s)
        }
        let gflops = s.flops / timing.median / 1e9
        return BenchmarkRow(kernel: "matmul", backend: context.label, device: backend.info.deviceName,
                            shape: s.description, secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: gflops,
                            gbPerSecond: nil, peakGflops: context.peakGflops,
                            shareOfPeak: context.peakGflops.map { gflops / $0 }, validationError: error)
    }

    /// Largest error over 256 sampled entries of C, each relative to Σ_p |a_ip·b_pj|.
    static func validate(_ c: [Float], _ a: [Float], _ b: [Float], _ s: MatmulShape,
                         generator: inout SeededGenerator) throws -> Double {
        let zeros = [Float](repeating: 0, count: s.requiredC)
        var worst = 0.0
        let absA = a.map { abs($0) }, absB = b.map { abs($0) }
        let magnitude = MatmulShape(batch: s.batch, m: s.m, n: s.n, k: s.k, transposeA: s.transposeA,
                                    transposeB: s.transposeB, strideA: s.strideA, strideB: s.strideB,
                                    strideC: s.strideC)
        for _ in 0..<256 {
            let batch = Int(generator.next() % UInt64(s.batch))
            let i = Int(generator.next() % UInt64(s.m)), j = Int(generator.next() % UInt64(s.n))
            let expected = Reference.matmulEntry(a, b, zeros, s, batch: batch, row: i, column: j)
            let scale = Reference.matmulEntry(absA, absB, zeros, magnitude, batch: batch, row: i, column: j)
            let got = Double(c[batch * s.strideC + i * s.ldc + j])
            worst = max(worst, abs(got - expected) / max(scale, 1e-30))
        }
        return worst
    }
}

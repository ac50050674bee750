import Foundation
import LDMEngine
import LDMReference

/// lse.cl (CPUBackend+LSE[+Self], OpenCLBackend+LSE): forward + backward of the fused pairwise
/// log-sum-exp on one set, the core of the KDE entropy and InfoNCE (x = y = z). The forward is validated on 16
/// sampled rows of the timed problem, the backward on a 24-row instance of the same kernel against central
/// differences of the Double reference.
public enum LSEBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        try cases(for: context.backend).map { try run(context, $0) }
    }

    /// The cases: InfoNCE logits (dot, τ = 0.1) and the Gaussian-kernel KDE entropy, B = 8192, d = 256
    /// (B = 2048 on OpenCL CPU devices such as PoCL, where the full case takes minutes).
    public static func cases(for backend: any Backend) -> [PairwiseLSEShape] {
        let rows = backend.info.kind == .opencl && backend.info.details["type"] == "CPU" ? 2048 : 8192
        return [
            PairwiseLSEShape(rows: rows, columns: rows, dimension: 256, kernel: .dot, scale: 10),
            PairwiseLSEShape(rows: rows, columns: rows, dimension: 256, kernel: .squaredDistance, scale: 5.0 / 256,
                             excludeDiagonal: true),
        ]
    }

    public static func run(_ context: BenchmarkContext, _ s: PairwiseLSEShape) throws -> BenchmarkRow {
        let cpu = context.backend
        let rssBefore = PeakMemory.residentBytes()
        var generator = SeededGenerator(seed: 0x6c7365)
        var hostX = generator.floats(s.rows * s.dimension)
        if s.kernel == .dot {   // InfoNCE sees normalised rows
            for i in 0..<s.rows {
                let row = (i * s.dimension)..<((i + 1) * s.dimension)
                let norm = hostX[row].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                for k in row { hostX[k] /= norm }
            }
        }
        let x = try cpu.upload(hostX, shape: [s.rows, s.dimension])
        let lse = try cpu.makeTensor([s.rows]), g = try cpu.upload([Float](repeating: 1 / Float(s.rows), count: s.rows), shape: [s.rows])
        let dz = try cpu.makeTensor([s.rows, s.dimension])
        try cpu.pairwiseLSE(x, x, into: lse, s)
        let error = try validate(try cpu.download(lse), hostX, s)
        try Validation.check("lse", s.description, error)
        let gradientError = try validateBackward(cpu, s)
        try Validation.check("lse backward", s.description, gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(cpu, minSeconds: context.minSeconds) {
            try cpu.pairwiseLSE(x, x, into: lse, s)
            try cpu.pairwiseLSESelfBackward(x, lse, g, dz: dz, s)
        }
        // The rate is counted as the general algorithm's work (forward one product per pair, backward recompute +
        // two), so it compares across backends; the share of the peak counts what the backend does: the CPU's
        // one-set path visits each pair once (half the products, the diagonal tiles aside).
        let flops = 4 * s.pairFlops, performed = cpu.info.kind == .cpu ? flops / 2 : flops
        let gflops = flops / timing.median / 1e9
        let growth = PeakMemory.residentBytes() - rssBefore
        return BenchmarkRow(kernel: "lse.forward+backward", backend: context.label, device: cpu.info.deviceName,
                            shape: s.description, secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: gflops, gbPerSecond: nil,
                            peakGflops: context.peakGflops,
                            shareOfPeak: context.peakGflops.map { performed / timing.median / 1e9 / $0 },
                            validationError: max(error, gradientError), peakMemoryGrowthBytes: growth)
    }

    /// Largest relative error of 16 sampled rows against the Double reference.
    static func validate(_ lse: [Float], _ x: [Float], _ s: PairwiseLSEShape) throws -> Double {
        let d = s.dimension
        var worst = 0.0
        for i in stride(from: 5, to: s.rows, by: max(1, s.rows / 16)) {
            var one = s
            one.rows = 1
            one.excludeDiagonal = false
            // Leaving out the diagonal of the full problem = leaving out column i for this row.
            var y = x
            if s.excludeDiagonal { y.replaceSubrange((i * d)..<((i + 1) * d), with: [Float](repeating: 1e6, count: d)) }
            let expected = Reference.pairwiseLSE(Array(x[(i * d)..<((i + 1) * d)]), y, one)[0]
            worst = max(worst, abs(Double(lse[i]) - expected) / max(abs(expected), 1))
        }
        return worst
    }

    /// ∂(mean_i lse_i)/∂z of a 24 × 8 instance with the case's kernel and scale, against central differences.
    static func validateBackward(_ backend: any Backend, _ s: PairwiseLSEShape) throws -> Double {
        var small = s
        (small.rows, small.columns, small.dimension) = (24, 24, 8)
        var generator = SeededGenerator(seed: 0x6c7366)
        let host = generator.floats(small.rows * small.dimension).map { 0.3 * $0 }
        let z = try backend.upload(host, shape: [small.rows, small.dimension]), lse = try backend.makeTensor([small.rows])
        let g = try backend.upload([Float](repeating: 1 / Float(small.rows), count: small.rows), shape: [small.rows])
        let dz = try backend.makeTensor([small.rows, small.dimension])
        try backend.pairwiseLSE(z, z, into: lse, small)
        try backend.pairwiseLSESelfBackward(z, lse, g, dz: dz, small)
        return Validation.gradientError(try backend.download(dz), at: host.map(Double.init)) { v in
            Reference.pairwiseLSE(v, v, small).reduce(0, +) / Double(small.rows)
        }
    }
}

import Foundation
import LDMEngine
import LDMOpenCL
import LDMReference

/// lse.cl (CPUBackend+LSE[+Self], OpenCLBackend+LSE): forward + backward of the fused pairwise
/// log-sum-exp, the core of the KDE entropy and InfoNCE: on one set (x = y = z: NT-Xent, KDE) and on two views
/// (rows z1 against columns z2: two-view InfoNCE, the general path). The forward is validated on 16 sampled rows of
/// the timed problem, the backward on a 24-row instance of the same kernel against central differences of the
/// Double reference.
public enum LSEBenchmark {
    /// One timed case: the kernel's shape, and whether the columns are a second set (two views).
    public struct Case: Sendable {
        public var shape: PairwiseLSEShape
        public var twoViews: Bool
        /// The row's shape column: the kernel shape, with " two-view" for separate rows and columns.
        public var description: String { shape.description + (twoViews ? " two-view" : "") }
    }

    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        try cases(for: context.backend).map { try run(context, $0) }
    }

    /// InfoNCE logits (dot, τ = 0.1) on one set and on two views, and the Gaussian-kernel KDE entropy, B = 8192,
    /// d = 256 (B = 2048 when a CPU device runs the work-group-tiled kernels, where the full case takes minutes).
    public static func cases(for backend: any Backend) -> [Case] {
        let tiledOnCPU = (backend as? OpenCLBackend).map { $0.lseKernels == .tiled && $0.info.details["type"] == "CPU" } ?? false
        let rows = tiledOnCPU ? 2048 : 8192
        let dot = PairwiseLSEShape(rows: rows, columns: rows, dimension: 256, kernel: .dot, scale: 10)
        return [
            Case(shape: dot, twoViews: false),
            Case(shape: PairwiseLSEShape(rows: rows, columns: rows, dimension: 256, kernel: .squaredDistance,
                                         scale: 5.0 / 256, excludeDiagonal: true), twoViews: false),
            Case(shape: dot, twoViews: true),
        ]
    }

    /// `count` rows of `dimension` seeded normal values, scaled to unit norm for dot products (InfoNCE sees
    /// normalised rows).
    static func rows(_ count: Int, _ dimension: Int, _ kernel: PairwiseKernel, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var host = generator.floats(count * dimension)
        if kernel == .dot {
            for i in 0..<count {
                let row = (i * dimension)..<((i + 1) * dimension)
                let norm = host[row].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                for k in row { host[k] /= norm }
            }
        }
        return host
    }

    public static func run(_ context: BenchmarkContext, _ c: Case) throws -> BenchmarkRow {
        let cpu = context.backend, s = c.shape
        let rssBefore = PeakMemory.residentBytes()
        let hostX = rows(s.rows, s.dimension, s.kernel, seed: 0x6c7365)
        let hostY = c.twoViews ? rows(s.columns, s.dimension, s.kernel, seed: 0x6c7367) : hostX
        let x = try cpu.upload(hostX, shape: [s.rows, s.dimension])
        let y = c.twoViews ? try cpu.upload(hostY, shape: [s.columns, s.dimension]) : x
        let lse = try cpu.makeTensor([s.rows]), g = try cpu.upload([Float](repeating: 1 / Float(s.rows), count: s.rows), shape: [s.rows])
        let dx = try cpu.makeTensor([s.rows, s.dimension]), dy = try cpu.makeTensor([s.columns, s.dimension])
        try cpu.pairwiseLSE(x, y, into: lse, s)
        let error = try validate(try cpu.download(lse), hostX, hostY, s)
        try Validation.check("lse", c.description, error)
        let gradientError = try validateBackward(cpu, c)
        try Validation.check("lse backward", c.description, gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(cpu, minSeconds: context.minSeconds) {
            try cpu.pairwiseLSE(x, y, into: lse, s)
            if c.twoViews {
                try cpu.pairwiseLSEBackward(x, y, lse, g, dx: dx, dy: dy, s)
            } else {
                try cpu.pairwiseLSESelfBackward(x, lse, g, dz: dx, s)
            }
        }
        // The rate is counted as the general algorithm's work (forward one product per pair, backward recompute +
        // two), so it compares across backends; the share of the peak counts what the backend does: the CPU's
        // one-set path visits each pair once (half the products, the diagonal tiles aside).
        let flops = 4 * s.pairFlops, performed = cpu.info.kind == .cpu && !c.twoViews ? flops / 2 : flops
        let gflops = flops / timing.median / 1e9
        let growth = PeakMemory.residentBytes() - rssBefore
        return BenchmarkRow(kernel: "lse.forward+backward", backend: context.label, device: cpu.info.deviceName,
                            shape: c.description, secondsMedian: timing.median, secondsMin: timing.min,
                            secondsMax: timing.max, repeats: timing.samples.count, gflops: gflops, gbPerSecond: nil,
                            peakGflops: context.peakGflops,
                            shareOfPeak: context.peakGflops.map { performed / timing.median / 1e9 / $0 },
                            validationError: max(error, gradientError), peakMemoryGrowthBytes: growth)
    }

    /// Largest relative error of 16 sampled rows against the Double reference.
    static func validate(_ lse: [Float], _ x: [Float], _ columns: [Float], _ s: PairwiseLSEShape) throws -> Double {
        let d = s.dimension
        var worst = 0.0
        for i in stride(from: 5, to: s.rows, by: max(1, s.rows / 16)) {
            var one = s
            one.rows = 1
            one.excludeDiagonal = false
            // Leaving out the diagonal of the full problem = leaving out column i for this row.
            var y = columns
            if s.excludeDiagonal { y.replaceSubrange((i * d)..<((i + 1) * d), with: [Float](repeating: 1e6, count: d)) }
            let expected = Reference.pairwiseLSE(Array(x[(i * d)..<((i + 1) * d)]), y, one)[0]
            worst = max(worst, abs(Double(lse[i]) - expected) / max(abs(expected), 1))
        }
        return worst
    }

    /// ∂(mean_i lse_i)/∂(x, y) of a 24 × 8 instance with the case's kernel and scale (one set: x = y = z), against
    /// central differences.
    static func validateBackward(_ backend: any Backend, _ c: Case) throws -> Double {
        var small = c.shape
        (small.rows, small.columns, small.dimension) = (24, c.twoViews ? 20 : 24, 8)
        var generator = SeededGenerator(seed: 0x6c7366)
        let xCount = small.rows * small.dimension, yCount = small.columns * small.dimension
        let host = generator.floats(xCount + (c.twoViews ? yCount : 0)).map { 0.3 * $0 }
        let x = try backend.upload(Array(host[..<xCount]), shape: [small.rows, small.dimension])
        let y = c.twoViews ? try backend.upload(Array(host[xCount...]), shape: [small.columns, small.dimension]) : x
        let lse = try backend.makeTensor([small.rows])
        let g = try backend.upload([Float](repeating: 1 / Float(small.rows), count: small.rows), shape: [small.rows])
        let dx = try backend.makeTensor([small.rows, small.dimension]), dy = try backend.makeTensor([small.columns, small.dimension])
        try backend.pairwiseLSE(x, y, into: lse, small)
        if c.twoViews {
            try backend.pairwiseLSEBackward(x, y, lse, g, dx: dx, dy: dy, small)
        } else {
            try backend.pairwiseLSESelfBackward(x, lse, g, dz: dx, small)
        }
        let gradient = try backend.download(dx) + (c.twoViews ? try backend.download(dy) : [])
        return Validation.gradientError(gradient, at: host.map(Double.init)) { v in
            let vx = Array(v[..<xCount]), vy = c.twoViews ? Array(v[xCount...]) : vx
            return Reference.pairwiseLSE(vx, vy, small).reduce(0, +) / Double(small.rows)
        }
    }
}

import LDMEngine
import LDMReference

/// How every benchmark validates what it times before timing it: values against the Double reference, and the
/// backward of a kernel that is timed forward + backward against the reference's gradient (an analytic Double
/// gradient on the timed arrays where one is cheap, else central differences of the Double reference on a small
/// instance of the same kernel).
enum Validation {
    static let tolerance = 1e-5
    /// Gradients against central differences: the differences themselves carry about 1e-7 of error.
    static let gradientTolerance = 1e-4

    /// Relative L2 error of `got` against `expected`.
    static func relativeError(_ got: [Float], _ expected: [Double]) -> Double {
        var difference = 0.0, norm = 0.0
        for (g, e) in zip(got, expected) {
            difference += (Double(g) - e) * (Double(g) - e)
            norm += e * e
        }
        return got.count == expected.count ? (difference / max(norm, 1e-300)).squareRoot() : .infinity
    }

    /// Relative error of one value.
    static func scalarError(_ got: Double, _ expected: Double) -> Double { abs(got - expected) / max(1, abs(expected)) }

    /// Relative L2 error of `analytic` against central differences of `f` at `x`.
    static func gradientError(_ analytic: [Float], at x: [Double], step: Double = 1e-5, _ f: ([Double]) -> Double) -> Double {
        relativeError(analytic, Reference.centralDifferences(x, step: step, f))
    }

    /// Throws ``ValidationFailure`` when `error` exceeds `tolerance`: a wrong kernel is never timed.
    static func check(_ kernel: String, _ shape: String, _ error: Double, tolerance: Double = tolerance) throws {
        guard error <= tolerance else {
            throw ValidationFailure(kernel: kernel, shape: shape, error: error, tolerance: tolerance)
        }
    }

    /// A row of a bandwidth-bound kernel: GB/s of `bytes` moved per call.
    static func row(_ context: BenchmarkContext, _ kernel: String, _ shape: String, _ timing: Timing.Result, bytes: Double,
                    error: Double) -> BenchmarkRow {
        BenchmarkRow(kernel: kernel, backend: context.label, device: context.backend.info.deviceName, shape: shape,
                     secondsMedian: timing.median, secondsMin: timing.min, secondsMax: timing.max,
                     repeats: timing.samples.count, gflops: nil, gbPerSecond: bytes / timing.median / 1e9,
                     peakGflops: context.peakGflops, shareOfPeak: nil, validationError: error)
    }

    /// A row of an arithmetic-bound kernel: GFLOP/s of `flops` per call and the share of the measured peak.
    static func row(_ context: BenchmarkContext, _ kernel: String, _ shape: String, _ timing: Timing.Result, flops: Double?,
                    error: Double, memoryGrowth: Int? = nil) -> BenchmarkRow {
        let gflops = flops.map { $0 / timing.median / 1e9 }
        return BenchmarkRow(kernel: kernel, backend: context.label, device: context.backend.info.deviceName, shape: shape,
                            secondsMedian: timing.median, secondsMin: timing.min, secondsMax: timing.max,
                            repeats: timing.samples.count, gflops: gflops, gbPerSecond: nil, peakGflops: context.peakGflops,
                            shareOfPeak: gflops.flatMap { g in context.peakGflops.map { g / $0 } }, validationError: error,
                            peakMemoryGrowthBytes: memoryGrowth)
    }
}

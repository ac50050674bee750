import LDMEngine

/// One timed case: what `ldm bench --json` prints (an array of these) and the README table shows.
public struct BenchmarkRow: Codable, Sendable {
    public var kernel: String
    public var backend: String
    public var device: String
    public var shape: String
    public var secondsMedian: Double
    public var secondsMin: Double
    public var secondsMax: Double
    public var repeats: Int
    /// Arithmetic rate (FLOP-bound kernels), nil otherwise.
    public var gflops: Double?
    /// Memory rate counting each input read once and each output written once (bandwidth-bound kernels).
    public var gbPerSecond: Double?
    /// The backend's measured FP32 peak (GFLOP/s), for context.
    public var peakGflops: Double?
    /// `gflops / peakGflops`.
    public var shareOfPeak: Double?
    /// Largest error found by the validation that ran before timing (relative to the reference's scale).
    public var validationError: Double
    /// Growth of the process's peak resident memory over the case (inputs included), where measured.
    public var peakMemoryGrowthBytes: Int?

    public init(kernel: String, backend: String, device: String, shape: String, secondsMedian: Double,
                secondsMin: Double, secondsMax: Double, repeats: Int, gflops: Double?, gbPerSecond: Double?,
                peakGflops: Double?, shareOfPeak: Double?, validationError: Double, peakMemoryGrowthBytes: Int? = nil) {
        self.kernel = kernel
        self.backend = backend
        self.device = device
        self.shape = shape
        self.secondsMedian = secondsMedian
        self.secondsMin = secondsMin
        self.secondsMax = secondsMax
        self.repeats = repeats
        self.gflops = gflops
        self.gbPerSecond = gbPerSecond
        self.peakGflops = peakGflops
        self.shareOfPeak = shareOfPeak
        self.validationError = validationError
        self.peakMemoryGrowthBytes = peakMemoryGrowthBytes
    }

    enum CodingKeys: String, CodingKey {
        case kernel, backend, device, shape
        case secondsMedian = "seconds_median"
        case secondsMin = "seconds_min"
        case secondsMax = "seconds_max"
        case repeats, gflops
        case gbPerSecond = "gb_per_second"
        case peakGflops = "peak_gflops"
        case shareOfPeak = "share_of_peak"
        case validationError = "validation_error"
        case peakMemoryGrowthBytes = "peak_memory_growth_bytes"
    }
}

/// What a benchmark case needs: the backend under test, the time budget and the peak to compare with.
public struct BenchmarkContext: Sendable {
    public let backend: any Backend
    public let minSeconds: Double
    public let peakGflops: Double?
    /// Label for the backend column: "cpu", "opencl", or e.g. "opencl-kernel" for the fallback matmul.
    public let label: String

    public init(backend: any Backend, minSeconds: Double, peakGflops: Double?, label: String) {
        self.backend = backend
        self.minSeconds = minSeconds
        self.peakGflops = peakGflops
        self.label = label
    }
}

/// A benchmark failed its validation: the kernel computed something else than the reference.
public struct ValidationFailure: Error, CustomStringConvertible {
    public let kernel: String
    public let shape: String
    public let error: Double
    public let tolerance: Double

    public var description: String {
        "validation failed for \(kernel) \(shape): error \(error) exceeds \(tolerance); not timing a wrong kernel"
    }
}

import ArgumentParser
import Foundation
import LDMBenchmarks
import LDMCPU
import LDMEngine
import LDMOpenCL

/// `ldm bench`: per-kernel micro-benchmarks, validated before they are timed.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate, warm up and time the kernels on each backend.",
        discussion: """
            Each case is first checked against the Double reference, then warmed up, then repeated for at \
            least --min-seconds; the median is reported with GFLOP/s (or GB/s) and the share of the backend's \
            measured FP32 peak. Kernels: \(Kernel.allCases.map(\.rawValue).joined(separator: ", ")).
            """)

    /// One entry per kernel family, named after its Kernels/*.cl file (`_` written `-`).
    enum Kernel: String, ExpressibleByArgument, CaseIterable {
        case matmul, elementwise, reduce, transpose, lse, knn, cholesky, covariance, plugin, ica, kalman
        case kalmanLDMParameters = "kalman-ldm-parameters"
        case activation, optimizer
        case varianceFeatures = "variance-features"
        case batchNorm = "batch-norm"
        case stridedCopy = "strided-copy"
        case affineScan = "affine-scan"
        case kalmanScan = "kalman-scan"
        case conv2d, pool, augment, gather
        case imageStep = "image-step"
        case peak

        /// The family's benchmark: its cases, each validated before it is timed.
        var run: (BenchmarkContext) throws -> [BenchmarkRow] {
            switch self {
            case .matmul: return { try MatmulBenchmark.run($0) }
            case .elementwise: return { try ElementwiseBenchmark.run($0) }
            case .reduce: return ReduceBenchmark.run
            case .transpose: return { try TransposeBenchmark.run($0) }
            case .lse: return LSEBenchmark.run
            case .knn: return KNNBenchmark.run
            case .cholesky: return CholeskyBenchmark.run
            case .covariance: return { try CovarianceBenchmark.run($0) }
            case .plugin: return { try PluginBenchmark.run($0) }
            case .ica: return { try ICABenchmark.run($0) }
            case .kalman: return KalmanBenchmark.run
            case .kalmanLDMParameters: return { try KalmanLDMParametersBenchmark.run($0) }
            case .activation: return { try ActivationBenchmark.run($0) }
            case .optimizer: return { try OptimizerBenchmark.run($0) }
            case .varianceFeatures: return { try VarianceFeaturesBenchmark.run($0) }
            case .batchNorm: return { try BatchNormBenchmark.run($0) }
            case .stridedCopy: return { try StridedCopyBenchmark.run($0) }
            case .affineScan: return { try AffineScanBenchmark.run($0) }
            case .kalmanScan: return { try KalmanScanBenchmark.run($0) }
            case .conv2d: return Conv2dBenchmark.run
            case .pool: return PoolBenchmark.run
            case .augment: return { try AugmentBenchmark.run($0) }
            case .gather: return { try GatherBenchmark.run($0) }
            case .imageStep: return { try ImageStepBenchmark.run($0) }
            case .peak: return PeakBenchmark.run
            }
        }
    }

    @Argument(help: "Kernels to benchmark (default: all).")
    var kernels: [Kernel] = []

    @Option(help: "cpu, opencl or all.")
    var backend: BackendChoice = .all

    @OptionGroup var device: DeviceOption

    @Option(help: "OpenCL matmul implementation: clblast or kernel (Kernels/matmul.cl).")
    var matmulEngine: OpenCLBackend.MatmulEngine?

    @Option(parsing: .unconditional, help: "Least time spent timing each case, in seconds.")
    var minSeconds: Double = 1.0

    @Flag(help: "Print a JSON array of rows (kernel, backend, shape, seconds_median, gflops, ...).")
    var json = false

    func validate() throws {
        guard minSeconds > 0, minSeconds <= 3600 else { throw ValidationError("--min-seconds must be in (0, 3600], got \(minSeconds)") }
    }

    func run() throws {
        try reportingErrors {
            let selected = kernels.isEmpty ? Kernel.allCases : kernels
            var rows: [BenchmarkRow] = []
            for backend in try openBackends(backend, device: device.device, matmul: matmulEngine) {
                let peak = try measurePeak(backend)
                note(String(format: "%@: measured FP32 peak %.1f GFLOP/s", backend.info.description, peak))
                var label = backend.info.kind.rawValue
                if let opencl = backend as? OpenCLBackend, opencl.matmulEngine == .kernel { label += "-kernel" }
                let context = BenchmarkContext(backend: backend, minSeconds: minSeconds, peakGflops: peak, label: label)
                for kernel in selected {
                    for row in try run(kernel, context) {
                        note(describe(row))
                        rows.append(row)
                    }
                }
            }
            if json { try printJSON(rows) } else { printTable(rows) }
        }
    }

    private func measurePeak(_ backend: any Backend) throws -> Double {
        if let cpu = backend as? CPUBackend { return cpu.measurePeakGFLOPS() }
        if let opencl = backend as? OpenCLBackend { return try opencl.measurePeakGFLOPS() }
        return .nan
    }

    private func run(_ kernel: Kernel, _ context: BenchmarkContext) throws -> [BenchmarkRow] {
        note("  \(kernel.rawValue) on \(context.label)...")
        return try kernel.run(context)
    }

    private func describe(_ row: BenchmarkRow) -> String {
        var text = String(format: "  %@ %@ on %@: median %.4g s", row.kernel, row.shape, row.backend, row.secondsMedian)
        if let gflops = row.gflops { text += String(format: ", %.1f GFLOP/s", gflops) }
        if let share = row.shareOfPeak { text += String(format: " (%.0f%% of peak)", 100 * share) }
        if let rate = row.gbPerSecond { text += String(format: ", %.1f GB/s", rate) }
        if let growth = row.peakMemoryGrowthBytes { text += ", peak memory +" + LDMError.formatBytes(growth) }
        return text
    }

    private func printTable(_ rows: [BenchmarkRow]) {
        print("| kernel | backend | shape | median s | GFLOP/s | GB/s | share of peak | peak memory growth |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows {
            let gflops = r.gflops.map { String(format: "%.1f", $0) } ?? ""
            let rate = r.gbPerSecond.map { String(format: "%.1f", $0) } ?? ""
            let share = r.shareOfPeak.map { String(format: "%.0f%%", 100 * $0) } ?? ""
            let memory = r.peakMemoryGrowthBytes.map { LDMError.formatBytes($0) } ?? ""
            print("| \(r.kernel) | \(r.backend) | \(r.shape) | \(String(format: "%.4g", r.secondsMedian)) | \(gflops) | \(rate) | \(share) | \(memory) |")
        }
    }
}

extension OpenCLBackend.MatmulEngine: ExpressibleByArgument {}

import LDMCPU
import LDMEngine
import LDMOpenCL
import LDMReference

/// peak.cl (and its CPU twin, CLDMSupport's FMA loop): the measured FP32 peak every other row is compared with, as a
/// row of its own. On OpenCL the chains are validated first against a Double recomputation.
public enum PeakBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        var error = 0.0
        if let opencl = context.backend as? OpenCLBackend {
            let (items, iterations, a, b, lanes) = (257, 64, Float(0.999), Float(1e-3), opencl.peakLanes)
            let out = try opencl.makeTensor([items])
            try opencl.fmaPeak(a: a, b: b, iterations: iterations, lanes: lanes, into: out)
            let expected = (0..<items).map {
                Reference.fmaPeak(item: $0, chains: OpenCLBackend.peakChains, lanes: lanes, iterations: iterations, a: a, b: b)
            }
            error = Validation.relativeError(try opencl.download(out), expected)
            try Validation.check("peak", "\(items) items", error)
        }
        let peak = context.peakGflops ?? .nan
        return [BenchmarkRow(kernel: "peak.fma", backend: context.label, device: context.backend.info.deviceName,
                             shape: "FP32 FMA chains", secondsMedian: 0, secondsMin: 0, secondsMax: 0, repeats: 1, gflops: peak,
                             gbPerSecond: nil, peakGflops: peak, shareOfPeak: 1, validationError: error)]
    }
}

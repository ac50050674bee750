import LDMCPU
import LDMEngine
import LDMOpenCL

/// peak.cl (and its CPU twin, CLDMSupport's FMA loop): the measured FP32 peak every other row is compared with, as a
/// row of its own. On OpenCL the chains are validated first against a Double recomputation.
public enum PeakBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        var error = 0.0
        if let opencl = context.backend as? OpenCLBackend {
            let (items, iterations, a, b) = (257, 64, Float(0.999), Float(1e-3))
            let out = try opencl.makeTensor([items])
            try opencl.fmaPeak(a: a, b: b, iterations: iterations, into: out)
            let expected = (0..<items).map { item -> Double in
                (0..<OpenCLBackend.peakChains).reduce(0.0) { sum, chain in
                    var x = Double(Float(Float(item) * 1e-9) + Float(chain) * 0.1)
                    for _ in 0..<iterations { x = x * Double(a) + Double(b) }
                    return sum + x
                }
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

import COpenCL
import Foundation
import LDMEngine

/// peak (OpenCL launcher of Kernels/peak.cl): the device's FP32 FMA rate.
extension OpenCLBackend {
    /// Independent FMA chains per work-item in Kernels/peak.cl.
    public static let peakChains = 8

    /// The width of each chain on this device: 16-lane vectors on CPU devices (their OpenCL compilers vectorise
    /// explicit vectors, not the loops over work-items a scalar chain leaves them), scalars elsewhere.
    public var peakLanes: Int { device.type == "CPU" ? 16 : 1 }

    /// Runs `fma_peak` once over `out.count` items of `iterations` steps each, chains `lanes` wide (1 or 16),
    /// leaving each item's sum over its chains and lanes in `out`.
    public func fmaPeak(a: Float, b: Float, iterations: Int, lanes: Int = 1, into out: Tensor) throws {
        guard lanes == 1 || lanes == 16 else { throw LDMError.invalidArgument("fmaPeak: lanes must be 1 or 16, got \(lanes)") }
        let kernel = try kernel("peak", "fma_peak", options: "-DPEAK_ITERATIONS=\(iterations) -DPEAK_LANES=\(lanes)")
        guard out.count > 0 else { return }
        try launch(kernel, "fma_peak", [.float(a), .float(b), .buffer(try mem(out, "fma_peak"))],
                   global: [out.count], local: nil)
    }

    /// Measured peak in GFLOP/s: enough work-items to fill the device, timed over repeats of about `seconds`.
    public func measurePeakGFLOPS(seconds: Double = 0.5) throws -> Double {
        let iterations = 2048
        // Enough work per launch (GFLOPs) that launch overhead is noise, on GPUs and CPU devices alike.
        let items = max(1, device.computeUnits) * (device.type == "GPU" ? 8192 : 65536)
        let out = try makeTensor([items])
        let lanes = peakLanes
        try fmaPeak(a: 0.999999, b: 1e-7, iterations: iterations, lanes: lanes, into: out)   // compile and warm up
        try synchronize()
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            try fmaPeak(a: 0.999999, b: 1e-7, iterations: iterations, lanes: lanes, into: out)
            try synchronize()
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        let flops = Double(runs) * Double(items) * Double(Self.peakChains * lanes * iterations * 2)
        return flops / elapsed / 1e9
    }
}

import CLDMSupport
import LDMEngine

/// peak (CPU twin of Kernels/peak.cl): the machine's FP32 FMA rate, every core running independent FMA chains
/// with the widest vectors it has. Benchmarks report kernels as a share of this.
extension CPUBackend {
    /// Measured peak in GFLOP/s over about `seconds`.
    public func measurePeakGFLOPS(seconds: Double = 0.5) -> Double {
        let perThread = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
        defer { perThread.deallocate() }
        Parallel.run(threads) { t in
            perThread[t] = ldm_fma_peak_flops(seconds)
        }
        return perThread.reduce(0, +) / 1e9
    }
}

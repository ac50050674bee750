import Foundation
import LDMCPU
import LDMEngine
import LDMOpenCL
import Testing

/// peak.cl and its CPU twin: the OpenCL kernel's FMA chains against a Double recomputation of the same chains, and
/// both backends' measured peaks finite and positive (they are what `ldm bench` reports shares of).
@Suite("peak.cl")
struct PeakTests {
    @Test(.enabled(if: TestBackends.openCLEnabled, TestBackends.skipReason))
    func openCLChainsMatchTheReference() throws {
        let backend = try #require(try TestBackends.openCL.get())
        let (items, iterations, a, b) = (333, 64, Float(0.999), Float(1e-3))
        let out = try backend.makeTensor([items])
        try backend.fmaPeak(a: a, b: b, iterations: iterations, into: out)
        let expected = (0..<items).map { item -> Double in
            let seed = Double(Float(item) * 1e-9)
            return (0..<OpenCLBackend.peakChains).reduce(0.0) { sum, chain in
                var x = Double(Float(seed) + Float(chain) * 0.1)
                for _ in 0..<iterations { x = x * Double(a) + Double(b) }
                return sum + x
            }
        }
        expectClose(try backend.download(out), expected, tolerance: Tolerance.float32, "fma_peak chains")
        let peak = try backend.measurePeakGFLOPS(seconds: 0.05)
        #expect(peak.isFinite && peak > 0, "OpenCL peak \(peak) GFLOP/s")
    }

    @Test func cpuPeakIsMeasured() throws {
        let peak = try CPUBackend().measurePeakGFLOPS(seconds: 0.05)
        #expect(peak.isFinite && peak > 0, "CPU peak \(peak) GFLOP/s")
    }
}

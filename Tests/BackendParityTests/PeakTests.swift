import Foundation
import LDMCPU
import LDMEngine
import LDMOpenCL
import LDMReference
import Testing

/// peak.cl and its CPU twin: the OpenCL kernel's FMA chains against a Double recomputation of the same chains, and
/// both backends' measured peaks finite and positive (they are what `ldm bench` reports shares of).
@Suite("peak.cl")
struct PeakTests {
    @Test(.enabled(if: TestBackends.openCLEnabled, TestBackends.skipReason), arguments: [1, 16])
    func openCLChainsMatchTheReference(_ lanes: Int) throws {
        let backend = try #require(try TestBackends.openCL.get())
        let (items, iterations, a, b) = (333, 64, Float(0.999), Float(1e-3))
        let out = try backend.makeTensor([items])
        try backend.fmaPeak(a: a, b: b, iterations: iterations, lanes: lanes, into: out)
        let expected = (0..<items).map {
            Reference.fmaPeak(item: $0, chains: OpenCLBackend.peakChains, lanes: lanes, iterations: iterations, a: a, b: b)
        }
        expectClose(try backend.download(out), expected, tolerance: Tolerance.float32, "fma_peak chains, \(lanes) lanes")
        let peak = try backend.measurePeakGFLOPS(seconds: 0.05)
        #expect(peak.isFinite && peak > 0, "OpenCL peak \(peak) GFLOP/s")
    }

    @Test func cpuPeakIsMeasured() throws {
        let peak = try CPUBackend().measurePeakGFLOPS(seconds: 0.05)
        #expect(peak.isFinite && peak > 0, "CPU peak \(peak) GFLOP/s")
    }
}

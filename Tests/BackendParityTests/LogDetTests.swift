import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// logdet on every backend: value against the Double reference, gradient against finite differences, the
/// jitter policy of SPEC §9 on a singular covariance.
@Suite("Gaussian log-det entropy")
struct LogDetTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    @Test(arguments: backends, [(9, 4), (33, 7), (300, 31)])
    func valueAndGradientMatchTheReference(_ name: String, _ size: (Int, Int)) throws {
        let cpu = try TestBackends.named(name)
        let (b, d) = size
        var generator = SeededGenerator(seed: UInt64(b * d))
        let host = generator.floats(b * d)
        let z = try cpu.upload(host, shape: [b, d]), gradient = try cpu.makeTensor([b, d])
        let result = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: b, dimension: d))
        let z64 = host.map(Double.init)
        let expected = try #require(Reference.gaussianLogDetEntropy(z64, d: d))
        #expect(result.jitter == 0)
        #expect(abs(result.value - expected) <= 1e-5 * max(1, abs(expected)), "\(result.value) vs \(expected)")
        if b * d <= 300 {   // finite differences cost b·d evaluations of a b·d² reference
            let fd = finiteDifferenceGradient(z64) { Reference.gaussianLogDetEntropy($0, d: d)! }
            expectClose(try cpu.download(gradient), fd, tolerance: GradientTests.tolerance, "∂/∂z \(b)x\(d) on \(name)")
        }
    }

    @Test(arguments: backends)
    func singularCovarianceGetsJitter(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        // A constant column has exactly zero variance on any backend, so Cholesky meets a zero pivot with ε = 0
        // and the jitter policy must step in.
        var generator = SeededGenerator(seed: 4)
        var host: [Float] = []
        for _ in 0..<20 { host += [Float(generator.normal()), Float(generator.normal()), 0.5] }
        let z = try cpu.upload(host, shape: [20, 3]), gradient = try cpu.makeTensor([20, 3])
        let result = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 20, dimension: 3, epsilon: 0))
        #expect(result.jitter > 0)
        #expect(result.value.isFinite)
        #expect(try cpu.download(gradient).allSatisfy { $0.isFinite })
    }

    @Test(arguments: backends)
    func refusesBadShapesAndEpsilon(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        let z = try cpu.makeTensor([4, 2]), gradient = try cpu.makeTensor([4, 2])
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 2, dimension: 4, epsilon: -1)) }
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: z, LogDetShape(rows: 4, dimension: 2)) }
        #expect(throws: LDMError.self) { _ = try cpu.gaussianLogDet(z, gradient: gradient, LogDetShape(rows: 1, dimension: 8)) }
    }
}

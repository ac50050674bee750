import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// knn on every backend: value against the Double reference, gradient against finite differences with the
/// quantile cap held fixed (the estimator detaches it), refusals.
@Suite("knn.cl")
struct KNNTests {
    @Test(arguments: TestBackends.all, [(40, 3, 3, Float(1)), (57, 5, 1, Float(5)), (300, 4, 3, Float(1)), (2100, 2, 3, Float(2))])
    func valueAndGradientMatchTheReference(_ name: String, _ size: (Int, Int, Int, Float)) throws {
        let cpu = try TestBackends.named(name)
        let (b, d, k, scale) = size
        var generator = SeededGenerator(seed: UInt64(b + d))
        let host = generator.floats(b * d)
        let z = try cpu.upload(host, shape: [b, d]), gradient = try cpu.makeTensor([b, d])
        let result = try cpu.knnEntropy(z, gradient: gradient, KNNShape(rows: b, dimension: d, k: k, scale: scale))
        let z64 = host.map(Double.init)
        let cap = Reference.quantile(Reference.knnDistances(z64, d: d, k: k), 0.9)
        let expected = Reference.knnEntropy(z64, d: d, k: k, scale: Double(scale))
        #expect(abs(Double(result.cap) - cap) <= 1e-5 * cap)
        #expect(abs(result.value - expected) <= 1e-5 * max(1, abs(expected)), "\(result.value) vs \(expected)")
        if b * d <= 300 {
            let fd = finiteDifferenceGradient(z64, step: 1e-6) {
                Reference.knnEntropy($0, d: d, k: k, scale: Double(scale), cap: cap)
            }
            expectClose(try cpu.download(gradient), fd, tolerance: Tolerance.gradient, "∂/∂z \(b)x\(d) k \(k) on \(name)")
        }
    }

    @Test(arguments: TestBackends.all)
    func refusesTooFewRowsAndBadScales(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        let z = try cpu.makeTensor([3, 2]), gradient = try cpu.makeTensor([3, 2])
        #expect(throws: LDMError.self) { _ = try cpu.knnEntropy(z, gradient: gradient, KNNShape(rows: 3, dimension: 2, k: 3)) }
        #expect(throws: LDMError.self) { _ = try cpu.knnEntropy(z, gradient: gradient, KNNShape(rows: 3, dimension: 2, k: 1, scale: 0)) }
        #expect(throws: LDMError.self) { _ = try cpu.knnEntropy(z, gradient: z, KNNShape(rows: 3, dimension: 2, k: 1)) }
    }
}

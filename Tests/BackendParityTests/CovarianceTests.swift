import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// covariance.cl on every backend: the VICReg penalty, the Taylor surrogate and the Barlow Twins cross-correlation
/// loss against the Double references, gradients against finite differences.
@Suite("covariance.cl")
struct CovarianceTests {
    static func reference(_ z: [Double], d: Int, _ kind: CovarianceSurrogateShape.Kind) -> Double {
        switch kind {
        case let .vicreg(v, c):
            let terms = Reference.vicregTerms(z, d: d)
            return Double(v) * terms.variance + Double(c) * terms.covariance
        case .taylor:
            return Reference.taylorLogDet(z, d: d)
        }
    }

    @Test(arguments: TestBackends.all, [(CovarianceSurrogateShape.Kind.vicreg(varianceWeight: 25, covarianceWeight: 1), 12, 4, 0.5),
                                (.vicreg(varianceWeight: 25, covarianceWeight: 1), 40, 6, 1.5), (.taylor, 12, 4, 0.5),
                                (.taylor, 40, 6, 1.5)])
    func valueAndGradientMatchTheReference(_ name: String, _ c: (CovarianceSurrogateShape.Kind, Int, Int, Double)) throws {
        let cpu = try TestBackends.named(name)
        let (kind, size) = (c.0, (c.1, c.2, c.3))
        let (b, d, spread) = size   // spread < 1 puts the VICReg standard deviations under 1, > 1 mostly over
        var generator = SeededGenerator(seed: UInt64(b * 7 + d))
        let host = generator.floats(b * d).map { $0 * Float(spread) }
        let z = try cpu.upload(host, shape: [b, d]), gradient = try cpu.makeTensor([b, d])
        let value = try cpu.covarianceSurrogate(z, gradient: gradient, CovarianceSurrogateShape(rows: b, dimension: d, kind: kind))
        let z64 = host.map(Double.init)
        let expected = Self.reference(z64, d: d, kind)
        #expect(abs(value - expected) <= 1e-5 * max(1, abs(expected)), "\(kind): \(value) vs \(expected)")
        expectClose(try cpu.download(gradient), finiteDifferenceGradient(z64) { Self.reference($0, d: d, kind) },
                    tolerance: Tolerance.gradient, "∂/∂z \(kind) \(b)x\(d) on \(name)")
    }

    /// Barlow Twins of two 19 × 5 views (λ = 0.1): value and both gradients.
    @Test(arguments: TestBackends.all)
    func barlowTwinsMatchesTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (b, d, lambda) = (19, 5, 0.1)
        var generator = SeededGenerator(seed: 71)
        let host1 = generator.floats(b * d), host2 = generator.floats(b * d).enumerated().map { $0.element + 0.5 * host1[$0.offset] }
        let z1 = try backend.upload(host1, shape: [b, d]), z2 = try backend.upload(host2, shape: [b, d])
        let g1 = try backend.makeTensor([b, d]), g2 = try backend.makeTensor([b, d])
        let value = try backend.barlowTwins(z1, z2, gradient1: g1, gradient2: g2, lambda: Float(lambda))
        let x = host1.map(Double.init), y = host2.map(Double.init)
        let expected = Reference.barlowTwinsLoss(x, y, d: d, lambda: lambda)
        #expect(abs(value - expected) <= 1e-5 * max(1, abs(expected)), "\(value) vs \(expected) on \(name)")
        expectClose(try backend.download(g1), finiteDifferenceGradient(x) { Reference.barlowTwinsLoss($0, y, d: d, lambda: lambda) },
                    tolerance: Tolerance.gradient, "∂/∂z1 on \(name)")
        expectClose(try backend.download(g2), finiteDifferenceGradient(y) { Reference.barlowTwinsLoss(x, $0, d: d, lambda: lambda) },
                    tolerance: Tolerance.gradient, "∂/∂z2 on \(name)")
        #expect(throws: LDMError.self) { _ = try backend.barlowTwins(z1, try backend.makeTensor([b, d + 1]), gradient1: g1, gradient2: g2, lambda: 0.1) }
    }
}

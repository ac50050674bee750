import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// covariance on every backend: the VICReg penalty and the Taylor surrogate against the Double references,
/// gradients against finite differences.
@Suite("Covariance surrogates")
struct CovarianceSurrogateTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    static func reference(_ z: [Double], d: Int, _ kind: CovarianceSurrogateShape.Kind) -> Double {
        switch kind {
        case let .vicreg(v, c):
            let terms = Reference.vicregTerms(z, d: d)
            return Double(v) * terms.variance + Double(c) * terms.covariance
        case .taylor:
            return Reference.taylorLogDet(z, d: d)
        }
    }

    @Test(arguments: backends, [(CovarianceSurrogateShape.Kind.vicreg(varianceWeight: 25, covarianceWeight: 1), 12, 4, 0.5),
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
                    tolerance: GradientTests.tolerance, "∂/∂z \(kind) \(b)x\(d) on \(name)")
    }
}

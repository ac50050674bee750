import Foundation
import LDMEngine
import LDMReference
import Testing

/// activation.cl on every backend: each non-linearity against the Double reference, its derivative against
/// central differences.
@Suite("activation.cl")
struct ActivationTests {
    @Test(arguments: TestBackends.all, Activation.allCases)
    func activationMatchesTheReferenceAndItsDerivative(_ name: String, _ kind: Activation) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 3)
        // 1001 elements (not a multiple of any work-group), values away from the kinks of relu and |x| for the
        // differences; log(x + 1e-5) is defined for positive variances only.
        let spread = generator.floats(1001).map { 3 * $0 }.map { abs($0) < 1e-2 ? $0 + 0.05 : $0 }
        let host = kind == .logShifted ? spread.map { abs($0) + 0.1 } : spread
        let weights = generator.floats(1001)
        let x = try backend.upload(host, shape: [1001]), y = try backend.makeTensor([1001])
        try backend.activation(x, into: y, kind)
        expectClose(try backend.download(y), Reference.activation(host.map(Double.init), kind),
                    tolerance: Tolerance.float32, "\(kind) on \(name)")
        let dx = try backend.makeTensor([1001])
        try backend.activationBackward(x, try backend.upload(weights, shape: [1001]), into: dx, kind)
        let w64 = weights.map(Double.init)
        let expected = finiteDifferenceGradient(host.map(Double.init)) { v in
            zip(Reference.activation(v, kind), w64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), expected, tolerance: Tolerance.gradient, "\(kind)' on \(name)")
    }
}

import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import Testing

/// ica.cl on every backend: ½·log det(W·Wᵀ) and the generalised-Gaussian prior with their gradients (through the
/// ICA objective, which is the kernel's loss) against the Double reference and central differences; the exp(skew)
/// parameterisation of the unmixing rotation.
@Suite("ica.cl")
struct ICATests {
    /// ICA: F = ½ log det(W·Wᵀ) − α·mean_i Σ_k |(W·x_i)_k|^β, loss −F, gradients for x and W, every backend.
    @Test(arguments: TestBackends.all)
    func icaMatchesTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (n, d, alpha, beta) = (7, 3, 0.7, 4.0)
        var generator = SeededGenerator(seed: 92)
        let hostX = generator.floats(n * d)
        let hostW = (0..<(d * d)).map { Float($0 % (d + 1) == 0 ? 1 : 0) + 0.3 * Float(generator.normal()) }
        let reference = { (x: [Double], w: [Double]) -> Double in
            var gram = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for j in 0..<d { for t in 0..<d { gram[i * d + j] += w[i * d + t] * w[j * d + t] } } }
            let factor = Reference.cholesky(gram, n: d)!
            let logDet = (0..<d).reduce(0.0) { $0 + log(factor[$1 * d + $1]) }
            var prior = 0.0
            for i in 0..<n {
                for k in 0..<d {
                    let source = (0..<d).reduce(0.0) { $0 + w[k * d + $1] * x[i * d + $1] }
                    prior += pow(abs(source), beta)
                }
            }
            return -(logDet - alpha * prior / Double(n))
        }
        let x = try backend.upload(hostX, shape: [n, d]), w = try backend.upload(hostW, shape: [d, d])
        let result = try ICA(alpha: Float(alpha), beta: Float(beta)).evaluate(x, w, on: backend)
        let x64 = hostX.map(Double.init), w64 = hostW.map(Double.init)
        #expect(abs(result.value.loss - reference(x64, w64)) <= 1e-5 * max(1, abs(reference(x64, w64))))
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(x64) { reference($0, w64) },
                    tolerance: Tolerance.gradient, "∂loss/∂x ica on \(name)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(w64) { reference(x64, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂W ica on \(name)")
    }

    @Test func skewExponentialIsARotationWithTheRightGradient() {
        // n = 2: exp([[0, p], [−p, 0]]) = [[cos p, sin p], [−sin p, cos p]].
        let w = SkewExponential.rotation([0.7], dimension: 2)
        for (got, want) in zip(w, [cos(0.7), sin(0.7), -sin(0.7), cos(0.7)]) { #expect(abs(got - want) < 1e-14) }
        // n = 4 with large parameters (several squarings): orthogonal, determinant 1 (checked through WᵀW = I).
        var generator = SeededGenerator(seed: 33)
        let p = (0..<6).map { _ in 3 * generator.normal() }
        let r = SkewExponential.rotation(p, dimension: 4)
        for i in 0..<4 {
            for j in 0..<4 {
                let dot = (0..<4).reduce(0.0) { $0 + r[$1 * 4 + i] * r[$1 * 4 + j] }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-12)
            }
        }
        // ∂⟨G, exp(X(p))⟩/∂p against central differences.
        let q = (0..<3).map { _ in generator.normal() }, g = (0..<9).map { _ in generator.normal() }
        let analytic = SkewExponential.parameterGradient(q, dimension: 3, weightGradient: g)
        let numeric = finiteDifferenceGradient(q) { v in zip(SkewExponential.rotation(v, dimension: 3), g).reduce(0) { $0 + $1.0 * $1.1 } }
        for (a, b) in zip(analytic, numeric) { #expect(abs(a - b) < 1e-7 * max(1, abs(b)), "\(analytic) vs \(numeric)") }
    }
}

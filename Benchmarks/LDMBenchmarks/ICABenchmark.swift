import Foundation
import LDMEngine
import LDMReference

/// ica.cl (CPUBackend+ICA, OpenCLBackend+ICA): ½·log det(W·Wᵀ), the generalised-Gaussian prior (β = 4) and both
/// gradients for 65 536 samples of 16 sources. Both terms are validated on the timed arrays against the Double
/// reference, the gradients on a 9 × 3 instance against central differences of it.
public enum ICABenchmark {
    public static func run(_ context: BenchmarkContext, samples n: Int = 1 << 16, sources d: Int = 16) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x696361)
        let hostX = generator.floats(n * d), hostW = Self.unmixing(d, &generator)
        let x = try backend.upload(hostX, shape: [n, d]), w = try backend.upload(hostW, shape: [d, d])
        let gx = try backend.makeTensor([n, d]), gw = try backend.makeTensor([d, d])
        let terms = try backend.icaTerms(x, w, gradientX: gx, gradientW: gw, alpha: 1, beta: 4)
        let expected = Self.reference(hostX.map(Double.init), hostW.map(Double.init), d: d, beta: 4)
        let error = max(Validation.scalarError(terms.logDet, expected.logDet), Validation.scalarError(terms.prior, expected.prior))
        try Validation.check("ica", "\(n)x\(d)", error, tolerance: 1e-4)
        let gradientError = try validateGradients(backend)
        try Validation.check("ica gradients", "\(n)x\(d)", gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            _ = try backend.icaTerms(x, w, gradientX: gx, gradientW: gw, alpha: 1, beta: 4)
        }
        // s = x·Wᵀ and the two gradient products: 3·N·d² multiply-adds.
        return [Validation.row(context, "ica forward+backward", "\(n)x\(d)", timing, flops: 6 * Double(n) * Double(d * d),
                               error: max(error, gradientError))]
    }

    /// A well-conditioned unmixing matrix: I + 0.3·N(0, 1)/√d.
    static func unmixing(_ d: Int, _ generator: inout SeededGenerator) -> [Float] {
        (0..<(d * d)).map { Float($0 / d == $0 % d ? 1 : 0) + 0.3 * Float(generator.normal()) / Float(d).squareRoot() }
    }

    /// ½·log det(W·Wᵀ) and mean_i Σ_k |(W·x_i)_k|^β in Double.
    static func reference(_ x: [Double], _ w: [Double], d: Int, beta: Double) -> (logDet: Double, prior: Double) {
        var gram = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for t in 0..<d { gram[i * d + j] += w[i * d + t] * w[j * d + t] } } }
        let factor = Reference.cholesky(gram, n: d) ?? []
        let logDet = factor.isEmpty ? .nan : (0..<d).reduce(0.0) { $0 + log(factor[$1 * d + $1]) }
        let n = x.count / d
        var prior = 0.0
        for i in 0..<n {
            for k in 0..<d { prior += pow(abs((0..<d).reduce(0.0) { $0 + w[k * d + $1] * x[i * d + $1] }), beta) }
        }
        return (logDet, prior / Double(n))
    }

    static func validateGradients(_ backend: any Backend) throws -> Double {
        let (n, d, alpha) = (9, 3, 0.7)
        var generator = SeededGenerator(seed: 0x696362)
        let hostX = generator.floats(n * d), hostW = Self.unmixing(d, &generator)
        let gx = try backend.makeTensor([n, d]), gw = try backend.makeTensor([d, d])
        _ = try backend.icaTerms(try backend.upload(hostX, shape: [n, d]), try backend.upload(hostW, shape: [d, d]),
                                 gradientX: gx, gradientW: gw, alpha: Float(alpha), beta: 4)
        let loss = { (x: [Double], w: [Double]) -> Double in
            let terms = Self.reference(x, w, d: d, beta: 4)
            return -(terms.logDet - alpha * terms.prior)
        }
        let (x, w) = (hostX.map(Double.init), hostW.map(Double.init))
        return max(Validation.gradientError(try backend.download(gx), at: x) { loss($0, w) },
                   Validation.gradientError(try backend.download(gw), at: w) { loss(x, $0) })
    }
}

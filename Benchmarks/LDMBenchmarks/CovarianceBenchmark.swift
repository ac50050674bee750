import LDMEngine
import LDMReference

/// covariance.cl (CPUBackend+Covariance[+Barlow], OpenCLBackend+Covariance[+Barlow]):
/// value + gradient of the VICReg surrogate of an 8192 × 256 batch and of Barlow Twins on two such views. Values
/// are validated on the timed arrays against the Double reference, gradients on 24 × 5 instances against central
/// differences of it.
public enum CovarianceBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 8192, dimension d: Int = 256) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x636f76)
        let host1 = generator.floats(rows * d), host2 = generator.floats(rows * d)
        let z1 = try backend.upload(host1, shape: [rows, d]), z2 = try backend.upload(host2, shape: [rows, d])
        let g1 = try backend.makeTensor([rows, d]), g2 = try backend.makeTensor([rows, d])
        let vicreg = CovarianceSurrogateShape(rows: rows, dimension: d, kind: .vicreg(varianceWeight: 25, covarianceWeight: 1))
        let (x, y) = (host1.map(Double.init), host2.map(Double.init))
        let vicregValue = { (v: [Double], dd: Int) in let t = Reference.vicregTerms(v, d: dd); return 25 * t.variance + t.covariance }
        let vicregError = Validation.scalarError(try backend.covarianceSurrogate(z1, gradient: g1, vicreg), vicregValue(x, d))
        let barlowError = Validation.scalarError(try backend.barlowTwins(z1, z2, gradient1: g1, gradient2: g2, lambda: 5e-3),
                                                 Reference.barlowTwinsLoss(x, y, d: d, lambda: 5e-3))
        let gradientError = try validateGradients(backend, vicregValue)
        try Validation.check("covariance", "\(rows)x\(d)", max(vicregError, barlowError), tolerance: 1e-4)
        try Validation.check("covariance gradients", "\(rows)x\(d)", gradientError, tolerance: Validation.gradientTolerance)
        let vicregTiming = try Timing.measure(backend, minSeconds: context.minSeconds) { _ = try backend.covarianceSurrogate(z1, gradient: g1, vicreg) }
        let barlowTiming = try Timing.measure(backend, minSeconds: context.minSeconds) {
            _ = try backend.barlowTwins(z1, z2, gradient1: g1, gradient2: g2, lambda: 5e-3)
        }
        // The d × d covariance (B·d² multiply-adds) and its gradient product (as many again); Barlow has the
        // cross-correlation and two gradient products.
        let (b, dd) = (Double(rows), Double(d))
        return [Validation.row(context, "covariance.vicreg forward+backward", "\(rows)x\(d)", vicregTiming, flops: 4 * b * dd * dd,
                               error: max(vicregError, gradientError)),
                Validation.row(context, "covariance.barlow forward+backward", "\(rows)x\(d)", barlowTiming, flops: 6 * b * dd * dd,
                               error: max(barlowError, gradientError))]
    }

    static func validateGradients(_ backend: any Backend, _ vicregValue: ([Double], Int) -> Double) throws -> Double {
        let (b, d) = (24, 5)
        var generator = SeededGenerator(seed: 0x636f77)
        let host1 = generator.floats(b * d).map { 0.5 * $0 }, host2 = generator.floats(b * d)
        let z1 = try backend.upload(host1, shape: [b, d]), z2 = try backend.upload(host2, shape: [b, d])
        let g1 = try backend.makeTensor([b, d]), g2 = try backend.makeTensor([b, d]), g = try backend.makeTensor([b, d])
        _ = try backend.covarianceSurrogate(z1, gradient: g, CovarianceSurrogateShape(rows: b, dimension: d,
                                                                                     kind: .vicreg(varianceWeight: 25, covarianceWeight: 1)))
        _ = try backend.barlowTwins(z1, z2, gradient1: g1, gradient2: g2, lambda: 5e-3)
        let (x, y) = (host1.map(Double.init), host2.map(Double.init))
        return max(Validation.gradientError(try backend.download(g), at: x) { vicregValue($0, d) },
                   Validation.gradientError(try backend.download(g1), at: x) { Reference.barlowTwinsLoss($0, y, d: d, lambda: 5e-3) },
                   Validation.gradientError(try backend.download(g2), at: y) { Reference.barlowTwinsLoss(x, $0, d: d, lambda: 5e-3) })
    }
}

import Foundation
import LDMEngine
import LDMReference
import Testing

/// batch_norm.cl on every backend: training and evaluation forwards against the Double reference, the backward
/// against central differences; bad shapes refused.
@Suite("batch_norm.cl")
struct BatchNormTests {
    @Test(arguments: TestBackends.all)
    func batchNormMatchesTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 31)
        // 37 rows × 45 columns: neither a multiple of a work-group.
        let (rows, c) = (37, 45), shape = BatchNormShape(rows: rows, columns: c)
        let x = generator.floats(rows * c).map { 2 + 3 * $0 }, gamma = generator.floats(c), beta = generator.floats(c)
        let g = generator.floats(rows * c)
        let (tx, tg, tb) = (try backend.upload(x, shape: [rows, c]), try backend.upload(gamma, shape: [c]), try backend.upload(beta, shape: [c]))
        let y = try backend.makeTensor([rows, c]), mean = try backend.makeTensor([c]), variance = try backend.makeTensor([c])
        try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: mean, variance: variance, shape)
        let (x64, gamma64, beta64, g64) = (x.map(Double.init), gamma.map(Double.init), beta.map(Double.init), g.map(Double.init))
        let expected = Reference.batchNorm(x64, gamma: gamma64, beta: beta64, rows: rows)
        expectClose(try backend.download(y), expected.y, tolerance: Tolerance.float32, "y on \(name)")
        expectClose(try backend.download(mean), expected.mean, tolerance: Tolerance.float32, "μ on \(name)")
        expectClose(try backend.download(variance), expected.variance, tolerance: Tolerance.float32, "σ² on \(name)")

        let dx = try backend.makeTensor([rows, c]), dGamma = try backend.makeTensor([c]), dBeta = try backend.makeTensor([c])
        try backend.batchNormBackward(tx, try backend.upload(g, shape: [rows, c]), gamma: tg, mean: mean, variance: variance,
                                      dx: dx, dGamma: dGamma, dBeta: dBeta, shape)
        func functional(_ x: [Double], _ gamma: [Double], _ beta: [Double]) -> Double {
            zip(Reference.batchNorm(x, gamma: gamma, beta: beta, rows: rows).y, g64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), finiteDifferenceGradient(x64) { functional($0, gamma64, beta64) },
                    tolerance: Tolerance.gradient, "dx on \(name)")
        expectClose(try backend.download(dGamma), finiteDifferenceGradient(gamma64) { functional(x64, $0, beta64) },
                    tolerance: Tolerance.gradient, "dγ on \(name)")
        expectClose(try backend.download(dBeta), finiteDifferenceGradient(beta64) { functional(x64, gamma64, $0) },
                    tolerance: Tolerance.gradient, "dβ on \(name)")
        // The closed-form Double backward the benchmark validates against agrees with the differences too.
        let closed = Reference.batchNormBackward(x64, g64, gamma: gamma64, rows: rows)
        expectClose(closed.dx.map { Float($0) }, finiteDifferenceGradient(x64) { functional($0, gamma64, beta64) },
                    tolerance: Tolerance.gradient, "Reference.batchNormBackward dx")
        expectClose(closed.dGamma.map { Float($0) }, finiteDifferenceGradient(gamma64) { functional(x64, $0, beta64) },
                    tolerance: Tolerance.gradient, "Reference.batchNormBackward dγ")

        // Evaluation mode normalises with the given statistics.
        let running = Reference.batchNorm(x64, gamma: gamma64, beta: beta64, rows: rows)
        let givenMean = try backend.upload([Float](repeating: 0.5, count: c), shape: [c])
        let givenVariance = try backend.upload([Float](repeating: 4, count: c), shape: [c])
        try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: givenMean, variance: givenVariance,
                              BatchNormShape(rows: rows, columns: c, training: false))
        let evaluation = (0..<(rows * c)).map { e in gamma64[e % c] * (x64[e] - 0.5) / (4 + 1e-5).squareRoot() + beta64[e % c] }
        expectClose(try backend.download(y), evaluation, tolerance: Tolerance.float32, "eval y on \(name)")
        #expect(running.mean.count == c)

        #expect(throws: LDMError.self) {   // γ of the wrong length
            try backend.batchNorm(tx, gamma: try backend.makeTensor([c + 1]), beta: tb, into: y, mean: mean, variance: variance, shape)
        }
        #expect(throws: LDMError.self) {   // one row has no batch variance
            try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: mean, variance: variance, BatchNormShape(rows: 1, columns: rows * c))
        }
        #expect(throws: LDMError.self) {   // no backward in evaluation mode
            try backend.batchNormBackward(tx, y, gamma: tg, mean: mean, variance: variance, dx: dx, dGamma: dGamma, dBeta: dBeta,
                                          BatchNormShape(rows: rows, columns: c, training: false))
        }
    }
}

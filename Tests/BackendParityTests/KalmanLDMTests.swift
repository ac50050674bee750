import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// The Kalman-LDM loss on the CPU backend: value against the Double reference and every gradient (z, A, b, a, s)
/// against central finite differences of it (SPEC §9: relative error < 1e-4).
@Suite("Kalman-LDM loss (CPU)")
struct KalmanLDMTests {
    @Test(arguments: [(2, 2, 8), (3, 2, 6), (4, 1, 5)])
    func valueAndGradientsMatchTheReference(_ size: (Int, Int, Int)) throws {
        let cpu = try TestBackends.cpu.get()
        let (n, dl, t) = size
        let batch = 2
        var generator = SeededGenerator(seed: UInt64(n * 10 + dl))
        var hostA = generator.floats(n * n).map { 0.3 * $0 }
        for i in 0..<n { hostA[i * n + i] += 0.8 }
        let hostB = generator.floats(n).map { 0.2 * $0 }, hostNoise = generator.floats(n).map { 0.3 * $0 - 1 }
        let hostScale: Float = -0.7
        let hostZ = generator.floats(batch * t * dl)
        let parameters = try KalmanLDMParameters(A: hostA, b: hostB, logProcessNoise: hostNoise, logScale: hostScale)
        let result = try cpu.kalmanLDMLoss(try cpu.upload(hostZ, shape: [batch, t, dl]), parameters)

        let z64 = hostZ.map(Double.init)
        func sequences(_ z: [Double]) -> [[[Double]]] {
            (0..<batch).map { q in (0..<t).map { step in (0..<dl).map { z[(q * t + step) * dl + $0] } } }
        }
        let targets = sequences(z64)
        func loss(filterZ: [Double], A: [Double], b: [Double], a: [Double], s: Double) -> Double {
            zip(sequences(filterZ), targets).reduce(0.0) { total, pair in
                total + Reference.kalmanLDMLoss(filterZ: pair.0, targetZ: pair.1, A: A, b: b, logNoise: a, logScale: s)
            } / Double(batch)
        }
        let (a64, b64, noise64, s64) = (hostA.map(Double.init), hostB.map(Double.init), hostNoise.map(Double.init), Double(hostScale))
        let expected = loss(filterZ: z64, A: a64, b: b64, a: noise64, s: s64)
        #expect(abs(result.loss - expected) <= 1e-5 * max(1, abs(expected)), "loss \(result.loss) vs \(expected)")
        let tolerance = GradientTests.tolerance
        expectClose(try cpu.download(result.gradZ), finiteDifferenceGradient(z64) { loss(filterZ: $0, A: a64, b: b64, a: noise64, s: s64) },
                    tolerance: tolerance, "∂/∂z (stop-gradient) \(size)")
        expectClose(result.gradA, finiteDifferenceGradient(a64) { loss(filterZ: z64, A: $0, b: b64, a: noise64, s: s64) },
                    tolerance: tolerance, "∂/∂A \(size)")
        expectClose(result.gradB, finiteDifferenceGradient(b64) { loss(filterZ: z64, A: a64, b: $0, a: noise64, s: s64) },
                    tolerance: tolerance, "∂/∂b \(size)")
        expectClose(result.gradLogProcessNoise, finiteDifferenceGradient(noise64) { loss(filterZ: z64, A: a64, b: b64, a: $0, s: s64) },
                    tolerance: tolerance, "∂/∂a \(size)")
        expectClose([result.gradLogScale], finiteDifferenceGradient([s64]) { loss(filterZ: z64, A: a64, b: b64, a: noise64, s: $0[0]) },
                    tolerance: tolerance, "∂/∂s \(size)")
    }

    /// The loss is the filter's negative log-likelihood without its constants: running the general filter on
    /// the converted model (F = A, offset (I − A)·b, H = D, Q = Σ_A, R = Σ_D) must give the same number.
    @Test func lossEqualsTheGeneralFiltersNegativeLogLikelihood() throws {
        let cpu = try TestBackends.cpu.get()
        let (n, dl, t, batch) = (3, 2, 20, 4)
        var generator = SeededGenerator(seed: 12)
        var hostA = generator.floats(n * n).map { 0.2 * $0 }
        for i in 0..<n { hostA[i * n + i] += 0.9 }
        let parameters = try KalmanLDMParameters(A: hostA, b: generator.floats(n), logProcessNoise: generator.floats(n).map { $0 - 1 },
                                                 logScale: -0.3)
        let z = try cpu.upload(generator.floats(batch * t * dl), shape: [batch, t, dl])
        let loss = try cpu.kalmanLDMLoss(z, parameters).loss
        let model = try LinearGaussianModel(kalmanLDM: parameters, observationDimension: dl)
        let outputs = try KalmanFilterOutputs(batch: batch, steps: t, model: model, on: cpu)
        _ = try cpu.kalmanFilter(z, model, into: outputs)
        let logLikelihood = try cpu.download(outputs.logLikelihood).map(Double.init).reduce(0, +) / Double(batch)
        let expected = -logLikelihood - Double(t * dl) / 2 * log(2 * Double.pi)
        #expect(abs(loss - expected) <= 1e-5 * abs(expected), "\(loss) vs \(expected)")
    }
}

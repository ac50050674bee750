import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// kalman on the CPU backend: the float32 batched filter and smoother against the Double reference, and
/// long-run stability. (The OpenCL kalman.cl is the next step of issue 4.)
@Suite("Kalman filter (CPU)")
struct KalmanTests {
    /// A 4-state model observed in 2 dimensions: a damped rotation in the first two states, slow drifts in the rest.
    static func model(rotation: Double = 0.3, damping: Double = 0.97) throws -> LinearGaussianModel {
        let c = Float(damping * cos(rotation)), s = Float(damping * sin(rotation))
        return try LinearGaussianModel(
            F: [c, -s, 0, 0, s, c, 0, 0, 0, 0, 0.9, 0.05, 0, 0, 0, 0.95],
            H: [1, 0, 0.5, 0, 0, 1, 0, 0.3],
            Q: [0.05, 0.01, 0, 0, 0.01, 0.04, 0, 0, 0, 0, 0.02, 0, 0, 0, 0, 0.02],
            R: [0.2, 0.05, 0.05, 0.3],
            m0: [0.5, -0.5, 0.1, 0], P0: nil)
    }

    @Test func filterAndSmootherMatchTheReference() throws {
        let cpu = try TestBackends.cpu.get()
        let model = try Self.model()
        let (b, t, n, m) = (3, 50, 4, 2)
        var generator = SeededGenerator(seed: 5)
        let hostZ = generator.floats(b * t * m)
        let z = try cpu.upload(hostZ, shape: [b, t, m])
        let out = try KalmanFilterOutputs(batch: b, steps: t, model: model, on: cpu)
        #expect(try cpu.kalmanFilter(z, model, into: out) == 0)
        let means = try cpu.makeTensor([b, t, n]), covs = try cpu.makeTensor([b, t, n, n])
        try cpu.rtsSmoother(out, model, means: means, covariances: covs)
        let d = { (x: [Float]) in x.map(Double.init) }
        var expected = (filteredMeans: [Double](), filteredCovs: [Double](), predictedCovs: [Double](), s: [Double](),
                        smoothedMeans: [Double](), smoothedCovs: [Double](), logLikelihood: [Double]())
        for q in 0..<b {
            let observations = (0..<t).map { step in (0..<m).map { Double(hostZ[(q * t + step) * m + $0]) } }
            let reference = Reference.kalmanFilter(observations, F: d(model.F), H: d(model.H), Q: d(model.Q), R: d(model.R),
                                                   m0: d(model.m0), P0: d(model.P0))
            let smoothed = Reference.rtsSmoother(reference, F: d(model.F))
            expected.filteredMeans += reference.filteredMeans.flatMap { $0 }
            expected.filteredCovs += reference.filteredCovariances.flatMap { $0 }
            expected.predictedCovs += reference.predictedCovariances.flatMap { $0 }
            expected.s += reference.innovationCovariances.flatMap { $0 }
            expected.smoothedMeans += smoothed.means.flatMap { $0 }
            expected.smoothedCovs += smoothed.covariances.flatMap { $0 }
            expected.logLikelihood.append(reference.logLikelihood)
        }
        let tolerance = ParityChecks.float32Tolerance
        expectClose(try cpu.download(out.filteredMeans), expected.filteredMeans, tolerance: tolerance, "filtered means")
        expectClose(try cpu.download(out.filteredCovariances), expected.filteredCovs, tolerance: tolerance, "filtered covariances")
        expectClose(try cpu.download(out.predictedCovariances), expected.predictedCovs, tolerance: tolerance, "predicted covariances")
        expectClose(try cpu.download(out.innovationCovariances), expected.s, tolerance: tolerance, "innovation covariances")
        expectClose(try cpu.download(out.logLikelihood), expected.logLikelihood, tolerance: tolerance, "log-likelihood")
        expectClose(try cpu.download(means), expected.smoothedMeans, tolerance: tolerance, "smoothed means")
        expectClose(try cpu.download(covs), expected.smoothedCovs, tolerance: tolerance, "smoothed covariances")
    }

    /// SPEC §9: covariances stay symmetric positive definite for T = 10 000 steps of a marginally stable system
    /// (an undamped rotation, |eigenvalues| = 1).
    @Test func covariancesStayPositiveDefiniteOverTenThousandSteps() throws {
        let cpu = try TestBackends.cpu.get()
        let model = try Self.model(rotation: 0.314, damping: 1.0)
        let (t, n) = (10_000, 4)
        var generator = SeededGenerator(seed: 6)
        let z = try cpu.upload(generator.floats(t * 2), shape: [1, t, 2])
        let out = try KalmanFilterOutputs(batch: 1, steps: t, model: model, on: cpu)
        _ = try cpu.kalmanFilter(z, model, into: out)
        let covs = try cpu.download(out.filteredCovariances)
        for step in stride(from: 0, to: t, by: 97) + [t - 1] {
            let p = (0..<(n * n)).map { Double(covs[step * n * n + $0]) }
            for i in 0..<n { for j in 0..<n { #expect(p[i * n + j] == p[j * n + i], "symmetric at step \(step)") } }
            #expect(Reference.cholesky(p, n: n) != nil, "positive definite at step \(step)")
        }
        #expect(try cpu.download(out.logLikelihood).allSatisfy { $0.isFinite })
    }

    @Test func refusesMismatchedShapes() throws {
        let cpu = try TestBackends.cpu.get()
        let model = try Self.model()
        let z = try cpu.makeTensor([2, 5, 3])
        let out = try KalmanFilterOutputs(batch: 2, steps: 5, model: model, on: cpu)
        #expect(throws: LDMError.self) { _ = try cpu.kalmanFilter(z, model, into: out) }
        #expect(throws: LDMError.self) { _ = try LinearGaussianModel(F: [1, 0, 0, 1], H: [1, 0, 0], Q: [1, 0, 0, 1], R: [1]) }
        #expect(throws: LDMError.self) { _ = try LinearGaussianModel(F: [.nan], H: [1], Q: [1], R: [1]) }
    }
}

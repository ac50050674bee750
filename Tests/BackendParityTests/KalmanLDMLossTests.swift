import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import Testing

/// The Kalman-LDM loss on every backend (kalman_* kernels composed by Backend.kalmanLDMLoss): value against the
/// Double reference and every gradient (z, A, b, a, s, per-step ℓ) against central finite differences of it
/// (docs/mathematics.md §9: relative error < 1e-4), in the stop-gradient and kNN forms, with shared and per-step noise.
@Suite("Kalman-LDM loss")
struct KalmanLDMLossTests {
    /// A seeded problem: parameters near a damped identity and z of [batch, t, dl].
    struct Problem {
        let n: Int, dl: Int, t: Int, batch: Int
        var A: [Float], b: [Float], a: [Float], s: Float, z: [Float], noise: [Float]?

        init(n: Int, dl: Int, t: Int, batch: Int, seed: UInt64, perStepNoise: Bool = false) {
            (self.n, self.dl, self.t, self.batch) = (n, dl, t, batch)
            var generator = SeededGenerator(seed: seed)
            // Off-diagonal scale 0.2/√n keeps the spectral radius below 1 whatever n (a stable filter).
            var hostA = generator.floats(n * n).map { 0.2 * $0 / Float(n).squareRoot() }
            for i in 0..<n { hostA[i * n + i] += 0.8 }
            A = hostA
            b = generator.floats(n).map { 0.2 * $0 }
            a = generator.floats(n).map { 0.3 * $0 - 1 }
            s = -0.7
            z = generator.floats(batch * t * dl)
            noise = perStepNoise ? generator.floats(batch * t * dl).map { 0.4 * $0 } : nil
        }

        var parameters: KalmanLDMParameters { get throws { try KalmanLDMParameters(A: A, b: b, logProcessNoise: a, logScale: s) } }

        func sequences(_ values: [Double]) -> [[[Double]]] {
            (0..<batch).map { q in (0..<t).map { step in (0..<dl).map { values[(q * t + step) * dl + $0] } } }
        }

        /// The Double loss; `filterZ` feeds the filter (the stop-gradient derivative), `targetZ` the residuals.
        func loss(filterZ: [Double], targetZ: [Double], A: [Double], b: [Double], a: [Double], s: Double,
                  noise: [Double]?, variant: KalmanLDMVariant) -> Double {
            let noiseSequences = noise.map(sequences)
            var total = 0.0
            for (q, (filter, target)) in zip(sequences(filterZ), sequences(targetZ)).enumerated() {
                total += Reference.kalmanLDMLoss(filterZ: filter, targetZ: target, A: A, b: b, logNoise: a, logScale: s,
                                                 logObservationNoise: noiseSequences?[q], extraDiagonal: variant == .knn ? 1e-6 : 0)
            }
            total /= Double(batch)
            if variant == .knn {
                total -= Double(t) * Reference.knnEntropy(filterZ, d: dl, k: 3, scale: Double(dl), cap: .infinity)
            }
            return total
        }
    }

    static let cases: [(String, Int, Int, Int)] = TestBackends.all.flatMap { name in [(name, 2, 2, 8), (name, 3, 2, 6), (name, 4, 1, 5), (name, 16, 16, 5), (name, 18, 7, 4)] }

    @Test(arguments: cases)
    func stopGradientValueAndGradientsMatchTheReference(_ c: (String, Int, Int, Int)) throws {
        try Self.check(c.0, Problem(n: c.1, dl: c.2, t: c.3, batch: 2, seed: UInt64(c.1 * 10 + c.2)), .stopGradient)
    }

    @Test(arguments: TestBackends.all)
    func knnValueAndGradientsMatchTheReference(_ name: String) throws {
        try Self.check(name, Problem(n: 3, dl: 2, t: 6, batch: 2, seed: 41), .knn)
    }

    @Test(arguments: TestBackends.all)
    func perStepObservationNoiseGradientsMatchTheReference(_ name: String) throws {
        try Self.check(name, Problem(n: 3, dl: 2, t: 5, batch: 2, seed: 43, perStepNoise: true), .stopGradient)
        // One sequence: one covariance group, the noise still per step.
        try Self.check(name, Problem(n: 2, dl: 2, t: 4, batch: 1, seed: 44, perStepNoise: true), .stopGradient)
    }

    /// Long sequences under a slowly decaying rotation (|λ| ≈ 0.996) with s = 1, the training regime: the reverse
    /// pass once propagated P̄⁻'s antisymmetric part, which grew by ~(1 + ‖K‖²) per step until float32 rounding
    /// swamped the gradients of A, a, s and ℓ after ~70 steps (∂/∂s came out −26 167 against 81 at T = 100).
    @Test(arguments: TestBackends.all)
    func longSequenceGradientsMatchTheReference(_ name: String) throws {
        for perStepNoise in [false, true] {
            var p = Problem(n: 2, dl: 2, t: 150, batch: 1, seed: 45, perStepNoise: perStepNoise)
            p.A = [0.95, -0.3, 0.3, 0.95]
            p.s = 1
            try Self.check(name, p, .stopGradient)
        }
    }

    /// The time-parallel means (an affine scan over time) give the same value and gradients, checked the same way.
    @Test(arguments: TestBackends.all)
    func timeParallelValueAndGradientsMatchTheReference(_ name: String) throws {
        for (n, dl, t, variant) in [(2, 2, 8, KalmanLDMVariant.stopGradient), (3, 2, 6, .knn), (4, 1, 41, .stopGradient)] {
            try Self.check(name, Problem(n: n, dl: dl, t: t, batch: 2, seed: UInt64(n * 7 + t)), variant, timeParallel: .on)
        }
    }

    static func check(_ name: String, _ p: Problem, _ variant: KalmanLDMVariant, timeParallel: KalmanTimeParallel = .automatic) throws {
        let backend = try TestBackends.named(name)
        let label = "n \(p.n) d_l \(p.dl) T \(p.t) \(variant.rawValue)\(p.noise == nil ? "" : " per-step noise") means \(timeParallel) on \(name)"
        let noiseTensor = try p.noise.map { try backend.upload($0, shape: [p.batch, p.t, p.dl]) }
        let result = try backend.kalmanLDMLoss(try backend.upload(p.z, shape: [p.batch, p.t, p.dl]), try p.parameters,
                                               variant: variant, logObservationNoise: noiseTensor, timeParallel: timeParallel)
        let z64 = p.z.map(Double.init), noise64 = p.noise?.map(Double.init)
        let (a64, b64, logQ64, s64) = (p.A.map(Double.init), p.b.map(Double.init), p.a.map(Double.init), Double(p.s))
        let stopped = variant == .stopGradient
        func loss(z: [Double]? = nil, A: [Double]? = nil, b: [Double]? = nil, a: [Double]? = nil, s: Double? = nil,
                  noise: [Double]? = nil) -> Double {
            let filterZ = z ?? z64
            return p.loss(filterZ: filterZ, targetZ: stopped ? z64 : filterZ, A: A ?? a64, b: b ?? b64, a: a ?? logQ64,
                          s: s ?? s64, noise: noise ?? noise64, variant: variant)
        }
        let expected = loss()
        #expect(abs(result.loss - expected) <= 1e-5 * max(1, abs(expected)), "loss \(result.loss) vs \(expected) \(label)")
        // The forward-only driver is the loss's forward pass.
        let filtered = try backend.kalmanLDMFilter(try backend.upload(p.z, shape: [p.batch, p.t, p.dl]), try p.parameters,
                                                   variant: variant, logObservationNoise: noiseTensor, timeParallel: timeParallel)
        #expect(try backend.download(filtered.means.filteredMeans) == backend.download(result.filter.means.filteredMeans), "\(label)")
        let tolerance = Tolerance.gradient
        expectClose(try backend.download(result.gradZ), finiteDifferenceGradient(z64) { loss(z: $0) }, tolerance: tolerance, "∂/∂z \(label)")
        expectClose(result.gradA, finiteDifferenceGradient(a64) { loss(A: $0) }, tolerance: tolerance, "∂/∂A \(label)")
        expectClose(result.gradB, finiteDifferenceGradient(b64) { loss(b: $0) }, tolerance: tolerance, "∂/∂b \(label)")
        expectClose(result.gradLogProcessNoise, finiteDifferenceGradient(logQ64) { loss(a: $0) }, tolerance: tolerance, "∂/∂a \(label)")
        expectClose([result.gradLogScale], finiteDifferenceGradient([s64]) { loss(s: $0[0]) }, tolerance: tolerance, "∂/∂s \(label)")
        if let noise64 {
            let got = try #require(result.gradLogObservationNoise, "no ∂/∂ℓ \(label)")
            expectClose(try backend.download(got), finiteDifferenceGradient(noise64) { loss(noise: $0) }, tolerance: tolerance, "∂/∂ℓ \(label)")
        } else {
            #expect(result.gradLogObservationNoise == nil)
        }
    }

    /// The loss is the filter's negative log-likelihood without its constants: running the general filter on
    /// the converted model (F = A, offset (I − A)·b, H = D, Q = Σ_A, R = Σ_D) must give the same number.
    @Test(arguments: TestBackends.all)
    func lossEqualsTheGeneralFiltersNegativeLogLikelihood(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let p = Problem(n: 3, dl: 2, t: 20, batch: 4, seed: 12)
        let z = try backend.upload(p.z, shape: [p.batch, p.t, p.dl])
        let loss = try backend.kalmanLDMLoss(z, try p.parameters).loss
        let model = try LinearGaussianModel(kalmanLDM: try p.parameters, observationDimension: p.dl)
        let filtered = try backend.kalmanFilter(z, model)
        let logLikelihood = try backend.download(filtered.logLikelihood).map(Double.init).reduce(0, +) / Double(p.batch)
        let expected = -logLikelihood - Double(p.t * p.dl) / 2 * log(2 * Double.pi)
        #expect(abs(loss - expected) <= 1e-5 * abs(expected), "\(loss) vs \(expected) on \(name)")
    }

    /// Every output and gradient of the OpenCL kernels equals the CPU twin's at sizes the finite-difference tests do
    /// not reach: many sequences, d_s = 16 and d_s = 40 (beyond a private-memory state), T = 60.
    @Test(.enabled(if: TestBackends.openCLEnabled, TestBackends.skipReason),
          arguments: [(16, 8, false), (40, 24, false), (6, 3, true)])
    func openCLMatchesTheCPU(_ size: (Int, Int, Bool)) throws {
        let (n, dl, perStep) = size
        let (cpu, gpu) = (try TestBackends.named("cpu"), try TestBackends.named("opencl"))
        let p = Problem(n: n, dl: dl, t: 60, batch: 33, seed: UInt64(n), perStepNoise: perStep)
        var results: [(KalmanLDMResult, any Backend)] = []
        for backend in [cpu, gpu] {
            let noise = try p.noise.map { try backend.upload($0, shape: [p.batch, p.t, p.dl]) }
            results.append((try backend.kalmanLDMLoss(try backend.upload(p.z, shape: [p.batch, p.t, p.dl]), try p.parameters,
                                                      logObservationNoise: noise), backend))
        }
        let ((c, cb), (o, ob)) = (results[0], results[1])
        let label = "d_s \(n) d_l \(dl)\(perStep ? " per-step noise" : "")"
        // Two float32 summation orders (OpenBLAS on the CPU above 24³, entry-wise loops in kalman.cl) of ∂/∂A's
        // T·B·n-term sums with cancellation differ by ~2e-4 at d_s = 40; the finite-difference tests above pin
        // the mathematics itself at 1e-4.
        let tolerance = 1e-3
        #expect(abs(c.loss - o.loss) <= tolerance * max(1, abs(c.loss)), "loss \(c.loss) vs \(o.loss) \(label)")
        let pairs: [(String, [Float], [Float])] = [
            ("∂/∂z", try cb.download(c.gradZ), try ob.download(o.gradZ)), ("∂/∂A", c.gradA, o.gradA), ("∂/∂b", c.gradB, o.gradB),
            ("∂/∂a", c.gradLogProcessNoise, o.gradLogProcessNoise), ("∂/∂s", [c.gradLogScale], [o.gradLogScale]),
            ("filtered means", try cb.download(c.filter.means.filteredMeans), try ob.download(o.filter.means.filteredMeans)),
            ("filtered covariances", try cb.download(c.filter.covariances.filtered), try ob.download(o.filter.covariances.filtered))]
        for (what, expected, got) in pairs {
            expectClose(got, expected.map(Double.init), tolerance: tolerance, "\(what) \(label): OpenCL vs CPU")
        }
    }
}

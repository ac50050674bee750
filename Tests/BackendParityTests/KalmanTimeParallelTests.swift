import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import Testing

/// The time-parallel Kalman means (Backend+KalmanTimeParallel.swift: affine scans over time and products over all
/// steps) against the sequential kernels on every backend: every tape of the filter, the smoothed means and the
/// Kalman-LDM gradients, for T from 1 to 4097 (powers of two and not) and T = 100 000; the inverses of S_t that
/// the form whitens with against the Double inverse and its log-likelihood sums against Double ones; and the same
/// with a noise group per sequence (noise given per sequence or predicted per step).
@Suite("Kalman time-parallel means")
struct KalmanTimeParallelTests {
    /// Relative L2 difference of two float arrays.
    static func difference(_ a: [Float], _ b: [Float]) -> Double {
        var (d, norm) = (0.0, 0.0)
        for (x, y) in zip(a, b) {
            d += (Double(x) - Double(y)) * (Double(x) - Double(y))
            norm += Double(y) * Double(y)
        }
        return (d / max(norm, 1e-30)).squareRoot()
    }

    /// A sum over T steps in float32 (a log-likelihood, a loss) differs between two summation orders by about
    /// T·ε relative in the worst case; the bound used is 1e-5, growing linearly from T = 1000.
    static func sumTolerance(steps t: Int) -> Double { 1e-5 * max(1, Double(t) / 1000) }

    static func compareFilters(_ backend: any Backend, _ model: LinearGaussianModel, b: Int, t: Int, seed: UInt64,
                               tolerance: Double, _ label: String) throws {
        var generator = SeededGenerator(seed: seed)
        let z = try backend.upload(generator.floats(b * t * model.observationDimension), shape: [b, t, model.observationDimension])
        let sequential = try backend.kalmanFilter(z, model, timeParallel: .off)
        let parallel = try backend.kalmanFilter(z, model, timeParallel: .on)
        let tapes: [(String, KeyPath<KalmanMeanTape, Tensor>)] = [
            ("predicted", \.predictedMeans), ("filtered", \.filteredMeans), ("previous", \.previousMeans),
            ("whitened", \.whitened), ("log-likelihood", \.logLikelihood)]
        for (name, path) in tapes {
            let error = difference(try backend.download(parallel.means[keyPath: path]), try backend.download(sequential.means[keyPath: path]))
            let allowed = path == \.logLikelihood ? max(tolerance, sumTolerance(steps: t)) : tolerance
            #expect(error <= allowed, "\(name): relative difference \(error) \(label)")
        }
        let smoothedSequential = try backend.rtsSmoother(sequential, model, timeParallel: .off)
        let smoothedParallel = try backend.rtsSmoother(sequential, model, timeParallel: .on)
        let error = difference(try backend.download(smoothedParallel.means), try backend.download(smoothedSequential.means))
        #expect(error <= tolerance, "smoothed: relative difference \(error) \(label)")
    }

    @Test(arguments: TestBackends.all)
    func filterAndSmootherMatchTheSequentialForms(_ name: String) throws {
        let backend = try TestBackends.named(name)
        for (b, t, n, m, selection) in [(3, 1, 2, 1, false), (2, 2, 3, 2, false), (4, 17, 4, 2, true), (5, 100, 16, 16, true),
                                        (3, 1000, 2, 2, false), (2, 1024, 5, 3, false), (2, 4097, 3, 1, true), (1, 333, 20, 6, false)] {
            let model = try KalmanTests.largeModel(n: n, m: m, selection: selection, seed: UInt64(n * 31 + m))
            try Self.compareFilters(backend, model, b: b, t: t, seed: UInt64(t), tolerance: 1e-5,
                                    "B \(b) T \(t) n \(n) m \(m)\(selection ? " H = [I 0]" : "") on \(name)")
        }
    }

    /// At T = 100 000 the two forms stay within 1e-4 of each other (float32 rounding accumulates differently).
    @Test(arguments: TestBackends.all)
    func aHundredThousandStepsAgree(_ name: String) throws {
        let backend = try TestBackends.named(name)
        try Self.compareFilters(backend, try KalmanTests.largeModel(n: 4, m: 2, selection: false, seed: 5), b: 2, t: 100_000, seed: 9,
                                tolerance: 1e-4, "B 2 T 100000 n 4 m 2 on \(name)")
    }

    @Test(arguments: TestBackends.all)
    func kalmanLDMGradientsMatchTheSequentialForm(_ name: String) throws {
        let backend = try TestBackends.named(name)
        for (n, dl, t, variant) in [(2, 2, 1, KalmanLDMVariant.stopGradient), (4, 2, 257, .stopGradient), (16, 8, 300, .knn), (3, 3, 4097, .stopGradient)] {
            let p = KalmanLDMLossTests.Problem(n: n, dl: dl, t: t, batch: 4, seed: UInt64(t + n))
            let z = try backend.upload(p.z, shape: [p.batch, t, dl])
            let off = try backend.kalmanLDMLoss(z, try p.parameters, variant: variant, timeParallel: .off)
            let on = try backend.kalmanLDMLoss(z, try p.parameters, variant: variant, timeParallel: .on)
            let label = "n \(n) d_l \(dl) T \(t) \(variant.rawValue) on \(name)"
            // The loss is −log p minus the constant T·d_l/2·log 2π, so its rounding is relative to the larger of the two.
            let scale = max(1, abs(off.loss), Double(t * dl))
            #expect(abs(on.loss - off.loss) <= Self.sumTolerance(steps: t) * scale, "loss \(on.loss) vs \(off.loss) \(label)")
            for (what, x, y) in [("z", try backend.download(on.gradZ), try backend.download(off.gradZ)), ("A", on.gradA, off.gradA),
                                 ("b", on.gradB, off.gradB), ("a", on.gradLogProcessNoise, off.gradLogProcessNoise),
                                 ("s", [on.gradLogScale], [off.gradLogScale])] {
                let error = Self.difference(x, y)
                #expect(error <= 1e-4, "∂/∂\(what): relative difference \(error) \(label)")
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func innovationInversesInvertS(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let model = try KalmanTests.largeModel(n: 6, m: 4, selection: false, seed: 3)
        var generator = SeededGenerator(seed: 4)
        let (t, m) = (9, 4)
        let filtered = try backend.kalmanFilter(try backend.upload(generator.floats(2 * t * m), shape: [2, t, m]), model, timeParallel: .off)
        let inverses = try backend.makeTensor([t, 1, m, m])
        try backend.kalmanInnovationInverses(filtered.covariances, into: inverses)
        let (got, factors) = (try backend.download(inverses), try backend.download(filtered.covariances.factors))
        var expected = [Double]()
        for step in 0..<t {
            // S = L·Lᵀ from the factor, inverted by Gauss–Jordan in Double.
            let l = Array(factors[(step * m * m)..<((step + 1) * m * m)]).map(Double.init)
            var s = (0..<(m * m)).map { e in (0..<m).reduce(0.0) { $0 + l[(e / m) * m + $1] * l[(e % m) * m + $1] } }
            var inverse = (0..<(m * m)).map { $0 / m == $0 % m ? 1.0 : 0 }
            for c in 0..<m {
                let pivot = s[c * m + c]
                for j in 0..<m { s[c * m + j] /= pivot; inverse[c * m + j] /= pivot }
                for r in 0..<m where r != c {
                    let f = s[r * m + c]
                    for j in 0..<m { s[r * m + j] -= f * s[c * m + j]; inverse[r * m + j] -= f * inverse[c * m + j] }
                }
            }
            expected += inverse
        }
        expectClose(got, expected, tolerance: Tolerance.float32, "S⁻¹ on \(name)")
    }

    /// kalman_log_likelihood against a Double sum, at T = 20 000 where a plain float32 sum over time drifts.
    @Test(arguments: TestBackends.all)
    func logLikelihoodsMatchADoubleSum(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (b, t, m) = (3, 20_000, 2)
        let model = try KalmanTests.largeModel(n: 3, m: m, selection: false, seed: 8)
        var generator = SeededGenerator(seed: 12)
        let filtered = try backend.kalmanFilter(try backend.upload(generator.floats(b * t * m), shape: [b, t, m]), model, timeParallel: .off)
        let e = generator.floats(t * b * m), r = generator.floats(t * b * m).map { abs($0) }
        let out = try backend.makeTensor([b])
        try backend.kalmanLogLikelihood(try backend.upload(e, shape: [t, b, m]), whitened: try backend.upload(r, shape: [t, b, m]),
                                        filtered.covariances, into: out)
        let expected = Self.logLikelihoods(e, r, logDeterminants: try backend.download(filtered.covariances.logDeterminants),
                                           batch: b, steps: t, m: m, groups: 1)
        expectClose(try backend.download(out), expected, tolerance: 1e-6, "log-likelihoods over \(t) steps on \(name)")
        // A noise group per sequence: each sequence sums its own group's log det S_t; a batch that the groups do not
        // split is refused.
        let (groups, steps) = (2, 7)
        let perSequence = try backend.kalmanFilter(try backend.upload(generator.floats(groups * steps * m), shape: [groups, steps, m]),
                                                   try Self.perSequenceModel(n: 3, m: m, batch: groups, seed: 2))
        let (e2, r2) = (generator.floats(steps * groups * m), generator.floats(steps * groups * m))
        let out2 = try backend.makeTensor([groups])
        try backend.kalmanLogLikelihood(try backend.upload(e2, shape: [steps, groups, m]), whitened: try backend.upload(r2, shape: [steps, groups, m]),
                                        perSequence.covariances, into: out2)
        let expected2 = Self.logLikelihoods(e2, r2, logDeterminants: try backend.download(perSequence.covariances.logDeterminants),
                                            batch: groups, steps: steps, m: m, groups: groups)
        expectClose(try backend.download(out2), expected2, tolerance: 1e-6, "per-sequence log-likelihoods on \(name)")
        #expect(throws: LDMError.self) {
            try backend.kalmanLogLikelihood(try backend.makeTensor([steps, 3, m]), whitened: try backend.makeTensor([steps, 3, m]),
                                            perSequence.covariances, into: try backend.makeTensor([3]))
        }
    }

    /// −½·Σ_t (e_t·r_t + log det S_t + m·log 2π) per sequence in Double, e and r step-major [T, B, m], log det S_t
    /// [T, G] with sequence q in group q / (B/G).
    static func logLikelihoods(_ e: [Float], _ r: [Float], logDeterminants logDets: [Float], batch b: Int, steps t: Int, m: Int,
                               groups g: Int) -> [Double] {
        (0..<b).map { q in
            (0..<t).reduce(0.0) { total, step in
                let quadratic = (0..<m).reduce(0.0) { $0 + Double(e[(step * b + q) * m + $1]) * Double(r[(step * b + q) * m + $1]) }
                return total - 0.5 * (quadratic + Double(logDets[step * g + q / (b / g)]) + Double(m) * Foundation.log(2 * Double.pi))
            }
        }
    }

    /// `largeModel`'s F, H and Q with an observation noise of its own for each of `batch` sequences (a noise group
    /// per sequence): R_q = (0.15 + 0.1·q)·I plus a small SPD term.
    static func perSequenceModel(n: Int, m: Int, batch: Int, seed: UInt64) throws -> LinearGaussianModel {
        var model = try KalmanTests.largeModel(n: n, m: m, selection: false, seed: seed)
        var generator = SeededGenerator(seed: seed + 1)
        model.R = (0..<batch).flatMap { q -> [Float] in
            let w = generator.floats(m * m)
            return (0..<(m * m)).map { e in
                let (i, j) = (e / m, e % m)
                return (i == j ? 0.15 + 0.1 * Float(q) : 0) + 0.02 / Float(m) * (0..<m).reduce(Float(0)) { $0 + w[i * m + $1] * w[j * m + $1] }
            }
        }
        return model
    }

    /// Noise per sequence (the filter) or predicted per step (the Kalman-LDM loss): a noise group per sequence,
    /// whose means scan with each sequence's own matrices. `on` matches the sequential form; `automatic` keeps the
    /// sequential form there (the per-group scan is unmeasured against it).
    @Test(arguments: TestBackends.all)
    func perSequenceCovariancesTakeTheTimeParallelForm(_ name: String) throws {
        let backend = try TestBackends.named(name)
        for (b, t, n, m) in [(3, 1, 2, 1), (2, 17, 3, 2), (4, 333, 4, 2), (3, 1024, 16, 5)] {
            try Self.compareFilters(backend, try Self.perSequenceModel(n: n, m: m, batch: b, seed: UInt64(t + n)), b: b, t: t,
                                    seed: UInt64(t), tolerance: 1e-5, "B \(b) T \(t) n \(n) m \(m), R per sequence, on \(name)")
        }
        for (n, dl, t, variant) in [(2, 2, 1, KalmanLDMVariant.stopGradient), (4, 2, 257, .knn), (3, 3, 1000, .stopGradient)] {
            let p = KalmanLDMLossTests.Problem(n: n, dl: dl, t: t, batch: 3, seed: UInt64(t), perStepNoise: true)
            let z = try backend.upload(p.z, shape: [3, t, dl]), noise = try backend.upload(p.noise!, shape: [3, t, dl])
            let off = try backend.kalmanLDMLoss(z, try p.parameters, variant: variant, logObservationNoise: noise, timeParallel: .off)
            let on = try backend.kalmanLDMLoss(z, try p.parameters, variant: variant, logObservationNoise: noise, timeParallel: .on)
            let label = "n \(n) d_l \(dl) T \(t) \(variant.rawValue), per-step noise, on \(name)"
            let scale = max(1, abs(off.loss), Double(t * dl))
            #expect(abs(on.loss - off.loss) <= Self.sumTolerance(steps: t) * scale, "loss \(on.loss) vs \(off.loss) \(label)")
            let noiseOn = try #require(on.gradLogObservationNoise), noiseOff = try #require(off.gradLogObservationNoise)
            for (what, x, y) in [("z", try backend.download(on.gradZ), try backend.download(off.gradZ)), ("A", on.gradA, off.gradA),
                                 ("b", on.gradB, off.gradB), ("a", on.gradLogProcessNoise, off.gradLogProcessNoise),
                                 ("s", [on.gradLogScale], [off.gradLogScale]),
                                 ("ℓ", try backend.download(noiseOn), try backend.download(noiseOff))] {
                let error = Self.difference(x, y)
                #expect(error <= 1e-4, "∂/∂\(what): relative difference \(error) \(label)")
            }
            let automatic = try backend.kalmanLDMLoss(z, try p.parameters, variant: variant, logObservationNoise: noise,
                                                      timeParallel: .automatic)
            #expect(automatic.loss == off.loss, "automatic takes the sequential form with per-step noise \(label)")
        }
    }
}

import Foundation
import LDMData
import Testing

/// The data sets the engine generates: dot-motion videos (the circular path's jumps and noise, half_flip),
/// Ornstein–Uhlenbeck mixtures, two-view vectors with a fixed mixing and clustered latents; all seeded.
@Suite("Data sets")
struct DataTests {
    @Test func circularDataFollowsSpec() {
        var motion = DotMotion(path: .circular)
        motion.jumpRate = 0.2
        let a = motion.generate(count: 40, seed: 5), b = motion.generate(count: 40, seed: 5)
        #expect(a.frames == b.frames && a.positions == b.positions, "the same seed gives the same data")
        #expect(a.frames != motion.generate(count: 40, seed: 6).frames)
        var jumps = 0, steps = 0
        let turn = 2 * Double.pi * 0.1 / 2, jump = Double.pi * 135 / 180
        for q in 0..<40 {
            #expect(a.positions[q * 200] == 1 && a.positions[q * 200 + 1] == 0, "p_0 = (1, 0)")
            for t in 1..<100 {
                let (x0, y0) = (Double(a.positions[(q * 100 + t - 1) * 2]), Double(a.positions[(q * 100 + t - 1) * 2 + 1]))
                let (x1, y1) = (Double(a.positions[(q * 100 + t) * 2]), Double(a.positions[(q * 100 + t) * 2 + 1]))
                #expect(abs(x1 * x1 + y1 * y1 - 1) < 1e-5, "on the unit circle")
                // The angle moved: 0.1π plus process noise, or that plus 135° on a jump step.
                var moved = atan2(x0 * y1 - y0 * x1, x0 * x1 + y0 * y1) - turn
                moved = atan2(sin(moved), cos(moved))
                if abs(moved - jump) < 1.2 || abs(moved + 2 * Double.pi - jump) < 1.2 { jumps += 1 }
                steps += 1
            }
        }
        let rate = Double(jumps) / Double(steps)
        #expect(abs(rate - 0.2) < 0.04, "jump rate \(rate)")
        // random_gaussian: v = max(0, Exp(0.3) − 0.09) has mean 0.3·e^−0.3 ≈ 0.222 (t ≥ 1); the first frame uses 0.3.
        let later = (0..<40).flatMap { q in (1..<100).map { Double(a.noiseVariances[q * 100 + $0]) } }
        let mean = later.reduce(0, +) / Double(later.count)
        #expect(abs(mean - 0.3 * exp(-0.3)) < 0.015, "mean noise variance \(mean)")
        #expect(a.noiseVariances[0] == 0.3)
        #expect(later.filter { $0 == 0 }.count > later.count / 5, "the shift leaves about 26% of frames noise-free")
    }

    @Test func halfFlipMirrorsTheImageNotTheLabel() {
        var motion = DotMotion(path: .circular)
        motion.noise = .gaussian(variance: 0)
        let plain = motion.generate(count: 1, seed: 3)
        motion.halfFlip = true
        let flipped = motion.generate(count: 1, seed: 3)
        #expect(plain.positions == flipped.positions)
        for t in 0..<100 {
            let (x, y) = (plain.positions[t * 2], plain.positions[t * 2 + 1])
            let frame = Array(flipped.frames[(t * 100)..<(t * 100 + 100)])
            // The brightest pixel's column j tracks ỹ: for x > 0 it follows −y.
            let brightest = frame.indices.max { frame[$0] < frame[$1] }!
            let expectedY = x > 0 ? -y : y
            let column = Double(brightest % 10), scaled = min(max((Double(expectedY) + 3) * 10 / 6, 0), 9)
            #expect(abs(column - scaled) <= 0.5 + 1e-9, "t \(t): column \(column) for ỹ \(scaled)")
        }
    }

    @Test func ornsteinUhlenbeckDataHasTheStationaryVariancesAndIsSeeded() {
        var data = OrnsteinUhlenbeckMixture()
        data.steps = 20_000
        let sample = data.generate(seed: 5)
        #expect(sample.count == 20_000 && sample.dimension == 2)
        // The Euler–Maruyama AR(1) x ← (1 − θ·dt)·x + σ·√dt·ε has stationary variance σ²·dt/(1 − (1 − θ·dt)²).
        for (k, theta) in data.rates.enumerated() {
            let a = 1 - theta * data.timeStep, stationary = 0.09 * data.timeStep / (1 - a * a)
            // The slow source (θ = 0.2) decorrelates over ~50 steps, so 20 000 steps leave a few % sampling error.
            #expect(abs(sample.variances[k] / stationary - 1) < (theta < 1 ? 0.25 : 0.05), "source \(k): \(sample.variances[k]) vs \(stationary)")
        }
        // The mixture is the 45° rotation of the sources, centred.
        let c = cos(Double.pi / 4), means = (0..<2).map { i in (0..<sample.count).reduce(0.0) { $0 + Double(sample.mixed[$1 * 2 + i]) } / Double(sample.count) }
        #expect(means.allSatisfy { abs($0) < 1e-4 }, "\(means)")
        let sourceMean0 = (0..<sample.count).reduce(0.0) { $0 + Double(sample.sources[$1 * 2]) } / Double(sample.count)
        let sourceMean1 = (0..<sample.count).reduce(0.0) { $0 + Double(sample.sources[$1 * 2 + 1]) } / Double(sample.count)
        let t = 1234
        let expected0 = c * (Double(sample.sources[t * 2]) - sourceMean0) - c * (Double(sample.sources[t * 2 + 1]) - sourceMean1)
        #expect(abs(Double(sample.mixed[t * 2]) - expected0) < 1e-5)
        #expect(data.generate(seed: 5).mixed == sample.mixed)
        #expect(data.generate(seed: 6).mixed != sample.mixed)
    }

    /// The clusters latent: labels cover every class, each latent lies near its label's centre, both views of a
    /// row share it, and the centres do not depend on the seed.
    @Test func clusteredTwoViewDataCarriesLabels() throws {
        var data = TwoViewData()
        data.latent = .clusters
        data.classes = 4
        let a = data.generate(count: 400, seed: 1), b = data.generate(count: 400, seed: 2)
        let labels = try #require(a.labels)
        #expect(Set(labels) == Set(0..<4) && data.generate(count: 400, seed: 1).labels == labels)
        let centres = data.clusterCentres(), d = data.dimension
        for (i, label) in labels.enumerated() {
            let distances: [Double] = centres.map { centre in
                var total = 0.0
                for j in 0..<d { total += pow(Double(a.latents[i * d + j]) - centre[j], 2) }
                return total.squareRoot()
            }
            #expect(distances[label] < 0.8 && distances[label] == distances.min(), "row \(i): \(distances) from the centres")
        }
        #expect(b.labels != labels)
        data.noise = 0
        let clean = data.generate(count: 10, seed: 3)
        #expect(clean.view1 == clean.view2)
    }

    @Test func twoViewDataIsSeededWithAFixedMixing() {
        var data = TwoViewData()
        data.dimension = 4
        let a = data.generate(count: 50, seed: 1), b = data.generate(count: 50, seed: 1), c = data.generate(count: 50, seed: 2)
        #expect(a.view1 == b.view1 && a.view2 == b.view2 && a.latents == b.latents)
        #expect(a.view1 != c.view1)
        // Sphere latents have unit norm; the two views of a row differ (independent noise).
        for i in 0..<50 {
            let norm = (0..<4).reduce(Float(0)) { $0 + a.latents[i * 4 + $1] * a.latents[i * 4 + $1] }
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect(a.view1 != a.view2)
        // Without noise both views are g(s) and the oracle representation is s itself.
        data.noise = 0
        let clean = data.generate(count: 20, seed: 3)
        #expect(clean.view1 == clean.view2 && clean.oracle1 == clean.latents)
    }
}

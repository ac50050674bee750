import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// The inferred-noise experiment's pieces: variance_features.cl on every backend against the Double reference
/// and central differences, the noise network's backward, and the circular dot-motion data.
@Suite("Noise network and circular data")
struct NoiseNetworkTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    @Test(arguments: backends)
    func varianceFeaturesMatchTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 21)
        // 333 rows (not a multiple of a work-group), 37 features.
        let (rows, f) = (333, 37), shape = RowsShape(rows: rows, columns: f)
        let x = generator.floats(rows * f), w = generator.floats(f).map { 1 + 0.5 * $0 }, g = generator.floats(rows * f)
        let tx = try backend.upload(x, shape: [rows, f]), tw = try backend.upload(w, shape: [f])
        let y = try backend.makeTensor([rows, f]), means = try backend.makeTensor([rows])
        try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
        let (x64, w64, g64) = (x.map(Double.init), w.map(Double.init), g.map(Double.init))
        let expected = Reference.varianceFeatures(x64, w64, rows: rows)
        expectClose(try backend.download(y), expected.y, tolerance: ParityChecks.float32Tolerance, "y on \(name)")
        expectClose(try backend.download(means), expected.means, tolerance: ParityChecks.float32Tolerance, "means on \(name)")
        let dw = try backend.makeTensor([f])
        try backend.varianceFeaturesBackward(tx, tw, means: means, try backend.upload(g, shape: [rows, f]), gradientW: dw, shape)
        let numeric = finiteDifferenceGradient(w64) { v in
            zip(Reference.varianceFeatures(x64, v, rows: rows).y, g64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dw), numeric, tolerance: GradientTests.tolerance, "dw on \(name)")
        // ∂/∂x on the first 5 rows (rows are independent, so a 5-row problem is the same function of them).
        let few = 5 * f, fewShape = RowsShape(rows: 5, columns: f)
        let fx = try backend.upload(Array(x[0..<few]), shape: [5, f]), fg = try backend.upload(Array(g[0..<few]), shape: [5, f])
        let fy = try backend.makeTensor([5, f]), fm = try backend.makeTensor([5]), fdw = try backend.makeTensor([f])
        let dx = try backend.makeTensor([5, f])
        try backend.varianceFeatures(fx, tw, into: fy, means: fm, fewShape)
        try backend.varianceFeaturesBackward(fx, tw, means: fm, fg, gradientW: fdw, gradientX: dx, fewShape)
        let numericX = finiteDifferenceGradient(Array(x64[0..<few])) { v in
            zip(Reference.varianceFeatures(v, w64, rows: 5).y, g64[0..<few]).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), numericX, tolerance: GradientTests.tolerance, "dx on \(name)")
        #expect(throws: LDMError.self) { try backend.varianceFeatures(tx, try backend.makeTensor([f + 1]), into: y, means: means, shape) }
    }

    /// The network's backward (variance_features, |W| layers, ReLU, log) against central differences of a linear
    /// functional of ℓ along a random unit direction of every parameter.
    @Test(arguments: backends)
    func noiseNetworkGradientMatchesDirectionalDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 22)
        let network = try ObservationNoiseNetwork(features: 16, latentDimension: 3, rateMultiplier: 1, on: backend)
        // Perturb the ones/constant initialisation so that every path carries a distinct gradient.
        for p in network.parameters {
            let value = try backend.download(p.value)
            try backend.write(zip(value, generator.floats(value.count)).map { $0 + 0.05 * abs($1) + 0.01 }, to: p.value)
        }
        let x = try backend.upload(generator.floats(20 * 16), shape: [20, 16])
        let weights = generator.floats(20 * 3)
        func functional() throws -> Double {
            zip(try backend.download(try network.forward(x)), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        try network.backward(try backend.upload(weights, shape: [20, 3]))
        let checks = try network.parameters.map { ("\($0.name) on \(name)", $0.value, try backend.download($0.gradient)) }
        try expectDirectionalDifferences(checks, on: backend, epsilon: 1e-3, tolerance: 5e-3, generator: &generator, functional)
    }

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

    /// A short circular-inferred run (the default stop-gradient form, the noise network in the loop; 80 steps,
    /// about 2 s) improves the held-out R² epoch after epoch (measured 0.08 → 0.50 → 0.85 → 0.87; the full run
    /// reaches 0.959) and checkpoints the network.
    @Test func shortInferredNoiseRunLearns() throws {
        let backend = try TestBackends.named("cpu")
        let directory = TrainingTests.temporaryDirectory("inferred")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = TrainingConfiguration(experiment: .circularInferred)
        (c.trainSequences, c.batch, c.epochs, c.probeSequences, c.logEvery) = (320, 16, 4, 32, 10)
        let summary = try Trainer(c, on: backend, directory: directory).run()
        let perEpoch = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["r2"] as? Double }
        #expect((summary.r2 ?? 0) > 0.6 && perEpoch.count == 4 && perEpoch[3] > perEpoch[0] + 0.3, "R² by epoch \(perEpoch)")
        let (tensors, _) = try SafeTensors.read(directory + "/checkpoint.safetensors")
        #expect(tensors["noise.scale"]?.0.count == 100 && tensors["noise.0.weight"]?.0.count == 100 * 100)
    }
}

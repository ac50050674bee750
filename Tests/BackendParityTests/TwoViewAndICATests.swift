import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import LDMTraining
import Testing

/// The ou-ica and two-view experiments and their pieces: batch_norm.cl against the Double reference and central
/// differences, the BatchNorm and L2-normalise layers, the exp(skew) rotation and its adjoint, SGD and LARS,
/// the OU and two-view data, short runs, resume, and `ldm train` on the user's .npy views.
@Suite("ICA, two-view, BatchNorm, optimisers")
struct TwoViewAndICATests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    static func temporaryDirectory(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("ldm-\(label)-\(UUID().uuidString)").path
    }

    @Test(arguments: backends)
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
        expectClose(try backend.download(y), expected.y, tolerance: ParityChecks.float32Tolerance, "y on \(name)")
        expectClose(try backend.download(mean), expected.mean, tolerance: ParityChecks.float32Tolerance, "μ on \(name)")
        expectClose(try backend.download(variance), expected.variance, tolerance: ParityChecks.float32Tolerance, "σ² on \(name)")

        let dx = try backend.makeTensor([rows, c]), dGamma = try backend.makeTensor([c]), dBeta = try backend.makeTensor([c])
        try backend.batchNormBackward(tx, try backend.upload(g, shape: [rows, c]), gamma: tg, mean: mean, variance: variance,
                                      dx: dx, dGamma: dGamma, dBeta: dBeta, shape)
        func functional(_ x: [Double], _ gamma: [Double], _ beta: [Double]) -> Double {
            zip(Reference.batchNorm(x, gamma: gamma, beta: beta, rows: rows).y, g64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), finiteDifferenceGradient(x64) { functional($0, gamma64, beta64) },
                    tolerance: GradientTests.tolerance, "dx on \(name)")
        expectClose(try backend.download(dGamma), finiteDifferenceGradient(gamma64) { functional(x64, $0, beta64) },
                    tolerance: GradientTests.tolerance, "dγ on \(name)")
        expectClose(try backend.download(dBeta), finiteDifferenceGradient(beta64) { functional(x64, gamma64, $0) },
                    tolerance: GradientTests.tolerance, "dβ on \(name)")

        // Evaluation mode normalises with the given statistics.
        let running = Reference.batchNorm(x64, gamma: gamma64, beta: beta64, rows: rows)
        let givenMean = try backend.upload([Float](repeating: 0.5, count: c), shape: [c])
        let givenVariance = try backend.upload([Float](repeating: 4, count: c), shape: [c])
        try backend.batchNorm(tx, gamma: tg, beta: tb, into: y, mean: givenMean, variance: givenVariance,
                              BatchNormShape(rows: rows, columns: c, training: false))
        let evaluation = (0..<(rows * c)).map { e in gamma64[e % c] * (x64[e] - 0.5) / (4 + 1e-5).squareRoot() + beta64[e % c] }
        expectClose(try backend.download(y), evaluation, tolerance: ParityChecks.float32Tolerance, "eval y on \(name)")
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

    /// The BatchNorm layer's running statistics follow PyTorch's update (momentum 0.1, unbiased variance).
    @Test func batchNormLayerTracksRunningStatistics() throws {
        let backend = try TestBackends.named("cpu")
        let layer = try BatchNorm(features: 2, name: "bn", on: backend)
        let x: [Float] = [1, 10, 3, 20, 5, 60]   // columns (1, 3, 5) and (10, 20, 60)
        _ = try layer.forward(try backend.upload(x, shape: [3, 2]), training: true)
        let mean = try backend.download(layer.runningMean), variance = try backend.download(layer.runningVariance)
        #expect(abs(mean[0] - 0.3) < 1e-6 && abs(mean[1] - 3) < 1e-5)
        // Unbiased variances 4 and 700: 0.9·1 + 0.1·v.
        #expect(abs(variance[0] - 1.3) < 1e-5 && abs(variance[1] - 70.9) < 1e-3, "\(variance)")
    }

    /// An MLP with BatchNorm and an L2-normalised output: its backward against central differences of a linear
    /// functional along a random unit direction of every parameter and of the input.
    @Test(arguments: backends)
    func normalisedMLPGradientMatchesDirectionalDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 32)
        let mlp = try MLP(widths: [6, 9, 4], activation: .tanh, batchNorm: true, on: backend, generator: &generator)
        let normalize = L2Normalize(on: backend)
        let x = try backend.upload(generator.floats(7 * 6), shape: [7, 6])
        let weights = generator.floats(7 * 4)
        func functional() throws -> Double {
            let z = try normalize.forward(try mlp.forward(x, training: true))
            return zip(try backend.download(z), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        let dx = try mlp.backward(try normalize.backward(try backend.upload(weights, shape: [7, 4])))
        var checks = try mlp.parameters.map { ("\($0.name) on \(name)", $0.value, try backend.download($0.gradient)) }
        checks.append(("input on \(name)", x, try backend.download(dx)))
        #expect(mlp.parameters.count == 6)   // two Linear layers and one BatchNorm
        try expectDirectionalDifferences(checks, on: backend, epsilon: 1e-2, tolerance: 3e-3, generator: &generator, functional)
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

    /// SGD with momentum and LARS on the device against hand-computed updates.
    @Test(arguments: backends)
    func sgdAndLARSTakeTheirDocumentedSteps(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let weight: [Float] = [3, 4, 0, 0], gradient: [Float] = [0.6, 0, 0, 0.8], bias: [Float] = [1, -1]
        func parameters() throws -> [Parameter] {
            let w = try Parameter(name: "w", value: try backend.upload(weight, shape: [2, 2]), on: backend)
            let b = try Parameter(name: "b", value: try backend.upload(bias, shape: [2]), on: backend)
            try backend.write(gradient, to: w.gradient)
            try backend.write([0.5, 0.5], to: b.gradient)
            return [w, b]
        }
        // SGD, momentum 0.9, two steps with the same gradient: v = g then 1.9·g; p ← p − 0.1·v each time.
        let sgdParameters = try parameters()
        let sgd = try SGDOptimizer(sgdParameters, momentum: 0.9, on: backend)
        try sgd.step(rate: 0.1)
        try sgd.step(rate: 0.1)
        let sgdExpected = zip(weight, gradient).map { Double($0) - 0.1 * Double($1) * 2.9 }
        expectClose(try backend.download(sgdParameters[0].value), sgdExpected, tolerance: 1e-6, "sgd on \(name)")
        // LARS, wd 0.01: ‖w‖ = 5, ‖g‖ = 1, trust = 1e-3·5/(1 + 0.05); the matrix steps by rate·trust·(g + wd·w), the
        // bias by rate·g with neither decay nor trust.
        let larsParameters = try parameters()
        let lars = try LARSOptimizer(larsParameters, momentum: 0.9, weightDecay: 0.01, on: backend)
        try lars.step(rate: 2)
        let trust = 1e-3 * 5 / 1.05
        let larsExpected = zip(weight, gradient).map { Double($0) - 2 * trust * (Double($1) + 0.01 * Double($0)) }
        expectClose(try backend.download(larsParameters[0].value), larsExpected, tolerance: 1e-6, "lars weight on \(name)")
        expectClose(try backend.download(larsParameters[1].value), [0, -2], tolerance: 1e-6, "lars bias on \(name)")
        #expect(abs(Double(LARSOptimizer.trustRatio(weightNorm: 5, gradientNorm: 1, weightDecay: 0.01, coefficient: 1e-3)) - trust) < 1e-9)
        #expect(LARSOptimizer.trustRatio(weightNorm: 0, gradientNorm: 1, weightDecay: 0, coefficient: 1e-3) == 1)
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

    @Test func twoViewObjectivesAcceptPresetsAndGridPoints() {
        #expect(TwoViewObjective(rawValue: "ldm-knn") == .ldmKnn)
        #expect(TwoViewObjective(rawValue: "sphere+logdet+mi")?.onSphere == true)
        #expect(TwoViewObjective(rawValue: "plane+vicreg")?.onSphere == false)
        for bad in ["plane", "plane+knn+ldm", "cube+kde", "sphere+stopgrad", "cpc"] { #expect(TwoViewObjective(rawValue: bad) == nil, "\(bad)") }
        #expect(TwoViewObjective.byol.needsPredictor && TwoViewObjective(rawValue: "jepa")?.needsPredictor == true)
        #expect(!TwoViewObjective.ldmContrastive.needsPredictor)
        #expect(TwoViewObjective(rawValue: "plane+taylor")?.make().name == LDMObjective(latent: .plane(precision: 5), entropy: .taylor(), variant: .ldm).name)
        // The clustering objectives: a softmax head, p annealed 0.8 → 0.99 (clamped outside [0, 1]).
        #expect(TwoViewObjective(rawValue: "clustering-mi") == .clusteringMI && TwoViewObjective.clustering.isClustering)
        #expect(!TwoViewObjective.ldmContrastive.isClustering && !TwoViewObjective.clustering.onSphere)
        #expect(TwoViewObjective.matchProbability(at: 0) == 0.8 && abs(TwoViewObjective.matchProbability(at: 1) - 0.99) < 1e-6)
        #expect(abs(TwoViewObjective.matchProbability(at: 0.5) - 0.895) < 1e-6 && TwoViewObjective.matchProbability(at: 2) == TwoViewObjective.matchProbability(at: 1))
        #expect(TwoViewObjective.clustering.make(progress: 1).name == LDMObjective(latent: .categorical(matchProbability: 0.99), entropy: .plugIn, variant: .ldm).name)
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

    /// A short clustering run finds the clusters on every backend: measured 0.25 for the untrained encoder's argmax
    /// and 0.994 after these 640 steps (LDM, exact plug-in entropy); the match probability reaches 0.99 at the end.
    @Test(arguments: backends)
    func clusteringRunFindsTheClusters(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = Self.temporaryDirectory("clustering")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quickTwoView()
        configuration.objective = .clustering
        configuration.data.latent = .clusters
        (configuration.epochs, configuration.batch) = (40, 128)
        var untrained = configuration
        untrained.epochs = 1
        untrained.schedule = .constant(1e-9)
        let baseline = try TwoViewTrainer(untrained, on: backend, directory: directory).run()
        let summary = try TwoViewTrainer(configuration, on: backend, directory: directory).run()
        let accuracy = try #require(summary.clusteringAccuracy), before = try #require(baseline.clusteringAccuracy)
        #expect(accuracy > 0.9 && accuracy > before + 0.3, "accuracy \(accuracy) vs untrained \(before) on \(name)")
        #expect(summary.mcc == nil)   // class probabilities are not latent estimates
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let probabilities = lines.compactMap { $0["match_probability"] as? Double }
        #expect(probabilities.count > 2 && probabilities == probabilities.sorted() && abs(probabilities.last! - 0.99) < 1e-3)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        #expect(json["clustering_accuracy"] is Double)
        #expect(try NumPyFile.read(directory + "/test_representations.npy").shape == [512, 10])
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

    /// A short ou-ica run separates the sources (MCC > 0.99, W ≈ the inverse 45° rotation) on every backend;
    /// resuming from an interrupted run's checkpoint ends exactly where the uninterrupted run does.
    @Test(arguments: backends)
    func icaSeparatesTheSourcesAndResumes(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var configuration = ICAConfiguration()
        configuration.data.steps = 10_000
        configuration.epochs = 300
        let (straight, resumed) = (Self.temporaryDirectory("ica"), Self.temporaryDirectory("ica-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let summary = try ICATrainer(configuration, on: backend, directory: straight).run()
        #expect((summary.mcc ?? 0) > 0.99, "MCC \(summary.mcc ?? .nan) on \(name)")
        #expect(abs((summary.unmixingAngle ?? 0) + Double.pi / 4) < 0.05, "angle \(summary.unmixingAngle ?? .nan)")
        for file in ["metrics.jsonl", "summary.json", "checkpoint.safetensors", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: straight + "/" + file), "\(file)")
        }
        guard name == "cpu" else { return }
        let interrupted = try ICATrainer(configuration, on: backend, directory: resumed)
        var polls = 0
        interrupted.shouldStop = { polls += 1; return polls == 120 }
        #expect(throws: TrainingInterrupted.self) { _ = try interrupted.run() }
        let again = try ICATrainer(configuration, on: backend, directory: resumed).run(resume: true)
        #expect(again.mcc == summary.mcc && again.unmixingAngle == summary.unmixingAngle && again.finalLoss == summary.finalLoss)
    }

    static func quickTwoView(batchNorm: Bool = false) -> TwoViewConfiguration {
        var c = TwoViewConfiguration()
        c.trainCount = 2048
        c.testCount = 512
        c.probeCount = 1024
        c.epochs = 4
        c.batchNorm = batchNorm
        c.schedule = .warmupCosine(base: 0.01, warmup: 8, floor: 0)
        return c
    }

    /// A short two-view run learns the latents on every backend: its probe R² is well above the untrained
    /// encoder's (measured: 0.32 untrained, 0.52 after these 4 epochs; the oracle reaches 0.91).
    @Test(arguments: backends)
    func twoViewRunLearnsTheLatents(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = Self.temporaryDirectory("two-view")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var untrained = Self.quickTwoView()
        untrained.epochs = 1
        untrained.schedule = .constant(1e-9)
        let baseline = try TwoViewTrainer(untrained, on: backend, directory: directory).run()
        let summary = try TwoViewTrainer(Self.quickTwoView(), on: backend, directory: directory).run()
        let perEpoch = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["r2"] as? Double }
        #expect(perEpoch.count == 4)
        #expect((summary.r2 ?? 0) > (baseline.r2 ?? 1) + 0.15, "R² \(summary.r2 ?? .nan) vs untrained \(baseline.r2 ?? .nan) on \(name), by epoch \(perEpoch)")
        #expect((summary.oracleR2 ?? 0) > summary.r2 ?? 1, "the oracle bounds the encoder")
        #expect((summary.retrievalTop1 ?? 0) > 0.1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        for key in ["experiment", "r2", "epochs", "seconds", "backend", "objective", "mcc", "retrieval_top1", "oracle_r2"] {
            #expect(json[key] != nil, "summary.json lacks \(key)")
        }
    }

    /// With BatchNorm (whose running statistics are checkpointed), LARS and BYOL's predictor head, a resumed run
    /// equals the uninterrupted one.
    @Test func twoViewResumeEqualsAnUninterruptedRun() throws {
        let backend = try TestBackends.named("cpu")
        var configuration = Self.quickTwoView(batchNorm: true)
        configuration.epochs = 2
        configuration.optimizer = .lars
        configuration.objective = .byol
        configuration.schedule = .constant(0.5)
        let (straight, resumed) = (Self.temporaryDirectory("tv-straight"), Self.temporaryDirectory("tv-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try TwoViewTrainer(configuration, on: backend, directory: straight).run()
        let interrupted = try TwoViewTrainer(configuration, on: backend, directory: resumed)
        var polls = 0
        interrupted.shouldStop = { polls += 1; return polls == configuration.stepsPerEpoch + 2 }
        #expect(throws: TrainingInterrupted.self) { _ = try interrupted.run() }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(tensors["encoder.0.norm.running_var"] != nil && tensors["lars.v.encoder.0.weight"] != nil)
        #expect(tensors["predictor.1.weight"] != nil && tensors["predictor.0.norm.running_mean"] != nil)
        // The momentum target (default 0.99) is checkpointed and is not trained by the optimiser.
        #expect(tensors["target.2.weight"] != nil && tensors["target.0.norm.running_mean"] != nil && tensors["lars.v.target.0.weight"] == nil)
        #expect(metadata["target_momentum"] == "0.99")
        let summary = try TwoViewTrainer(configuration, on: backend, directory: resumed).run(resume: true)
        #expect(summary.r2 == expected.r2 && summary.retrievalTop1 == expected.retrievalTop1 && summary.finalLoss == expected.finalLoss)
    }

    /// The momentum target: `track` with m = 0 copies the online network, with m = ½ averages; the schedule rises
    /// from the base momentum to 1 on a cosine.
    @Test(arguments: backends)
    func momentumTargetTracksTheOnlineNetwork(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 21)
        let online = try MLP(widths: [3, 5, 2], on: backend, generator: &generator)
        let target = try MLP(widths: [3, 5, 2], name: "target", on: backend, generator: &generator)
        let before = try target.parameters.map { try backend.download($0.value) }
        try target.track(online, momentum: 0.5)
        for ((t, o), old) in zip(zip(target.parameters, online.parameters), before) {
            let expected = zip(old, try backend.download(o.value)).map { 0.5 * Double($0) + 0.5 * Double($1) }
            expectClose(try backend.download(t.value), expected, tolerance: ParityChecks.float32Tolerance, "\(t.name) on \(name)")
        }
        try target.track(online, momentum: 0)
        for (t, o) in zip(target.parameters, online.parameters) { #expect(try backend.download(t.value) == backend.download(o.value)) }
        #expect(throws: LDMError.self) { try target.track(try MLP(widths: [3, 4, 2], on: backend, generator: &generator), momentum: 0.9) }
        #expect(throws: LDMError.self) { try target.track(online, momentum: 1.5) }
        #expect(TwoViewTrainer.momentum(base: 0.99, step: 0, of: 100) == 0.99)
        #expect(abs(TwoViewTrainer.momentum(base: 0.99, step: 50, of: 100) - 0.995) < 1e-6)
        #expect(TwoViewTrainer.momentum(base: 0.99, step: 100, of: 100) == 1)
    }

    /// jepa with BatchNorm keeps learning with the momentum target and collapses without it (measured after these
    /// 320 steps: R² 0.48 with m = 0.99, 0.28 with m = 0, 0.32 untrained).
    @Test func momentumTargetKeepsJEPAFromCollapsing() throws {
        let backend = try TestBackends.named("cpu")
        let directory = Self.temporaryDirectory("jepa")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quickTwoView(batchNorm: true)
        (configuration.objective, configuration.epochs, configuration.batch) = (.jepa, 20, 128)
        let tracked = try TwoViewTrainer(configuration, on: backend, directory: directory).run()
        configuration.targetMomentum = 0
        let simSiam = try TwoViewTrainer(configuration, on: backend, directory: directory).run()
        #expect((tracked.r2 ?? 0) > (simSiam.r2 ?? 1) + 0.1, "R² \(tracked.r2 ?? .nan) with the target vs \(simSiam.r2 ?? .nan) without")
    }

    /// `ldm train --experiment two-view` on the user's .npy views: with latents it reports the probe R², without
    /// them only retrieval; mismatched arrays are refused by name.
    @Test func trainsOnTheUsersArrays() throws {
        let directory = URL(fileURLWithPath: Self.temporaryDirectory("tv-npy"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var data = TwoViewData()
        data.dimension = 6
        let sample = data.generate(count: 1024, seed: 9)
        let path = { directory.appendingPathComponent($0).path }
        try NumPyFile.write(sample.view1, shape: [1024, 6], to: path("x1.npy"))
        try NumPyFile.write(sample.view2, shape: [1024, 6], to: path("x2.npy"))
        try NumPyFile.write(sample.latents, shape: [1024, 6], to: path("s.npy"))
        try NumPyFile.write(Array(sample.view2[0..<600]), shape: [100, 6], to: path("short.npy"))
        let common = ["train", "--experiment", "two-view", "--view1", path("x1.npy"), "--view2", path("x2.npy"),
                      "--test-rows", "256", "--batch-size", "128", "--epochs", "3", "--json", "--quiet"]
        let withLatents = try CLITests.run(common + ["--latents", path("s.npy"), "--out", path("a")])
        #expect(withLatents.status == 0, "\(withLatents.error)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(withLatents.output.utf8)) as? [String: Any])
        #expect((json["r2"] as? Double ?? 0) > 0.3, "\(json)")
        #expect(json["oracle_r2"] == nil)   // no oracle for the user's data
        let without = try CLITests.run(common + ["--objective", "plane+knn+mi", "--out", path("b")])
        #expect(without.status == 0, "\(without.error)")
        let bare = try #require(try JSONSerialization.jsonObject(with: Data(without.output.utf8)) as? [String: Any])
        #expect(bare["r2"] == nil && bare["retrieval_top1"] is Double && bare["objective"] as? String == "plane+knn+mi")
        // Each run leaves its test representations; `ldm metrics cka` compares the two runs.
        for run in ["a", "b"] { #expect(try NumPyFile.read(path(run) + "/test_representations.npy").shape == [256, 6]) }
        let cka = try CLITests.run(["metrics", "cka", "--x", path("a") + "/test_representations.npy",
                                    "--y", path("b") + "/test_representations.npy"])
        #expect(cka.status == 0, "\(cka.error)")
        let value = try #require((try JSONSerialization.jsonObject(with: Data(cka.output.utf8)) as? [String: Any])?["cka"] as? Double)
        #expect(value > 0 && value <= 1)
        let mismatched = try CLITests.run(["train", "--experiment", "two-view", "--view1", path("x1.npy"), "--view2", path("short.npy"), "--out", path("c")])
        #expect(mismatched.status != 0)
        #expect(mismatched.error.contains("--view1 is 1024 × 6 and --view2 100 × 6"), "\(mismatched.error)")
    }

    /// `ldm train --experiment two-view --objective clustering` on the user's views with --labels reports the
    /// clustering accuracy with as many classes as the labels have; labels that are not whole numbers, or too few,
    /// are refused by name.
    @Test func clustersTheUsersArraysWithLabels() throws {
        let directory = URL(fileURLWithPath: Self.temporaryDirectory("tv-labels"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var data = TwoViewData()
        (data.dimension, data.latent, data.classes) = (6, .clusters, 5)
        let sample = data.generate(count: 1024, seed: 9)
        let path = { directory.appendingPathComponent($0).path }
        try NumPyFile.write(sample.view1, shape: [1024, 6], to: path("x1.npy"))
        try NumPyFile.write(sample.view2, shape: [1024, 6], to: path("x2.npy"))
        let labels = try #require(sample.labels).map(Float.init)
        try NumPyFile.write(labels, shape: [1024], to: path("y.npy"))
        try NumPyFile.write(labels.map { $0 + 0.5 }, shape: [1024], to: path("half.npy"))
        try NumPyFile.write(Array(labels[0..<100]), shape: [100], to: path("short.npy"))
        let common = ["train", "--experiment", "two-view", "--objective", "clustering", "--view1", path("x1.npy"), "--view2", path("x2.npy"),
                      "--test-rows", "256", "--batch-size", "128", "--epochs", "80", "--json", "--quiet"]
        let run = try CLITests.run(common + ["--labels", path("y.npy"), "--out", path("a")])
        #expect(run.status == 0, "\(run.error)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect((json["clustering_accuracy"] as? Double ?? 0) > 0.8, "\(json)")
        #expect(try NumPyFile.read(path("a") + "/test_representations.npy").shape == [256, 5])
        let half = try CLITests.run(common + ["--labels", path("half.npy"), "--out", path("b")])
        #expect(half.status != 0 && half.error.contains("half.npy: the labels must be non-negative integers, found 4.5 at index 0"), "\(half.error)")
        let short = try CLITests.run(common + ["--labels", path("short.npy"), "--out", path("c")])
        #expect(short.status != 0 && short.error.contains("expected 1024 labels"), "\(short.error)")
        let synthetic = try CLITests.run(["train", "--experiment", "two-view", "--labels", path("y.npy")])
        #expect(synthetic.status != 0 && synthetic.error.contains("--labels needs --view1"), "\(synthetic.error)")
    }
}

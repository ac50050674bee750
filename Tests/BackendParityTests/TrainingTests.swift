import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// Training end to end: the model's gradients, short runs, resume, checkpoints.
@Suite("Training")
struct TrainingTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    /// The MLP's backward (Linear as matmuls, activation.cl) against a central difference of a linear functional
    /// of its output along a random direction of every parameter, for the smooth activations and for ReLU away
    /// from its kink.
    @Test(arguments: backends, Activation.allCases.filter { $0 != .logShifted })   // log needs positive inputs
    func mlpGradientMatchesDirectionalDifferences(_ name: String, _ activation: Activation) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 9)
        let mlp = try MLP(widths: [12, 9, 3], activation: activation, on: backend, generator: &generator)
        let x = try backend.upload(generator.floats(5 * 12), shape: [5, 12])
        let weights = generator.floats(5 * 3)
        func functional() throws -> Double {
            zip(try backend.download(try mlp.forward(x)), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        let dx = try mlp.backward(try backend.upload(weights, shape: [5, 3]))
        var checks = try mlp.parameters.map { ("\($0.name) \(activation) on \(name)", $0.value, try backend.download($0.gradient)) }
        checks.append(("input \(activation) on \(name)", x, try backend.download(dx)))
        // ReLU and |x| are piecewise linear: a smaller step keeps the differences off their kinks.
        try expectDirectionalDifferences(checks, on: backend, epsilon: activation == .relu || activation == .absolute ? 1e-3 : 1e-2,
                                         tolerance: 2e-3, generator: &generator, functional)
    }

    /// A quick square configuration: 64 training sequences, 3 epochs (a few seconds on PoCL).
    static func quick(epochs: Int = 3) -> TrainingConfiguration {
        var c = TrainingConfiguration(experiment: .square)
        c.trainSequences = 64
        c.probeSequences = 32
        c.epochs = epochs
        c.logEvery = 4
        return c
    }

    static func temporaryDirectory(_ label: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-train-\(label)-\(UUID().uuidString)").path
        return path
    }

    /// A short run learns: the held-out R² of the probe beats a weak threshold, and every output file is there.
    @Test(arguments: backends)
    func shortRunLearnsAndWritesItsFiles(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = Self.temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quick(epochs: 4)
        configuration.trainSequences = 160
        let summary = try Trainer(configuration, on: backend, directory: directory).run()
        #expect((summary.r2 ?? 0) > 0.5, "R² \(summary.r2 ?? .nan) on \(name)")
        #expect(summary.aEigenvalues?.count == 2)
        for file in ["metrics.jsonl", "summary.json", "checkpoint.safetensors", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file)")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        for key in ["experiment", "r2", "epochs", "seconds", "backend", "A_eigenvalues", "rotation_per_step"] {
            #expect(json[key] != nil, "summary.json lacks \(key)")
        }
        let report = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(report.contains("<svg") && report.contains("polyline"))
    }

    static func quickCPC(epochs: Int = 4) -> CPCConfiguration {
        var c = CPCConfiguration(experiment: .square)
        (c.base.trainSequences, c.base.probeSequences, c.base.epochs, c.base.logEvery) = (160, 32, epochs, 4)
        return c
    }

    /// CPC on the square videos learns on every backend (measured: R² 0.03 untrained, 0.71 after these 80 steps;
    /// 0.960 after the full 20 epochs) and writes the Kalman runs' files, with W₁'s eigenvalues in the summary.
    @Test(arguments: backends)
    func cpcRunLearnsTheSquarePath(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = Self.temporaryDirectory("cpc-" + name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var untrained = Self.quickCPC(epochs: 1)
        untrained.base.schedule = .constant(1e-9)
        let baseline = try CPCTrainer(untrained, on: backend, directory: directory).run()
        let summary = try CPCTrainer(Self.quickCPC(), on: backend, directory: directory).run()
        #expect((summary.r2 ?? 0) > 0.5 && (summary.r2 ?? 0) > (baseline.r2 ?? 1) + 0.4,
                "R² \(summary.r2 ?? .nan) vs untrained \(baseline.r2 ?? .nan) on \(name)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        #expect(json["objective"] as? String == "cpc" && (json["predictor_eigenvalues"] as? [[Double]])?.count == 2)
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.contains { $0["loss_k3"] is Double } && lines.filter { $0["r2"] != nil }.count == 4)
        let report = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(report.contains("one-step predictor"))
    }

    /// A CPC run with two-frame windows, stopped mid-epoch and resumed, ends exactly where the uninterrupted run
    /// does; the checkpoint holds every predictor.
    @Test func cpcResumeEqualsAnUninterruptedRun() throws {
        let backend = try TestBackends.named("cpu")
        var configuration = Self.quickCPC(epochs: 2)
        (configuration.contextSteps, configuration.horizons) = (2, 2)
        let (straight, resumed) = (Self.temporaryDirectory("cpc-straight"), Self.temporaryDirectory("cpc-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try CPCTrainer(configuration, on: backend, directory: straight).run()
        let interrupted = try CPCTrainer(configuration, on: backend, directory: resumed)
        var polls = 0
        interrupted.shouldStop = { polls += 1; return polls == configuration.stepsPerEpoch + 3 }
        #expect(throws: TrainingInterrupted.self) { _ = try interrupted.run() }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(metadata["epochs"] == "1" && tensors["predictor.2"]?.1 == [2, 4])
        let summary = try CPCTrainer(configuration, on: backend, directory: resumed).run(resume: true)
        #expect(summary.r2 == expected.r2 && summary.finalLoss == expected.finalLoss && summary.predictorEigenvalues == nil)
        // A checkpoint of another window length is refused, not half-loaded.
        var other = configuration
        other.contextSteps = 1
        #expect(throws: LDMError.self) { _ = try CPCTrainer(other, on: backend, directory: resumed).run(resume: true) }
    }

    /// Resuming from the first epoch's checkpoint gives exactly the uninterrupted run's result, and a run stopped
    /// mid-epoch (as SIGINT does) leaves the last completed epoch's checkpoint valid.
    @Test func resumeEqualsAnUninterruptedRun() throws {
        let backend = try TestBackends.named("cpu")
        let (straight, resumed) = (Self.temporaryDirectory("straight"), Self.temporaryDirectory("resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try Trainer(Self.quick(), on: backend, directory: straight).run()

        let interrupted = try Trainer(Self.quick(), on: backend, directory: resumed)
        var stepsSeen = 0
        interrupted.shouldStop = { stepsSeen += 1; return stepsSeen == Self.quick().stepsPerEpoch + 3 }
        #expect(throws: TrainingInterrupted.self) { _ = try interrupted.run() }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(metadata["epochs"] == "1")
        let filterValues: [Float] = try #require(tensors["kalman.filter"]).0
        #expect(filterValues.count == 9)   // A (2 × 2), b, a, s

        let summary = try Trainer(Self.quick(), on: backend, directory: resumed).run(resume: true)
        #expect(summary.r2 == expected.r2)
        #expect(summary.aEigenvalues == expected.aEigenvalues)
        let (a, b) = (try SafeTensors.read(straight + "/checkpoint.safetensors").tensors, try SafeTensors.read(resumed + "/checkpoint.safetensors").tensors)
        #expect(a.keys.sorted() == b.keys.sorted())
        for key in a.keys { #expect(a[key]?.0 == b[key]?.0, "\(key) differs after resume") }
        // metrics.jsonl keeps one line per logged step: the interrupted epoch's lines were replaced, not doubled.
        let steps = try String(contentsOfFile: resumed + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["loss"] != nil }
            .compactMap { $0["step"] as? Int }
        #expect(steps == Array(Set(steps)).sorted())
    }

    @Test func safeTensorsRoundTripAndRefusals() throws {
        let path = Self.temporaryDirectory("st") + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write([("a", [1, 2, 3, 4, 5, 6], [2, 3]), ("b", [7], [])], metadata: ["k": "v"], to: path)
        let (tensors, metadata) = try SafeTensors.read(path)
        let a = try #require(tensors["a"]), b = try #require(tensors["b"])
        #expect(a.0 == [1, 2, 3, 4, 5, 6])
        #expect(a.1 == [2, 3])
        #expect(b.0 == [7])
        #expect(metadata["k"] == "v")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: LDMError.self) { _ = try SafeTensors.read(path) }
        #expect(throws: LDMError.self) { try SafeTensors.write([("a", [1], [2])], metadata: [:], to: path) }
    }

    @Test func schedulesGiveTheirDocumentedRates() {
        #expect(LearningRateSchedule.linear(from: 0.02, to: 0.005).rate(at: 0, of: 101) == 0.02)
        #expect(abs(LearningRateSchedule.linear(from: 0.02, to: 0.005).rate(at: 100, of: 101) - 0.005) < 1e-9)
        let step = LearningRateSchedule.step(base: 1, milestones: [1.0 / 3, 2.0 / 3], factor: 0.1)
        #expect(step.rate(at: 32, of: 99) == 1 && step.rate(at: 33, of: 99) == 0.1)
        #expect(abs(step.rate(at: 98, of: 99) - 0.01) < 1e-7)
        let cosine = LearningRateSchedule.warmupCosine(base: 1, warmup: 10, floor: 0.1)
        #expect(cosine.rate(at: 0, of: 110) == 0.1 && cosine.rate(at: 9, of: 110) == 1)
        #expect(abs(cosine.rate(at: 60, of: 110) - 0.55) < 1e-6)   // half way through the decay
        #expect(LearningRateSchedule.linear(from: 2, to: 1).scaled(by: 0.5) == .linear(from: 1, to: 0.5))
        // The shapes `--schedule` names, from a base rate.
        #expect(LearningRateSchedule.named(.step, base: 1).rate(at: 70, of: 100) == 0.25)
        #expect(abs(LearningRateSchedule.named(.linear, base: 1).rate(at: 99, of: 100) - 0.01) < 1e-7)
        #expect(LearningRateSchedule.named(.cosine, base: 2, warmup: 4).rate(at: 1, of: 100) == 1)
        #expect(LearningRateSchedule.named(.constant, base: 3).rate(at: 50, of: 100) == 3)
        #expect(LearningRateSchedule.warmupCosine(base: 0.5, warmup: 10, floor: 0).baseRate == 0.5)
    }

    /// Global-norm clipping rescales every gradient by clip/‖g‖ when ‖g‖ exceeds it, before the update.
    @Test(arguments: backends)
    func clippingRescalesTheGlobalGradientNorm(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let parameters = try [[Float](repeating: 1, count: 5), [Float](repeating: 1, count: 3)].enumerated().map {
            try Parameter(name: "p\($0.offset)", value: try backend.upload($0.element, shape: [$0.element.count]), on: backend)
        }
        try backend.write([3, 0, 0, 0, 0], to: parameters[0].gradient)
        try backend.write([0, 4, 0], to: parameters[1].gradient)   // global norm 5
        let optimizer = try AdamOptimizer(parameters, on: backend)
        optimizer.clipNorm = 1
        try optimizer.step(rate: 0.1)
        expectClose(try backend.download(parameters[0].gradient), [0.6, 0, 0, 0, 0], tolerance: 1e-6, "clipped gradient on \(name)")
        expectClose(try backend.download(parameters[1].gradient), [0, 0.8, 0], tolerance: 1e-6, "clipped gradient on \(name)")
        #expect(optimizer.steps == 1)
    }
}

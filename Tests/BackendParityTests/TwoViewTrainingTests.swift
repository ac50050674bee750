import Foundation
import LDMData
import LDMEngine
import LDMObjectives
import LDMReference
import LDMTraining
import Testing

/// The two-view task end to end: short runs learn the latents and the clusters, the momentum target keeps jepa
/// from collapsing, resume is exact with BatchNorm, LARS and a predictor, and `ldm train two-view` trains on the
/// user's .npy views.
@Suite("Two-view training")
struct TwoViewTrainingTests {
    static func quickTwoView(batchNorm: Bool = false) -> TwoViewConfiguration {
        var c = TwoViewConfiguration()
        c.trainCount = 2048
        c.testCount = 512
        c.probeCount = 1024
        c.run.epochs = 4
        c.batchNorm = batchNorm
        c.run.schedule = .warmupCosine(base: 0.01, warmup: 8, floor: 0)
        return c
    }

    /// A short two-view run learns the latents on every backend: its probe R² is well above the untrained
    /// encoder's (measured: 0.32 untrained, 0.52 after these 4 epochs; the oracle reaches 0.91).
    @Test(arguments: TestBackends.all)
    func twoViewRunLearnsTheLatents(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = temporaryDirectory("two-view")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var untrained = Self.quickTwoView()
        untrained.run.epochs = 1
        untrained.run.schedule = .constant(1e-9)
        let baseline = try train(try TwoViewTask(untrained, on: backend), on: backend, into: directory)
        let summary = try train(try TwoViewTask(Self.quickTwoView(), on: backend), on: backend, into: directory, overwrite: true)
        let perEpoch = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["r2"] as? Double }
        #expect(perEpoch.count == 4)
        #expect((summary.r2 ?? 0) > (baseline.r2 ?? 1) + 0.15, "R² \(summary.r2 ?? .nan) vs untrained \(baseline.r2 ?? .nan) on \(name), by epoch \(perEpoch)")
        #expect((summary.number("oracle_r2") ?? 0) > summary.r2 ?? 1, "the oracle bounds the encoder")
        #expect((summary.number("retrieval_top1") ?? 0) > 0.1)
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
        configuration.run.epochs = 2
        configuration.run.optimizer = .lars
        configuration.objective = "byol"
        configuration.run.schedule = .constant(0.5)
        let (straight, resumed) = (temporaryDirectory("tv-straight"), temporaryDirectory("tv-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try train(try TwoViewTask(configuration, on: backend), on: backend, into: straight)
        #expect(throws: TrainingInterrupted.self) {
            _ = try train(try TwoViewTask(configuration, on: backend), on: backend, into: resumed, stopAfter: configuration.stepsPerEpoch + 2)
        }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(tensors["encoder.0.norm.running_var"] != nil && tensors["lars.v.encoder.0.weight"] != nil)
        #expect(tensors["predictor.1.weight"] != nil && tensors["predictor.0.norm.running_mean"] != nil)
        // The momentum target (default 0.99) is checkpointed and is not trained by the optimiser.
        #expect(tensors["target.2.weight"] != nil && tensors["target.0.norm.running_mean"] != nil && tensors["lars.v.target.0.weight"] == nil)
        #expect(metadata["targetMomentum"] == "0.99" && metadata["run.optimizer"] == "lars")
        let summary = try train(try TwoViewTask(configuration, on: backend), on: backend, into: resumed, resume: true)
        #expect(summary.r2 == expected.r2 && summary.number("retrieval_top1") == expected.number("retrieval_top1") && summary.finalLoss == expected.finalLoss)
    }

    /// jepa with BatchNorm keeps learning with the momentum target and collapses without it (measured after these
    /// 320 steps: R² 0.48 with m = 0.99, 0.28 with m = 0, 0.32 untrained).
    @Test func momentumTargetKeepsJEPAFromCollapsing() throws {
        let backend = try TestBackends.named("cpu")
        let directory = temporaryDirectory("jepa")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quickTwoView(batchNorm: true)
        (configuration.objective, configuration.run.epochs, configuration.batch) = ("jepa", 20, 128)
        let tracked = try train(try TwoViewTask(configuration, on: backend), on: backend, into: directory)
        configuration.targetMomentum = 0
        let simSiam = try train(try TwoViewTask(configuration, on: backend), on: backend, into: directory, overwrite: true)
        #expect((tracked.r2 ?? 0) > (simSiam.r2 ?? 1) + 0.1, "R² \(tracked.r2 ?? .nan) with the target vs \(simSiam.r2 ?? .nan) without")
    }

    /// A short clustering run finds the clusters on every backend: measured 0.25 for the untrained encoder's argmax
    /// and 0.994 after these 640 steps (LDM, exact plug-in entropy); the match probability reaches 0.99 at the end.
    @Test(arguments: TestBackends.all)
    func clusteringRunFindsTheClusters(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = temporaryDirectory("clustering")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quickTwoView()
        configuration.objective = "clustering"
        configuration.data.latent = .clusters
        (configuration.run.epochs, configuration.batch) = (40, 128)
        var untrained = configuration
        untrained.run.epochs = 1
        untrained.run.schedule = .constant(1e-9)
        let baseline = try train(try TwoViewTask(untrained, on: backend), on: backend, into: directory)
        let summary = try train(try TwoViewTask(configuration, on: backend), on: backend, into: directory, overwrite: true)
        let accuracy = try #require(summary.number("clustering_accuracy")), before = try #require(baseline.number("clustering_accuracy"))
        #expect(accuracy > 0.9 && accuracy > before + 0.3, "accuracy \(accuracy) vs untrained \(before) on \(name)")
        #expect(summary.number("mcc") == nil)   // class probabilities are not latent estimates
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let probabilities = lines.compactMap { $0["match_probability"] as? Double }
        #expect(probabilities.count > 2 && probabilities == probabilities.sorted() && abs(probabilities.last! - 0.99) < 1e-3)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        #expect(json["clustering_accuracy"] is Double)
        #expect(try NumPyFile.read(directory + "/test_representations.npy").shape == [512, 10])
    }

    /// `ldm train --experiment two-view` on the user's .npy views: with latents it reports the probe R², without
    /// them only retrieval; mismatched arrays are refused by name.
    @Test func trainsOnTheUsersArrays() throws {
        let directory = URL(fileURLWithPath: temporaryDirectory("tv-npy"))
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
        let directory = URL(fileURLWithPath: temporaryDirectory("tv-labels"))
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
        #expect(synthetic.status != 0 && synthetic.error.contains("--labels need --view1"), "\(synthetic.error)")
    }
}

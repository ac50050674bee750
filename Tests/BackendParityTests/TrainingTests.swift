import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// Trains `task` into `directory` through the one loop; `stopAfter` stops it after that many steps.
func train(_ task: any TrainingTask, on backend: any Backend, into directory: String, stopAfter: Int? = nil,
           resume: Bool = false, overwrite: Bool = false) throws -> TrainingSummary {
    let loop = TrainingLoop(task, on: backend, directory: directory)
    var polls = 0
    if let stopAfter { loop.shouldStop = { polls += 1; return polls == stopAfter } }
    return try loop.run(resume: resume, overwrite: overwrite)
}

/// The metrics.jsonl lines of a run.
func metricsLines(_ directory: String) throws -> [[String: Any]] {
    try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// The Kalman-LDM, CPC and ICA tasks end to end: short runs learn and write their files, resumed runs end bit for
/// bit where uninterrupted ones do, the checkpoints hold what they must.
@Suite("Training tasks")
struct TrainingTests {
    /// A quick square configuration: 64 training sequences, 3 epochs (a few seconds on PoCL).
    static func quick(epochs: Int = 3) -> KalmanLDMConfiguration {
        var c = KalmanLDMConfiguration(experiment: .square)
        (c.video.trainSequences, c.video.probeSequences, c.run.epochs, c.run.logEvery) = (64, 32, epochs, 4)
        return c
    }

    /// A short run learns: the held-out R² of the probe beats a weak threshold, and every output file is there.
    @Test(arguments: TestBackends.all)
    func kalmanRunLearnsAndWritesItsFiles(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = temporaryDirectory("kalman-" + name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.quick(epochs: 4)
        configuration.video.trainSequences = 160
        let summary = try train(try KalmanLDMTask(configuration, on: backend), on: backend, into: directory)
        #expect((summary.r2 ?? 0) > 0.5, "R² \(summary.r2 ?? .nan) on \(name)")
        if case .pairs(let eigenvalues)? = summary.values["A_eigenvalues"] { #expect(eigenvalues.count == 2) } else { Issue.record("no A_eigenvalues") }
        for file in ["metrics.jsonl", "summary.json", "checkpoint.safetensors", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file)")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        for key in ["experiment", "objective", "r2", "r2_per_dimension", "epochs", "seconds", "backend", "seed", "final_loss",
                    "A_eigenvalues", "rotation_per_step"] {
            #expect(json[key] != nil, "summary.json lacks \(key)")
        }
        let report = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        #expect(report.contains("<svg") && report.contains("polyline") && report.contains("Eigenvalues of A"))
    }

    /// Resuming from the first epoch's checkpoint gives exactly the uninterrupted run's result, and a run stopped
    /// mid-epoch (as SIGINT does) leaves the last completed epoch's checkpoint valid.
    @Test func kalmanResumeEqualsAnUninterruptedRun() throws {
        let backend = try TestBackends.named("cpu")
        let (straight, resumed) = (temporaryDirectory("straight"), temporaryDirectory("resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try train(try KalmanLDMTask(Self.quick(), on: backend), on: backend, into: straight)
        #expect(throws: TrainingInterrupted.self) {
            _ = try train(try KalmanLDMTask(Self.quick(), on: backend), on: backend, into: resumed, stopAfter: Self.quick().video.stepsPerEpoch + 3)
        }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(metadata["epochs"] == "1")
        #expect(try #require(tensors["kalman.filter"]).0.count == 9)   // A (2 × 2), b, a, s
        let summary = try train(try KalmanLDMTask(Self.quick(), on: backend), on: backend, into: resumed, resume: true)
        #expect(summary.r2 == expected.r2 && summary.values["A_eigenvalues"] == expected.values["A_eigenvalues"])
        let (a, b) = (try SafeTensors.read(straight + "/checkpoint.safetensors").tensors, try SafeTensors.read(resumed + "/checkpoint.safetensors").tensors)
        #expect(a.keys.sorted() == b.keys.sorted())
        for key in a.keys { #expect(a[key]?.0 == b[key]?.0, "\(key) differs after resume") }
        // metrics.jsonl keeps one line per logged step: the interrupted epoch's lines were replaced, not doubled.
        let steps = try metricsLines(resumed).filter { $0["loss"] != nil }.compactMap { $0["step"] as? Int }
        #expect(steps == Array(Set(steps)).sorted())
        // Another objective's checkpoint is refused, not half-loaded.
        var other = Self.quick()
        other.variant = .stopGradient
        #expect(throws: LDMError.self) { _ = try train(try KalmanLDMTask(other, on: backend), on: backend, into: resumed, resume: true) }
    }

    /// A short circular-inferred run (the default stop-gradient form, the noise network in the loop; 80 steps,
    /// about 2 s) improves the held-out R² epoch after epoch (measured 0.08 → 0.50 → 0.85 → 0.87; the full run
    /// reaches 0.959) and checkpoints the network.
    @Test func shortInferredNoiseRunLearns() throws {
        let backend = try TestBackends.named("cpu")
        let directory = temporaryDirectory("inferred")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = KalmanLDMConfiguration(experiment: .circularInferred)
        (c.video.trainSequences, c.video.batch, c.run.epochs, c.video.probeSequences, c.run.logEvery) = (320, 16, 4, 32, 10)
        let summary = try train(try KalmanLDMTask(c, on: backend), on: backend, into: directory)
        let perEpoch = try metricsLines(directory).compactMap { $0["r2"] as? Double }
        #expect((summary.r2 ?? 0) > 0.6 && perEpoch.count == 4 && perEpoch[3] > perEpoch[0] + 0.3, "R² by epoch \(perEpoch)")
        let (tensors, _) = try SafeTensors.read(directory + "/checkpoint.safetensors")
        #expect(tensors["noise.scale"]?.0.count == 100 && tensors["noise.0.weight"]?.0.count == 100 * 100)
    }

    /// The inferred-noise run with its means time-parallel (a scan per sequence: the noise is predicted per step)
    /// follows the sequential run: one epoch of 20 steps, every logged loss within 1e-4 and the R² within 1e-3.
    @Test func inferredNoiseRunTakesTheTimeParallelMeans() throws {
        let backend = try TestBackends.named("cpu")
        var losses: [[Double]] = [], r2: [Double] = []
        for form in [KalmanTimeParallel.off, .on] {
            let directory = temporaryDirectory("inferred-\(form.rawValue)")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var c = KalmanLDMConfiguration(experiment: .circularInferred)
            (c.video.trainSequences, c.video.batch, c.run.epochs, c.video.probeSequences, c.run.logEvery) = (320, 16, 1, 32, 5)
            c.timeParallel = form
            let summary = try train(try KalmanLDMTask(c, on: backend), on: backend, into: directory)
            losses.append(try metricsLines(directory).compactMap { $0["loss"] as? Double })
            r2.append(try #require(summary.r2))
        }
        #expect(losses[0].count == 4 && losses[0].count == losses[1].count)
        for (off, on) in zip(losses[0], losses[1]) { #expect(abs(on - off) <= 1e-4 * abs(off), "loss \(on) time-parallel, \(off) sequential") }
        #expect(abs(r2[0] - r2[1]) <= 1e-3, "R² \(r2)")
    }

    static func quickCPC(epochs: Int = 4) -> CPCConfiguration {
        var c = CPCConfiguration(experiment: .square)
        (c.video.trainSequences, c.video.probeSequences, c.run.epochs, c.run.logEvery) = (160, 32, epochs, 4)
        return c
    }

    /// CPC on the square videos learns on every backend (measured: R² 0.03 untrained, 0.71 after these 80 steps;
    /// 0.960 after the full 20 epochs) and writes the Kalman runs' files, with W₁'s eigenvalues in the summary.
    @Test(arguments: TestBackends.all)
    func cpcRunLearnsTheSquarePath(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let directory = temporaryDirectory("cpc-" + name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var untrained = Self.quickCPC(epochs: 1)
        untrained.run.schedule = .constant(1e-9)
        let baseline = try train(try CPCTask(untrained, on: backend), on: backend, into: directory)
        let summary = try train(try CPCTask(Self.quickCPC(), on: backend), on: backend, into: directory, overwrite: true)
        #expect((summary.r2 ?? 0) > 0.5 && (summary.r2 ?? 0) > (baseline.r2 ?? 1) + 0.4,
                "R² \(summary.r2 ?? .nan) vs untrained \(baseline.r2 ?? .nan) on \(name)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        #expect(json["objective"] as? String == "cpc" && (json["predictor_eigenvalues"] as? [[Double]])?.count == 2)
        let lines = try metricsLines(directory)
        #expect(lines.contains { $0["loss_k3"] is Double } && lines.filter { $0["r2"] != nil }.count == 4)
        #expect(try String(contentsOfFile: directory + "/report.html", encoding: .utf8).contains("one-step predictor"))
    }

    /// A CPC run with two-frame windows, stopped mid-epoch and resumed, ends exactly where the uninterrupted run
    /// does; the checkpoint holds every predictor.
    @Test func cpcResumeEqualsAnUninterruptedRun() throws {
        let backend = try TestBackends.named("cpu")
        var configuration = Self.quickCPC(epochs: 2)
        (configuration.contextSteps, configuration.horizons) = (2, 2)
        let (straight, resumed) = (temporaryDirectory("cpc-straight"), temporaryDirectory("cpc-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try train(try CPCTask(configuration, on: backend), on: backend, into: straight)
        #expect(throws: TrainingInterrupted.self) {
            _ = try train(try CPCTask(configuration, on: backend), on: backend, into: resumed, stopAfter: configuration.video.stepsPerEpoch + 3)
        }
        let (tensors, metadata) = try SafeTensors.read(resumed + "/checkpoint.safetensors")
        #expect(metadata["epochs"] == "1" && tensors["predictor.2"]?.1 == [2, 4])
        let summary = try train(try CPCTask(configuration, on: backend), on: backend, into: resumed, resume: true)
        #expect(summary.r2 == expected.r2 && summary.finalLoss == expected.finalLoss && summary.values["predictor_eigenvalues"] == nil)
        // A checkpoint of another window length is refused, not half-loaded.
        var other = configuration
        other.contextSteps = 1
        #expect(throws: LDMError.self) { _ = try train(try CPCTask(other, on: backend), on: backend, into: resumed, resume: true) }
    }

    /// A short ou-ica run separates the sources (MCC > 0.99, W ≈ the inverse 45° rotation) on every backend;
    /// resuming from an interrupted run's checkpoint ends exactly where the uninterrupted run does.
    @Test(arguments: TestBackends.all)
    func icaSeparatesTheSourcesAndResumes(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var configuration = ICAConfiguration()
        configuration.data.steps = 10_000
        configuration.run.epochs = 300
        let (straight, resumed) = (temporaryDirectory("ica"), temporaryDirectory("ica-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let summary = try train(try ICATask(configuration, on: backend), on: backend, into: straight)
        #expect((summary.number("mcc") ?? 0) > 0.99, "MCC \(summary.number("mcc") ?? .nan) on \(name)")
        #expect(abs((summary.number("unmixing_angle") ?? 0) + Double.pi / 4) < 0.05, "angle \(summary.number("unmixing_angle") ?? .nan)")
        for file in ["metrics.jsonl", "summary.json", "checkpoint.safetensors", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: straight + "/" + file), "\(file)")
        }
        guard name == "cpu" else { return }
        // Stopped after step 120, between two evaluations: the stop itself checkpoints the completed epochs.
        let stop = #expect(throws: TrainingInterrupted.self) {
            _ = try train(try ICATask(configuration, on: backend), on: backend, into: resumed, stopAfter: 120)
        }
        #expect(stop?.completedEpochs == 120)
        let again = try train(try ICATask(configuration, on: backend), on: backend, into: resumed, resume: true)
        #expect(again.number("mcc") == summary.number("mcc") && again.number("unmixing_angle") == summary.number("unmixing_angle")
            && again.finalLoss == summary.finalLoss)
    }
}

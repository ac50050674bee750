import Foundation
import LDMEngine
import LDMObjectives
import LDMReference

/// The experiments `ldm train` runs, with the reference settings of SPEC §6.
public enum Experiment: String, Sendable, CaseIterable {
    case square, figure8, circular
    case circularInferred = "circular-inferred"
}

/// Everything a training run depends on (the defaults are SPEC §6's reference training).
public struct TrainingConfiguration: Sendable {
    public var experiment: Experiment
    /// The videos: path, pixel noise, process noise, jumps, half_flip.
    public var motion: DotMotion
    public var seed: UInt64 = 0
    public var epochs = 20
    public var trainSequences = 800
    public var testSequences = 8
    /// Training sequences whose filtered states fit the linear probe (it is scored on the test sequences).
    public var probeSequences = 64
    public var batch = 8
    public var hiddenWidth = 100
    public var stateDimension = 2
    public var latentDimension = 2
    public var schedule: LearningRateSchedule
    /// Adam by default, as in the reference.
    public var optimizer: OptimizerKind = .adam
    public var weightDecay: Float
    public var variant: KalmanLDMVariant
    /// The learning-rate multiplier of the filter parameters A, b, a, s.
    public var filterRateMultiplier: Float
    /// When set, Σ_D is predicted per step by ``ObservationNoiseNetwork``, trained at this multiplier of the rate.
    public var noiseNetworkRateMultiplier: Float?
    /// Global gradient-norm clipping before each optimiser step (none by default, as in the reference).
    public var clipNorm: Float?
    /// A metrics.jsonl line every this many optimiser steps (and one per epoch with the R²).
    public var logEvery = 20

    /// The reference settings of an experiment with the given loss form (each experiment's default when nil).
    ///
    /// Learning rates: the reference code multiplies its configured rate by batch/256 and trains A, b, a, s at
    /// 100× that and its noise network at 0.03× (facts from its source), which is what the stop-gradient form
    /// uses here. The kNN form reaches the targets with the configured rate unscaled and the filter at 1×
    /// (measured; see the README). The kNN form is the default of square, figure8 and circular; circular-inferred
    /// defaults to the reference's stop-gradient form.
    public init(experiment: Experiment, objective: KalmanLDMVariant? = nil) {
        self.experiment = experiment
        let configured: LearningRateSchedule
        switch experiment {
        case .square:
            motion = DotMotion(path: .square)
            configured = .linear(from: 0.02, to: 0.005)
            weightDecay = 1e-6
            variant = objective ?? .knn
        case .figure8:
            motion = DotMotion(path: .figure8)
            (stateDimension, latentDimension) = (10, 5)
            // The reference halves the rate at 1/3 and 2/3; the kNN form here decays by 10 (measured better).
            configured = .step(base: 0.005, milestones: [0.33, 0.66], factor: objective == .stopGradient ? 0.5 : 0.1)
            weightDecay = 1e-4
            variant = objective ?? .knn
        case .circular:
            // The reference's fixed-noise baseline of the inferred-noise experiment: half_flip views.
            motion = DotMotion(path: .circular)
            motion.halfFlip = true
            configured = .linear(from: 0.01, to: 0.00001)
            weightDecay = 1e-6
            variant = objective ?? .knn
        case .circularInferred:
            motion = DotMotion(path: .circular)
            trainSequences = 3200
            batch = 32
            configured = .step(base: 0.01, milestones: [0.33, 0.66], factor: 0.5)
            weightDecay = 1e-6
            // The reference's form and rates: stop-gradient reaches R² 0.959 / 0.948 / 0.949 (seeds 0–2) in
            // 15 s, the kNN form 0.954 / 0.942 / 0.939 in 35 s (measured once the reverse pass was fixed; before,
            // wrong ∂/∂s and ∂/∂ℓ held stop-gradient to 0.82).
            variant = objective ?? .stopGradient
            noiseNetworkRateMultiplier = 0.03
        }
        if variant == .stopGradient {
            schedule = configured.scaled(by: Float(batch) / 256)
            filterRateMultiplier = 100
        } else {
            schedule = configured
            filterRateMultiplier = 1
        }
    }

    public var steps: Int { motion.steps }
    public var stepsPerEpoch: Int { (trainSequences + batch - 1) / batch }
}

/// One progress report (after each logged step and each epoch).
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int
    public var loss: Double
    public var r2: Double?
    public var stepsPerSecond: Double
}

/// What a finished run reports (summary.json). The Kalman experiments fill the A fields, ou-ica the MCC and the
/// unmixing angle, two-view the objective and the MCC.
public struct TrainingSummary: Codable, Sendable {
    public var experiment: String
    /// The experiment's headline R²: of the ridge probe to the true positions (Kalman), to the true latents
    /// (two-view), or the mean squared correlation of matched sources (ou-ica).
    public var r2: Double?
    public var r2PerDimension: [Double]
    public var epochs: Int
    public var seconds: Double
    public var backend: String
    public var seed: UInt64
    public var finalLoss: Double
    public var optimizer: String?
    public var aEigenvalues: [[Double]]?
    public var rotationPerStep: Double?
    public var mcc: Double?
    public var unmixingAngle: Double?
    public var objective: String?
    /// two-view: the share of test rows whose view 2 is the nearest of all test rows' view 2 to their view 1.
    public var retrievalTop1: Double?
    /// two-view on synthetic data: the probe R² of the oracle representation s + ε₁ (the ceiling).
    public var oracleR2: Double?
    /// two-view with a clustering objective and labels: the share of test rows whose argmax class maps to their
    /// label under the best one-to-one matching.
    public var clusteringAccuracy: Double?
    /// cpc with one-frame contexts: the eigenvalues of the one-step predictor W₁ (the analogue of A).
    public var predictorEigenvalues: [[Double]]?

    public init(experiment: String, r2: Double?, r2PerDimension: [Double], epochs: Int, seconds: Double, backend: String,
                seed: UInt64, finalLoss: Double, optimizer: String? = nil) {
        self.experiment = experiment
        self.r2 = r2
        self.r2PerDimension = r2PerDimension
        self.epochs = epochs
        self.seconds = seconds
        self.backend = backend
        self.seed = seed
        self.finalLoss = finalLoss
        self.optimizer = optimizer
    }

    enum CodingKeys: String, CodingKey {
        case experiment, r2, epochs, seconds, backend, seed, optimizer, mcc, objective
        case r2PerDimension = "r2_per_dimension"
        case finalLoss = "final_loss"
        case aEigenvalues = "A_eigenvalues"
        case rotationPerStep = "rotation_per_step"
        case unmixingAngle = "unmixing_angle"
        case retrievalTop1 = "retrieval_top1"
        case oracleR2 = "oracle_r2"
        case clusteringAccuracy = "clustering_accuracy"
        case predictorEigenvalues = "predictor_eigenvalues"
    }
}

extension TrainingSummary {
    /// Writes summary.json (pretty, sorted keys) into `directory`, atomically.
    func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = (directory as NSString).appendingPathComponent("summary.json")
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot write: \((error as NSError).localizedDescription)")
        }
    }
}

/// Thrown when `shouldStop` asked the run to end early (SIGINT); the last epoch's checkpoint is intact.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let completedEpochs: Int
    public var description: String { "interrupted; the checkpoint holds \(completedEpochs) completed epoch(s) (resume with --resume)" }
}

/// A training run of any experiment: progress reports, an interrupt poll, and the run itself, which writes
/// metrics.jsonl, checkpoint.safetensors (atomic, every epoch), summary.json and report.html to its directory.
public protocol TrainingRun: AnyObject {
    var progress: (TrainingProgress) -> Void { get set }
    /// Polled after every step; returning true stops the run with ``TrainingInterrupted``.
    var shouldStop: () -> Bool { get set }
    /// Runs (or, with `resume`, continues from the checkpoint) and returns the summary.
    func run(resume: Bool) throws -> TrainingSummary
}

/// Trains the Kalman-LDM predictor on dot-motion videos: metrics.jsonl, checkpoint.safetensors (atomic, every
/// epoch), summary.json and report.html in `directory`.
public final class Trainer: TrainingRun {
    public let configuration: TrainingConfiguration
    public let backend: any Backend
    public let directory: String
    public var progress: (TrainingProgress) -> Void = { _ in }
    /// Polled after every step; returning true stops the run (SIGINT).
    public var shouldStop: () -> Bool = { false }

    public init(_ configuration: TrainingConfiguration, on backend: any Backend, directory: String) throws {
        guard configuration.epochs >= 1, configuration.trainSequences >= configuration.batch, configuration.batch >= 1,
              configuration.testSequences >= 1, configuration.probeSequences >= 1 else {
            throw LDMError.invalidArgument("training: need epochs ≥ 1, batch ≥ 1, at least one batch of training sequences and a test set")
        }
        self.configuration = configuration
        self.backend = backend
        self.directory = directory
    }

    var checkpointPath: String { (directory as NSString).appendingPathComponent("checkpoint.safetensors") }
    var metricsPath: String { (directory as NSString).appendingPathComponent("metrics.jsonl") }

    /// Runs (or, with `resume`, continues) the training and returns the summary.
    public func run(resume: Bool = false) throws -> TrainingSummary {
        let c = configuration
        try createOutputDirectory(directory)
        let data = c.motion
        let train = data.generate(count: c.trainSequences, seed: c.seed &* 2 &+ 1)
        let test = data.generate(count: c.testSequences, seed: c.seed &* 2 &+ 2)
        let pixels = DotMotion.pixels, frameBlock = c.steps * pixels
        let trainFrames = try backend.upload(train.frames, shape: [c.trainSequences, c.steps, pixels])
        let testFrames = try backend.upload(test.frames, shape: [c.testSequences, c.steps, pixels])
        let probeCount = min(c.probeSequences, c.trainSequences)
        let probeFrames = try backend.makeTensor([probeCount, c.steps, pixels])
        try backend.copy(trainFrames, offset: 0, to: probeFrames, offset: 0, count: probeCount * frameBlock)

        let model = try KalmanLDMModel(inputDimension: pixels, hiddenWidth: c.hiddenWidth, latentDimension: c.latentDimension,
                                       stateDimension: c.stateDimension, variant: c.variant,
                                       filterRateMultiplier: c.filterRateMultiplier,
                                       noiseNetworkRateMultiplier: c.noiseNetworkRateMultiplier, on: backend, seed: c.seed)
        let optimizer = try c.optimizer.make(model.trainableParameters, weightDecay: c.weightDecay, on: backend)
        optimizer.clipNorm = c.clipNorm
        var log = MetricsLog(path: metricsPath)
        var startEpoch = 0, elapsed = 0.0
        if resume {
            (startEpoch, elapsed) = try restore(model, optimizer)
            try log.truncate(afterStep: optimizer.steps)
        } else {
            try log.reset()
        }
        let totalSteps = c.epochs * c.stepsPerEpoch
        let batchFrames = try backend.makeTensor([c.batch, c.steps, pixels])
        var lastLoss = Double.nan, lastR2: [Double] = []
        let clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        let started = clock() - elapsed
        for epoch in startEpoch..<c.epochs {
            // The order of an epoch depends only on (seed, epoch): a resumed run sees the same batches.
            var generator = SeededGenerator(seed: c.seed &* 1_000_003 &+ UInt64(epoch))
            let order = Array(0..<c.trainSequences).shuffled(using: &generator)
            let epochStart = clock()
            var epochLoss = 0.0
            for batchIndex in 0..<c.stepsPerEpoch {
                let members = (0..<c.batch).map { order[(batchIndex * c.batch + $0) % c.trainSequences] }
                for (slot, q) in members.enumerated() {
                    try backend.copy(trainFrames, offset: q * frameBlock, to: batchFrames, offset: slot * frameBlock, count: frameBlock)
                }
                let step = optimizer.steps
                let loss = try model.lossAndGradients(batchFrames)
                guard loss.isFinite else {
                    throw LDMError.invalidArgument("training diverged: the loss is \(loss) at step \(step) (epoch \(epoch + 1))")
                }
                let rate = c.schedule.rate(at: step, of: totalSteps)
                try optimizer.step(rate: rate)
                try model.synchronizeFilter()
                epochLoss += loss
                lastLoss = loss
                if (step + 1) % c.logEvery == 0 {
                    try log.append(["epoch": epoch + 1, "step": step + 1, "loss": loss, "lr": Double(rate),
                                    "seconds": clock() - started])
                }
                if (step + 1) % c.logEvery == 0 && batchIndex + 1 < c.stepsPerEpoch {   // the epoch's end reports below
                    let rateNow = Double(batchIndex + 1) / (clock() - epochStart)
                    progress(TrainingProgress(epoch: epoch + 1, epochs: c.epochs, step: batchIndex + 1, stepsPerEpoch: c.stepsPerEpoch,
                                              loss: loss, r2: lastR2.isEmpty ? nil : lastR2.reduce(0, +) / Double(lastR2.count),
                                              stepsPerSecond: rateNow))
                }
                if shouldStop() { throw TrainingInterrupted(completedEpochs: epoch) }
            }
            lastR2 = try evaluate(model, probeFrames: probeFrames, probePositions: Array(train.positions[0..<(probeCount * c.steps * 2)]),
                                  testFrames: testFrames, testPositions: test.positions).r2
            let meanR2 = lastR2.reduce(0, +) / Double(lastR2.count)
            try log.append(["epoch": epoch + 1, "step": optimizer.steps, "epoch_loss": epochLoss / Double(c.stepsPerEpoch),
                            "r2": meanR2, "seconds": clock() - started])
            try saveCheckpoint(model, optimizer, epochs: epoch + 1, seconds: clock() - started)
            progress(TrainingProgress(epoch: epoch + 1, epochs: c.epochs, step: c.stepsPerEpoch, stepsPerEpoch: c.stepsPerEpoch,
                                      loss: epochLoss / Double(c.stepsPerEpoch), r2: meanR2,
                                      stepsPerSecond: Double(c.stepsPerEpoch) / (clock() - epochStart)))
        }
        let evaluation = try evaluate(model, probeFrames: probeFrames, probePositions: Array(train.positions[0..<(probeCount * c.steps * 2)]),
                                      testFrames: testFrames, testPositions: test.positions)
        let eigenvalues = try Metrics.eigenvalues(model.parameters.A)
        let complex = eigenvalues.filter { abs($0.im) > 1e-9 }
        let leading = complex.max { ($0.re * $0.re + $0.im * $0.im) < ($1.re * $1.re + $1.im * $1.im) }
        var summary = TrainingSummary(
            experiment: c.experiment.rawValue, r2: evaluation.r2.reduce(0, +) / Double(evaluation.r2.count),
            r2PerDimension: evaluation.r2, epochs: c.epochs, seconds: clock() - started, backend: backend.info.kind.rawValue,
            seed: c.seed, finalLoss: lastLoss, optimizer: c.optimizer.rawValue)
        summary.objective = c.variant.rawValue
        summary.aEigenvalues = eigenvalues.map { [$0.re, $0.im] }
        summary.rotationPerStep = leading.map { abs(atan2($0.im, $0.re)) } ?? 0
        try summary.write(to: directory)
        try Report.write(summary: summary, metrics: try log.entries(), truth: Array(test.positions[0..<(c.steps * 2)]),
                         decoded: Array(evaluation.decoded[0..<(c.steps * 2)]),
                         to: (directory as NSString).appendingPathComponent("report.html"))
        return summary
    }

    /// R² of the ridge probe fitted on the probe sequences' filtered states and scored on the test sequences,
    /// and the test sequences' decoded positions.
    func evaluate(_ model: KalmanLDMModel, probeFrames: Tensor, probePositions: [Float], testFrames: Tensor,
                  testPositions: [Float]) throws -> (r2: [Double], decoded: [Float]) {
        let probeStates = try model.filteredStates(probeFrames), testStates = try model.filteredStates(testFrames)
        let weights = try Metrics.fitRidge(features: probeStates, targets: probePositions, rows: probePositions.count / 2)
        let rows = testPositions.count / 2
        return (Metrics.rSquared(weights: weights, features: testStates, targets: testPositions, rows: rows),
                Metrics.predict(weights: weights, features: testStates, rows: rows, outputs: 2))
    }

    func saveCheckpoint(_ model: KalmanLDMModel, _ optimizer: any Optimizer, epochs: Int, seconds: Double) throws {
        try Checkpoint.save(Checkpoint.named(model.trainableParameters), optimizer, identity: identity, epochs: epochs, seconds: seconds,
                            on: backend, to: checkpointPath)
    }

    /// What a checkpoint must match to be resumed by this run.
    var identity: [String: String] {
        ["experiment": configuration.experiment.rawValue, "seed": String(configuration.seed),
         "optimizer": configuration.optimizer.rawValue]
    }

    /// Loads the checkpoint into the model and optimiser; returns (completed epochs, elapsed seconds).
    func restore(_ model: KalmanLDMModel, _ optimizer: any Optimizer) throws -> (Int, Double) {
        let restored = try Checkpoint.restore(Checkpoint.named(model.trainableParameters), optimizer, identity: identity, on: backend,
                                              from: checkpointPath)
        try model.synchronizeFilter()
        return restored
    }
}

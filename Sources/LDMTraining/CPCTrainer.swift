import Foundation
import LDMEngine
import LDMObjectives
import LDMReference

/// CPC on the dot-motion videos: the Kalman experiments' data, encoder and schedule, with the filter replaced by
/// ``SequenceCPC`` (contexts of the last `contextSteps` encodings, linear predictors W_1…W_K, InfoNCE over the
/// batch's (sequence, step) targets at τ = `temperature`). The comparison the paper draws: CPC and Kalman-LDM are
/// both predictive LDMs, CPC with a sphere latent model and a KDE entropy.
///
/// τ defaults to 1, not SimCLR's 0.1–0.5: every square or figure-8 sequence follows the same path, so a target's
/// negatives include the same position in the other sequences and one period later (≈ 40 of 776 on square); a
/// sharp kernel pushes the encoder to tell them apart by their pixel noise. Measured on square (CPU, seed 0):
/// held-out R² 0.960 at τ = 1, 0.44 at τ = 0.5, 0.00 at τ = 0.2 and 0.1.
public struct CPCConfiguration: Sendable {
    /// The videos, batch, encoder widths (d_l is the encoding's dimension), optimiser, learning-rate schedule, weight
    /// decay, clipping, epochs, seed and logging interval: the Kalman experiment's, in its kNN form (whose rates are
    /// the configured ones, unscaled); its filter settings are unused.
    public var base: TrainingConfiguration
    /// m, the encodings per context window.
    public var contextSteps = 1
    /// K: horizons 1…K, one predictor each.
    public var horizons = 3
    public var temperature: Float = 1

    public init(experiment: Experiment) {
        base = TrainingConfiguration(experiment: experiment, objective: .knn)
    }

    /// CPC on the videos and training settings of `base`.
    public init(_ base: TrainingConfiguration) {
        self.base = base
    }

    public var stepsPerEpoch: Int { base.stepsPerEpoch }
}

/// Trains an encoder with CPC on dot-motion videos; evaluates the held-out R² of a ridge probe from the encodings
/// ẑ_t = z_t/‖z_t‖ (the sphere model's representation: CPC leaves the norm free) to the true positions. Same
/// files as the Kalman runs (metrics.jsonl, checkpoint.safetensors every epoch, summary.json, report.html), same
/// resume guarantee.
public final class CPCTrainer: TrainingRun {
    public let configuration: CPCConfiguration
    public let backend: any Backend
    public let directory: String
    public var progress: (TrainingProgress) -> Void = { _ in }
    public var shouldStop: () -> Bool = { false }

    public init(_ configuration: CPCConfiguration, on backend: any Backend, directory: String) throws {
        let c = configuration, v = c.base
        guard v.epochs >= 1, v.batch >= 1, v.trainSequences >= v.batch, v.testSequences >= 1, v.probeSequences >= 1,
              c.contextSteps >= 1, c.horizons >= 1, v.logEvery >= 1 else {
            throw LDMError.invalidArgument("cpc: need epochs ≥ 1, at least one batch of training sequences, a test set, "
                + "context windows of ≥ 1 step and ≥ 1 horizon")
        }
        guard v.steps - c.contextSteps - c.horizons + 1 >= 1 else {
            throw LDMError.invalidArgument("cpc: sequences of \(v.steps) steps are too short for windows of \(c.contextSteps) "
                + "and \(c.horizons) horizons")
        }
        self.configuration = configuration
        self.backend = backend
        self.directory = directory
    }

    var checkpointPath: String { (directory as NSString).appendingPathComponent("checkpoint.safetensors") }
    var identity: [String: String] {
        ["experiment": configuration.base.experiment.rawValue, "seed": String(configuration.base.seed), "objective": "cpc",
         "optimizer": configuration.base.optimizer.rawValue, "context_steps": String(configuration.contextSteps),
         "horizons": String(configuration.horizons)]
    }

    public func run(resume: Bool = false) throws -> TrainingSummary {
        let c = configuration, v = c.base
        try createOutputDirectory(directory)
        let train = v.motion.generate(count: v.trainSequences, seed: v.seed &* 2 &+ 1)
        let test = v.motion.generate(count: v.testSequences, seed: v.seed &* 2 &+ 2)
        let pixels = DotMotion.pixels, t = v.steps, d = v.latentDimension, m = c.contextSteps, frameBlock = t * pixels
        let trainFrames = try backend.upload(train.frames, shape: [v.trainSequences, t, pixels])
        let probeCount = min(v.probeSequences, v.trainSequences)

        var generator = SeededGenerator(seed: v.seed)
        let encoder = try MLP(widths: [pixels, v.hiddenWidth, d], activation: .relu, on: backend, generator: &generator)
        // W_k [d, m·d] with PyTorch's Linear initialisation (uniform in ±1/√(m·d)), no bias.
        let bound = 1 / Double(m * d).squareRoot()
        let predictors = try (1...c.horizons).map { k in
            let initial = (0..<(d * m * d)).map { _ in Float((2 * generator.uniform() - 1) * bound) }
            return try Parameter(name: "predictor.\(k)", value: try backend.upload(initial, shape: [d, m * d]), on: backend)
        }
        let objective = try SequenceCPC(predictors: predictors.map(\.value), contextSteps: m, temperature: c.temperature)
        let parameters = encoder.parameters + predictors
        let optimizer = try v.optimizer.make(parameters, weightDecay: v.weightDecay, on: backend)
        optimizer.clipNorm = v.clipNorm
        var log = MetricsLog(path: (directory as NSString).appendingPathComponent("metrics.jsonl"))
        var startEpoch = 0, elapsed = 0.0
        if resume {
            (startEpoch, elapsed) = try Checkpoint.restore(Checkpoint.named(parameters), optimizer, identity: identity, on: backend,
                                                           from: checkpointPath)
            try log.truncate(afterStep: optimizer.steps)
        } else {
            try log.reset()
        }
        let totalSteps = v.epochs * c.stepsPerEpoch
        let batchFrames = try backend.makeTensor([v.batch * t, pixels])
        // The probe's and the test set's frames go to the device once; each evaluation reads back only encodings.
        let probeFrames = try backend.makeTensor([probeCount * t, pixels])
        try backend.copy(trainFrames, offset: 0, to: probeFrames, offset: 0, count: probeCount * frameBlock)
        let probe = (frames: probeFrames, positions: Array(train.positions[0..<(probeCount * t * 2)]))
        let testFrames = try backend.upload(test.frames, shape: [v.testSequences * t, pixels])
        let held = (frames: testFrames, positions: test.positions)
        var lastLoss = Double.nan, lastR2: Double?
        let clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        let started = clock() - elapsed
        for epoch in startEpoch..<v.epochs {
            // As the Kalman runs: the order depends only on (seed, epoch), so a resumed run sees the same batches.
            var shuffle = SeededGenerator(seed: v.seed &* 1_000_003 &+ UInt64(epoch))
            let order = Array(0..<v.trainSequences).shuffled(using: &shuffle)
            let epochStart = clock()
            var epochLoss = 0.0
            for batchIndex in 0..<c.stepsPerEpoch {
                for slot in 0..<v.batch {
                    let q = order[(batchIndex * v.batch + slot) % v.trainSequences]
                    try backend.copy(trainFrames, offset: q * frameBlock, to: batchFrames, offset: slot * frameBlock, count: frameBlock)
                }
                let step = optimizer.steps
                let z = try encoder.forward(batchFrames, training: true)
                let result = try objective.evaluate(z, sequences: v.batch, steps: t, on: backend)
                guard result.loss.isFinite else {
                    throw LDMError.invalidArgument("training diverged: the loss is \(result.loss) at step \(step) (epoch \(epoch + 1))")
                }
                _ = try encoder.backward(result.dz)
                for (predictor, gradient) in zip(predictors, result.predictorGradients) { try backend.copy(gradient, to: predictor.gradient) }
                let rate = v.schedule.rate(at: step, of: totalSteps)
                try optimizer.step(rate: rate)
                epochLoss += result.loss
                lastLoss = result.loss
                if (step + 1) % v.logEvery == 0 {
                    var entry: [String: Any] = ["epoch": epoch + 1, "step": step + 1, "loss": result.loss, "lr": Double(rate),
                                                "seconds": clock() - started]
                    for (index, loss) in result.horizonLosses.enumerated() { entry["loss_k\(index + 1)"] = loss }
                    try log.append(entry)
                    if batchIndex + 1 < c.stepsPerEpoch {
                        progress(TrainingProgress(epoch: epoch + 1, epochs: v.epochs, step: batchIndex + 1, stepsPerEpoch: c.stepsPerEpoch,
                                                  loss: result.loss, r2: lastR2,
                                                  stepsPerSecond: Double(batchIndex + 1) / (clock() - epochStart)))
                    }
                }
                if shouldStop() { throw TrainingInterrupted(completedEpochs: epoch) }
            }
            let evaluation = try evaluate(encoder, probe: probe, test: held)
            lastR2 = evaluation.r2.reduce(0, +) / Double(evaluation.r2.count)
            try log.append(["epoch": epoch + 1, "step": optimizer.steps, "epoch_loss": epochLoss / Double(c.stepsPerEpoch),
                            "r2": lastR2 ?? .nan, "seconds": clock() - started])
            try Checkpoint.save(Checkpoint.named(parameters), optimizer, identity: identity, epochs: epoch + 1, seconds: clock() - started,
                                on: backend, to: checkpointPath)
            progress(TrainingProgress(epoch: epoch + 1, epochs: v.epochs, step: c.stepsPerEpoch, stepsPerEpoch: c.stepsPerEpoch,
                                      loss: epochLoss / Double(c.stepsPerEpoch), r2: lastR2,
                                      stepsPerSecond: Double(c.stepsPerEpoch) / (clock() - epochStart)))
        }
        let evaluation = try evaluate(encoder, probe: probe, test: held)
        var summary = TrainingSummary(experiment: v.experiment.rawValue, r2: evaluation.r2.reduce(0, +) / Double(evaluation.r2.count),
                                      r2PerDimension: evaluation.r2, epochs: v.epochs, seconds: clock() - started,
                                      backend: backend.info.kind.rawValue, seed: v.seed, finalLoss: lastLoss, optimizer: v.optimizer.rawValue)
        summary.objective = "cpc"
        if m == 1 {
            // With one-frame contexts W₁ maps z_t to the direction of z_{t+1}: the analogue of the filter's A.
            let eigenvalues = try Metrics.eigenvalues(try backend.download(predictors[0].value))
            summary.predictorEigenvalues = eigenvalues.map { [$0.re, $0.im] }
            let complex = eigenvalues.filter { abs($0.im) > 1e-9 }
            summary.rotationPerStep = complex.max { hypot($0.re, $0.im) < hypot($1.re, $1.im) }.map { abs(atan2($0.im, $0.re)) }
        }
        try summary.write(to: directory)
        try Report.write(summary: summary, metrics: try log.entries(), truth: Array(test.positions[0..<(t * 2)]),
                         decoded: Array(evaluation.decoded[0..<(t * 2)]), to: (directory as NSString).appendingPathComponent("report.html"))
        return summary
    }

    /// The held-out R² of a ridge probe from the normalised encodings ẑ_t (fitted on the probe sequences) to the
    /// true positions, and the test sequences' decoded positions. Frames are on the device already.
    func evaluate(_ encoder: MLP, probe: (frames: Tensor, positions: [Float]), test: (frames: Tensor, positions: [Float])) throws
        -> (r2: [Double], decoded: [Float]) {
        let normalize = L2Normalize(on: backend)
        let encode = { (frames: Tensor) -> [Float] in
            try self.backend.download(try normalize.forward(try encoder.forward(frames, training: false)))
        }
        let weights = try Metrics.fitRidge(features: try encode(probe.frames), targets: probe.positions, rows: probe.positions.count / 2)
        let features = try encode(test.frames), rows = test.positions.count / 2
        return (Metrics.rSquared(weights: weights, features: features, targets: test.positions, rows: rows),
                Metrics.predict(weights: weights, features: features, rows: rows, outputs: 2))
    }
}

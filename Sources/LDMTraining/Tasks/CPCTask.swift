import Foundation
import LDMData
import LDMEngine
import LDMMetrics
import LDMObjectives
import LDMParallel
import LDMReference

/// The CPC task's settings: the Kalman experiment's videos, encoder and schedule in its kNN form (the configured
/// rates, unscaled), with the filter replaced by ``SequenceCPC``.
///
/// τ defaults to 1, not SimCLR's 0.1–0.5: every square or figure-8 sequence follows the same path, so a target's
/// negatives include the same position in the other sequences and one period later (≈ 40 of 776 on square); a
/// sharp kernel pushes the encoder to tell them apart by their pixel noise. Measured on square (CPU, seed 0):
/// held-out R² 0.960 at τ = 1, 0.44 at τ = 0.5, 0.00 at τ = 0.2 and 0.1.
public struct CPCConfiguration: Sendable {
    public var video: VideoSettings
    /// m, the encodings per context window.
    public var contextSteps = 1
    /// K: horizons 1…K, one predictor each.
    public var horizons = 3
    public var temperature: Float = 1
    public var run: RunSettings

    public init(experiment: VideoExperiment) {
        video = VideoSettings(experiment)
        run = RunSettings(epochs: 20, schedule: video.referenceSchedule(stopGradient: false), weightDecay: video.weightDecay)
    }
}

/// Trains an encoder with CPC on dot-motion videos (the comparison the paper draws: CPC and Kalman-LDM are both
/// predictive LDMs, CPC with a sphere latent model and a KDE entropy). Evaluation: the held-out R² of a ridge
/// probe from the encodings ẑ_t = z_t/‖z_t‖ (CPC leaves the norm free) to the true positions; with one-frame
/// contexts the summary adds the eigenvalues of W₁, the analogue of the filter's A.
public final class CPCTask: TrainingTask {
    public let configuration: CPCConfiguration
    public let encoder: Sequential
    public let predictors: [Parameter]
    private let cpc: SequenceCPC
    private let videos: VideoBatches
    private let normalize: L2Normalize
    private let backend: any Backend
    private var last: Metrics.Probe?
    /// The ranks whose sequences make up each batch (one process unless distributed).
    private var group = ProcessGroup.single, share: Range<Int>

    public init(_ configuration: CPCConfiguration, on backend: any Backend) throws {
        let c = configuration, v = c.video, (d, m) = (c.video.latentDimension, c.contextSteps)
        try v.validate("cpc")
        guard (1...50).contains(m), (1...50).contains(c.horizons), c.temperature.isFinite, c.temperature > 0 else {
            throw LDMError.invalidArgument("cpc: need 1…50 context steps and horizons and a positive temperature, got "
                + "\(m), \(c.horizons) and \(c.temperature)")
        }
        guard v.steps - m - c.horizons + 1 >= 1 else {
            throw LDMError.invalidArgument("cpc: sequences of \(v.steps) steps are too short for windows of \(m) and \(c.horizons) horizons")
        }
        videos = try VideoBatches(v, seed: c.run.seed, on: backend)
        var generator = SeededGenerator(seed: c.run.seed)
        encoder = try .mlp(widths: [DotMotion.pixels, v.hiddenWidth, d], activation: .relu, on: backend, generator: &generator)
        // W_k [d, m·d] with PyTorch's Linear initialisation (uniform in ±1/√(m·d)), no bias.
        let bound = 1 / Double(m * d).squareRoot()
        predictors = try (1...c.horizons).map { k in
            let initial = (0..<(d * m * d)).map { _ in Float((2 * generator.uniform() - 1) * bound) }
            return try Parameter(name: "predictor.\(k)", value: try backend.upload(initial, shape: [d, m * d]), on: backend)
        }
        cpc = try SequenceCPC(predictors: predictors.map(\.value), contextSteps: m, temperature: c.temperature)
        normalize = L2Normalize(on: backend)
        share = 0..<v.batch
        (self.configuration, self.backend) = (configuration, backend)
    }

    /// Each rank encodes its share of every batch's sequences; the loss runs on the gathered encodings of the whole
    /// batch (its negatives span every sequence), and each rank backpropagates its own sequences' gradient.
    public func distribute(over group: ProcessGroup) throws {
        share = try group.share(of: configuration.video.batch, "cpc: --batch-size")
        self.group = group
    }

    public var settings: RunSettings { configuration.run }
    public var experiment: String { configuration.video.experiment.rawValue }
    public var objective: String { "cpc" }
    public var itemCount: Int { configuration.video.trainSequences }
    public var batchSize: Int { configuration.video.batch }
    public var stepsPerEpoch: Int { configuration.video.stepsPerEpoch }
    public var parameters: [Parameter] { encoder.parameters + predictors }
    public var headlineMetric: String { "r2" }

    public func step(_ batch: [Int], _ context: StepContext) throws -> StepOutput {
        let v = configuration.video
        let frames = try videos.gather(Array(batch[share])).reshaped([share.count * v.steps, DotMotion.pixels])
        let z = try group.allGatherRows(try encoder.forward(frames, training: true), on: backend)
        let result = try cpc.evaluate(z, sequences: v.batch, steps: v.steps, on: backend)
        _ = try encoder.backward(try group.ownRows(result.dz, on: backend))
        // Every rank computed the predictors' gradients of the whole batch: rank 0's alone go into the sum.
        for (predictor, gradient) in zip(predictors, result.predictorGradients) {
            if group.isRoot { try backend.copy(gradient, to: predictor.gradient) } else { try backend.fill(predictor.gradient, with: 0) }
        }
        let horizons = result.horizonLosses.enumerated().map { ("loss_k\($0.offset + 1)", $0.element) }
        return StepOutput(loss: result.loss, scalars: Dictionary(uniqueKeysWithValues: horizons))
    }

    public func evaluate() throws -> [String: Double] {
        let probe = try videos.probe { frames in
            let flat = try frames.reshaped([frames.count / DotMotion.pixels, DotMotion.pixels])
            return try backend.download(try normalize.forward(try encoder.forward(flat, training: false), training: false))
        }
        last = probe
        return ["r2": probe.meanR2]
    }

    public func finish() throws -> TaskResult {
        let probe = try recorded(last, "CPCTask.finish")
        var summary = SummaryValue.probe(probe)
        var facts = ""
        if configuration.contextSteps == 1 {
            // With one-frame contexts W₁ maps z_t to the direction of z_{t+1}: the analogue of the filter's A.
            let eigenvalues = try Metrics.eigenvalues(try backend.download(predictors[0].value))
            let described = Metrics.describe(eigenvalues), rotation = Metrics.rotationPerStep(eigenvalues)
            summary["predictor_eigenvalues"] = .pairs(described.pairs)
            summary["rotation_per_step"] = .number(rotation)
            facts = String(format: "Eigenvalues of the one-step predictor W₁: %@; rotation per step %.4f rad.", described.text, rotation)
        }
        return TaskResult(summary: summary, facts: facts,
                          plots: [.metrics(title: "held-out R² by epoch", series: [("R²", "epoch", "r2")]),
                                  trajectoryPlot(truth: videos.testPositions, decoded: probe.decoded, steps: configuration.video.steps)])
    }
}

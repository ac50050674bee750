import LDMData
import LDMEngine
import LDMMetrics
import LDMReference

/// The dot-motion experiments (docs/mathematics.md §6), trained by the Kalman-LDM and CPC tasks.
public enum VideoExperiment: String, Sendable, CaseIterable {
    case square, figure8, circular
    case circularInferred = "circular-inferred"
}

/// A dot-motion experiment's videos, encoder widths and reference optimisation: what the Kalman-LDM and CPC tasks
/// share (the reference configurations of the paper's code).
public struct VideoSettings: Sendable {
    public var experiment: VideoExperiment
    /// The videos: path, pixel noise, process noise, jumps, half_flip.
    public var motion: DotMotion
    public var trainSequences = 800, testSequences = 8, batch = 8
    /// Training sequences whose representations fit the linear probe (it is scored on the test sequences).
    public var probeSequences = 64
    /// The encoder 100 → hiddenWidth → d_l; d_s is the filter's state (the Kalman-LDM task's).
    public var hiddenWidth = 100, latentDimension = 2, stateDimension = 2
    public var weightDecay: Float = 1e-6

    /// The reference settings of `experiment`.
    public init(_ experiment: VideoExperiment) {
        self.experiment = experiment
        switch experiment {
        case .square: motion = DotMotion(path: .square)
        case .figure8:
            motion = DotMotion(path: .figure8)
            (stateDimension, latentDimension, weightDecay) = (10, 5, 1e-4)
        case .circular:
            // The reference's fixed-noise baseline of the inferred-noise experiment: half_flip views.
            motion = DotMotion(path: .circular)
            motion.halfFlip = true
        case .circularInferred:
            motion = DotMotion(path: .circular)
            (trainSequences, batch) = (3200, 32)
        }
    }

    /// The reference's configured schedule, before the stop-gradient form's batch scaling. figure8's reference
    /// halves the rate at 1/3 and 2/3; the kNN form decays by 10 there (measured better).
    public func referenceSchedule(stopGradient: Bool) -> LearningRateSchedule {
        switch experiment {
        case .square: return .linear(from: 0.02, to: 0.005)
        case .figure8: return .step(base: 0.005, milestones: [0.33, 0.66], factor: stopGradient ? 0.5 : 0.1)
        case .circular: return .linear(from: 0.01, to: 0.00001)
        case .circularInferred: return .step(base: 0.01, milestones: [0.33, 0.66], factor: 0.5)
        }
    }

    public var steps: Int { motion.steps }
    public var stepsPerEpoch: Int { (trainSequences + batch - 1) / batch }

    func validate(_ task: String) throws {
        guard batch >= 1, trainSequences >= batch, testSequences >= 1, probeSequences >= 1, hiddenWidth >= 1,
              latentDimension >= 1, steps >= 1 else {
            throw LDMError.invalidArgument("\(task): need a batch of at least 1, at least one batch of training sequences "
                + "(\(trainSequences) for batches of \(batch)), a test set and a probe")
        }
        // The frames live on the host and on the device: refuse a size this machine cannot hold before generating it.
        try MemoryBudget.check(floats: [trainSequences, steps, DotMotion.pixels, 2], what: "\(task): \(trainSequences) training videos")
    }
}

/// The videos of one run on the device: the training frames (uploaded once; each batch is gathered from them
/// there), the probe's and the test set's frames, and their true positions on the host for the probe.
final class VideoBatches {
    let settings: VideoSettings
    let trainFrames: Tensor, probeFrames: Tensor, testFrames: Tensor
    let probePositions: [Float], testPositions: [Float]
    private var batchFrames: Tensor
    private let backend: any Backend

    init(_ settings: VideoSettings, seed: UInt64, on backend: any Backend) throws {
        let (t, pixels) = (settings.steps, DotMotion.pixels), block = settings.steps * DotMotion.pixels
        let train = settings.motion.generate(count: settings.trainSequences, seed: seed &* 2 &+ 1)
        let test = settings.motion.generate(count: settings.testSequences, seed: seed &* 2 &+ 2)
        let probeCount = min(settings.probeSequences, settings.trainSequences)
        trainFrames = try backend.upload(train.frames, shape: [settings.trainSequences, t, pixels])
        probeFrames = try backend.makeTensor([probeCount, t, pixels])
        try backend.copy(trainFrames, offset: 0, to: probeFrames, offset: 0, count: probeCount * block)
        testFrames = try backend.upload(test.frames, shape: [settings.testSequences, t, pixels])
        probePositions = Array(train.positions[0..<(probeCount * t * 2)])
        testPositions = test.positions
        batchFrames = try backend.makeTensor([settings.batch, t, pixels])
        (self.settings, self.backend) = (settings, backend)
    }

    /// The frames [B, T, 100] of the sequences `batch` (a whole batch, or a data-parallel rank's share of one).
    func gather(_ batch: [Int]) throws -> Tensor {
        let block = settings.steps * DotMotion.pixels
        if batchFrames.shape.dims[0] != batch.count {
            batchFrames = try backend.makeTensor([batch.count, settings.steps, DotMotion.pixels])
        }
        for (slot, q) in batch.enumerated() {
            try backend.copy(trainFrames, offset: q * block, to: batchFrames, offset: slot * block, count: block)
        }
        return batchFrames
    }

    /// The ridge probe from `features` of the probe sequences' frames to their positions, scored on the test
    /// sequences: R² per coordinate and the decoded test positions.
    func probe(_ features: (Tensor) throws -> [Float]) throws -> Metrics.Probe {
        try Metrics.ridgeProbe(train: (try features(probeFrames), probePositions), test: (try features(testFrames), testPositions),
                               outputs: 2)
    }
}

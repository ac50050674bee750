import Foundation
import LDMData
import LDMEngine
import LDMObjectives
import LDMParallel
import LDMReference

/// The two-view task's settings: synthetic views x = g(s + ε) (or the user's arrays), an MLP encoder and any
/// two-view objective of ``ObjectiveRegistry``.
public struct TwoViewConfiguration: Sendable {
    /// The synthetic data (ignored when `arrays` is set).
    public var data = TwoViewData()
    /// The user's own views (from .npy files); the last `testCount` rows are held out.
    public var arrays: TwoViewArrays?
    public var trainCount = 10_240, testCount = 2_048, batch = 256
    /// Training rows whose representations fit the ridge probe (it is scored on the test rows).
    public var probeCount = 4_096
    public var hiddenWidths = [128, 128]
    /// The representation's dimension (default: the latent's; for the clustering objectives, `data.classes`).
    public var outputDimension: Int?
    public var activation = Activation.relu
    /// BatchNorm after every hidden Linear (before the activation), as projector heads use.
    public var batchNorm = false
    /// In a data-parallel run, BatchNorm statistics over every rank's rows (otherwise each rank's own).
    public var syncBatchNorm = false
    /// The stop-gradient methods: the base momentum m of a target encoder that follows the online one by
    /// `θ_t ← m_k·θ_t + (1 − m_k)·θ` after every step, m_k rising from m to 1 on a cosine (BYOL's schedule); 0 uses
    /// the online encoder itself as the (detached) target, SimSiam-style. Measured: jepa with BatchNorm 0.587
    /// against 0.225 without a target, byol 0.574 against 0.549.
    public var targetMomentum: Float = 0.99
    /// A name ``ObjectiveRegistry`` knows.
    public var objective = "ldm-contrastive"
    public var run: RunSettings

    public init() {
        run = RunSettings(epochs: 50, schedule: .constant(0.01), weightDecay: 1e-6)
        run.schedule = defaultSchedule
    }

    /// Adam at 0.01 after one epoch of warm-up, then cosine decay to 0.
    public var defaultSchedule: LearningRateSchedule { .warmupCosine(base: 0.01, warmup: stepsPerEpoch, floor: 0) }
    var rows: Int { arrays.map { $0.count - testCount } ?? trainCount }
    public var stepsPerEpoch: Int { rows / max(batch, 1) }
}

/// Trains an encoder f on pairs of views: both views go through the same encoder as one batch of 2B rows (the
/// epoch's shuffled views go to the device once per epoch), the objective gives ∂loss/∂z of each view, and the
/// optimiser steps on the device. Evaluation: the held-out R² of a ridge probe from f(view 1) to the true latents,
/// their MCC, the top-1 retrieval of view 2 from view 1 among the test rows, and for the clustering objectives
/// the clustering accuracy of the argmax class.
public final class TwoViewTask: TrainingTask {
    public let configuration: TwoViewConfiguration
    public let learner: TwoViewLearner
    let data: TwoViewSplit
    private let held: TwoViewEvaluationRows
    private let epochViews: Tensor
    /// This rank's pairs of each batch (all of them on one process) and where they start in the batch.
    private var batchViews: Tensor, share: Range<Int>
    private let backend: any Backend
    private var last: TwoViewEvaluation?

    public init(_ configuration: TwoViewConfiguration, on backend: any Backend) throws {
        let c = configuration
        let spec = try ObjectiveRegistry.spec(named: c.objective)
        guard spec.trainsTwoViews else { throw LDMError.invalidArgument("two-view: \(c.objective) does not train on two views") }
        guard c.batch >= 2, c.testCount >= 2, c.probeCount >= 2, c.rows >= c.batch else {
            throw LDMError.invalidArgument("two-view: need batches of at least 2, at least two test and probe rows, and one "
                + "batch of training rows (\(c.rows) after holding out \(c.testCount) for the test)")
        }
        data = c.arrays.map { TwoViewSplit($0, testCount: c.testCount) }
            ?? TwoViewSplit(c.data, trainCount: c.trainCount, testCount: c.testCount, seed: c.run.seed)
        held = try TwoViewEvaluationRows(data, probeCount: c.probeCount, on: backend)
        let output = c.outputDimension ?? (spec.head == .softmax ? c.data.classes : data.latentDimension)
        var generator = SeededGenerator(seed: c.run.seed)
        let widths = [data.dimension] + c.hiddenWidths + [output]
        learner = try TwoViewLearner(spec: spec, output: output, activation: c.activation, batchNorm: c.batchNorm,
                                     targetMomentum: c.targetMomentum, on: backend, generator: &generator) { name, generator in
            try .mlp(widths: widths, activation: c.activation, batchNorm: c.batchNorm, name: name, on: backend, generator: &generator)
        }
        let (n, b, d) = (data.trainCount, c.batch, data.dimension)
        (epochViews, batchViews) = (try backend.makeTensor([2, n, d]), try backend.makeTensor([2 * b, d]))
        share = 0..<b
        (self.configuration, self.backend) = (configuration, backend)
    }

    public var settings: RunSettings { configuration.run }
    public var experiment: String { "two-view" }
    public var objective: String { configuration.objective }
    public var itemCount: Int { data.trainCount }
    public var batchSize: Int { configuration.batch }
    public var stepsPerEpoch: Int { configuration.stepsPerEpoch }
    public var parameters: [Parameter] { learner.parameters }
    public var checkpointTensors: [(String, Tensor)] { learner.checkpointTensors }
    public var headlineMetric: String {
        learner.spec.head == .softmax && data.testLabels != nil ? "clustering_accuracy" : data.trainLatents != nil ? "r2" : "retrieval_top1"
    }

    /// Each rank steps on its share of every batch's pairs; the learner gathers the objective's batch.
    public func distribute(over group: ProcessGroup) throws {
        share = try group.share(of: configuration.batch, "two-view: --batch-size")
        batchViews = try backend.makeTensor([2 * share.count, data.dimension])
        learner.group = group
        if configuration.syncBatchNorm { learner.synchroniseBatchNorm() }
    }

    /// The epoch's permuted views go to the device once; every batch is then a contiguous slice.
    public func beginEpoch(order: [Int]) throws {
        let (n, d) = (data.trainCount, data.dimension)
        var permuted = [Float](repeating: 0, count: 2 * n * d)
        for (slot, row) in order.enumerated() {
            for j in 0..<d {
                permuted[slot * d + j] = data.train1[row * d + j]
                permuted[(n + slot) * d + j] = data.train2[row * d + j]
            }
        }
        try backend.write(permuted, to: epochViews)
    }

    public func step(_ batch: [Int], _ context: StepContext) throws -> StepOutput {
        let (b, d, n) = (configuration.batch, data.dimension, data.trainCount)
        let (first, count) = (context.batchIndex * b + share.lowerBound, share.count)
        try backend.copy(epochViews, offset: first * d, to: batchViews, offset: 0, count: count * d)
        try backend.copy(epochViews, offset: (n + first) * d, to: batchViews, offset: count * d, count: count * d)
        return try learner.step(batchViews, batch: count, context)
    }

    public func afterUpdate(_ context: StepContext) throws {
        try learner.afterUpdate(context)
    }

    public func evaluate() throws -> [String: Double] {
        let evaluation = try TwoViewEvaluation(data, held, clustering: learner.spec.head == .softmax) { x in
            try backend.download(try learner.represent(x))
        }
        last = evaluation
        return evaluation.metrics
    }

    public func finish() throws -> TaskResult {
        let evaluation = try recorded(last, "TwoViewTask.finish")
        var summary = evaluation.metrics.mapValues { SummaryValue.number($0) }
        if let probe = evaluation.probe { summary.merge(SummaryValue.probe(probe)) { $1 } }
        if let oracle = try data.oracleProbe(probeCount: configuration.probeCount) { summary["oracle_r2"] = .number(oracle.meanR2) }
        // The test rows' representations, for `ldm metrics cka` between runs (or any other analysis).
        let representations = try NumPyFile.encode(evaluation.representation,
                                                    shape: [data.testCount, evaluation.representation.count / data.testCount])
        return TaskResult(summary: summary, facts: evaluation.facts(testCount: data.testCount, oracle: summary["oracle_r2"]),
                          plots: evaluation.plots(data), files: [("test_representations.npy", representations)])
    }
}

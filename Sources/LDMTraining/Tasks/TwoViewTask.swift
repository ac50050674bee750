import Foundation
import LDMData
import LDMEngine
import LDMObjectives
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
    public let spec: ObjectiveSpec
    public let encoder: Sequential
    /// L2 normalisation or a softmax, when the objective asks for one; a predictor and a momentum target for the
    /// stop-gradient methods.
    public let head: (any Module)?, predictor: Sequential?, target: Sequential?
    let data: TwoViewSplit
    private let held: TwoViewEvaluationRows
    private let epochViews: Tensor, batchViews: Tensor, z1: Tensor, z2: Tensor, dz: Tensor
    private let output: Int
    private let backend: any Backend
    private var last: TwoViewEvaluation?

    public init(_ configuration: TwoViewConfiguration, on backend: any Backend) throws {
        let c = configuration
        spec = try ObjectiveRegistry.spec(named: c.objective)
        guard spec.trainsTwoViews else { throw LDMError.invalidArgument("two-view: \(c.objective) does not train on two views") }
        guard c.batch >= 2, c.testCount >= 2, c.probeCount >= 2, c.rows >= c.batch else {
            throw LDMError.invalidArgument("two-view: need batches of at least 2, at least two test and probe rows, and one "
                + "batch of training rows (\(c.rows) after holding out \(c.testCount) for the test)")
        }
        data = c.arrays.map { TwoViewSplit($0, testCount: c.testCount) }
            ?? TwoViewSplit(c.data, trainCount: c.trainCount, testCount: c.testCount, seed: c.run.seed)
        held = try TwoViewEvaluationRows(data, probeCount: c.probeCount, on: backend)
        output = c.outputDimension ?? (spec.head == .softmax ? c.data.classes : data.latentDimension)
        guard spec.head != .softmax || output >= 2 else {
            throw LDMError.invalidArgument("two-view: a clustering head needs at least 2 classes, got \(output)")
        }
        var generator = SeededGenerator(seed: c.run.seed)
        let widths = [data.dimension] + c.hiddenWidths + [output]
        encoder = try .mlp(widths: widths, activation: c.activation, batchNorm: c.batchNorm, on: backend, generator: &generator)
        head = spec.head == .softmax ? Softmax(on: backend) : spec.head == .sphere ? L2Normalize(on: backend) : nil
        // The stop-gradient methods' predictor out → 2·out → out, then BYOL's momentum target (drawn after the
        // predictor, so runs without one draw the same initial weights).
        predictor = spec.needsPredictor
            ? try .mlp(widths: [output, 2 * output, output], activation: c.activation, batchNorm: c.batchNorm, name: "predictor",
                       on: backend, generator: &generator) : nil
        target = spec.needsPredictor && c.targetMomentum > 0
            ? try .mlp(widths: widths, activation: c.activation, batchNorm: c.batchNorm, name: "target", on: backend,
                       generator: &generator) : nil
        try target?.track(encoder, momentum: 0, on: backend)
        let (n, b, d) = (data.trainCount, c.batch, data.dimension)
        (epochViews, batchViews) = (try backend.makeTensor([2, n, d]), try backend.makeTensor([2 * b, d]))
        (z1, z2, dz) = (try backend.makeTensor([b, output]), try backend.makeTensor([b, output]), try backend.makeTensor([2 * b, output]))
        (self.configuration, self.backend) = (configuration, backend)
    }

    public var settings: RunSettings { configuration.run }
    public var experiment: String { "two-view" }
    public var objective: String { configuration.objective }
    public var itemCount: Int { data.trainCount }
    public var batchSize: Int { configuration.batch }
    public var stepsPerEpoch: Int { configuration.stepsPerEpoch }
    public var parameters: [Parameter] { encoder.parameters + (predictor?.parameters ?? []) }
    public var checkpointTensors: [(String, Tensor)] {
        encoder.checkpointTensors + (predictor?.checkpointTensors ?? []) + (target?.checkpointTensors ?? [])
    }
    public var headlineMetric: String {
        spec.head == .softmax && data.testLabels != nil ? "clustering_accuracy" : data.trainLatents != nil ? "r2" : "retrieval_top1"
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
        let (b, d, n, out) = (configuration.batch, data.dimension, data.trainCount, output)
        try backend.copy(epochViews, offset: context.batchIndex * b * d, to: batchViews, offset: 0, count: b * d)
        try backend.copy(epochViews, offset: (n + context.batchIndex * b) * d, to: batchViews, offset: b * d, count: b * d)
        var z = try encoder.forward(batchViews, training: true)
        if let head { z = try head.forward(z, training: true) }
        var parameters = ObjectiveParameters()
        parameters.matchProbability = Self.matchProbability(at: context.progress)
        let objective = try spec.make(parameters)
        let value: ObjectiveValue
        if let predictor {
            value = try predictedStep(predictor, objective, z: z)
        } else {
            try backend.copy(z, offset: 0, to: z1, offset: 0, count: b * out)
            try backend.copy(z, offset: b * out, to: z2, offset: 0, count: b * out)
            let result = try objective.evaluate(z1, z2, on: backend)
            try backend.copy(result.dz1, offset: 0, to: dz, offset: 0, count: b * out)
            try backend.copy(result.dz2, offset: 0, to: dz, offset: b * out, count: b * out)
            value = result.value
        }
        _ = try encoder.backward(try head?.backward(dz) ?? dz)
        var scalars = ["alignment": value.alignment, "entropy": value.entropy]
        if spec.annealsMatchProbability { scalars["match_probability"] = Double(parameters.matchProbability) }
        return StepOutput(loss: value.loss, scalars: scalars)
    }

    /// The momentum target follows the online encoder.
    public func afterUpdate(_ context: StepContext) throws {
        try target?.track(encoder, momentum: Self.momentum(base: configuration.targetMomentum, step: context.step,
                                                           of: context.totalSteps), on: backend)
    }

    /// The clustering objectives' match probability p at `progress` ∈ [0, 1]: 0.8 → 0.99, linearly.
    public static func matchProbability(at progress: Double) -> Float {
        Float(0.8 + 0.19 * min(max(progress, 0), 1))
    }

    /// BYOL's target momentum at `step` of `total`: `1 − (1 − base)·(cos(π·step/total) + 1)/2`, from the base to 1.
    public static func momentum(base: Float, step: Int, of total: Int) -> Float {
        let progress = Double(step) / Double(max(total, 1))
        return Float(1 - (1 - Double(base)) * (cos(Double.pi * progress) + 1) / 2)
    }

    /// One symmetrised stop-gradient step: p = predictor(z) for both views, loss = ½·(L(p₁, t₂) + L(p₂, t₁)) with the
    /// targets t detached by the estimator (the momentum target's, or z itself); writes ∂loss/∂z (through the
    /// predictor, plus any target gradient the objective returns when the targets are z) into `dz`.
    private func predictedStep(_ predictor: Sequential, _ objective: any Objective, z: Tensor) throws -> ObjectiveValue {
        let (b, out) = (configuration.batch, output)
        let halves = { (x: Tensor) throws -> (Tensor, Tensor) in
            let first = try self.backend.makeTensor([b, out]), second = try self.backend.makeTensor([b, out])
            try self.backend.copy(x, offset: 0, to: first, offset: 0, count: b * out)
            try self.backend.copy(x, offset: b * out, to: second, offset: 0, count: b * out)
            return (first, second)
        }
        let (t1, t2) = try halves(try target?.forward(batchViews, training: true) ?? z)
        let (p1, p2) = try halves(try predictor.forward(z, training: true))
        let first = try objective.evaluate(p1, t2, on: backend), second = try objective.evaluate(p2, t1, on: backend)
        let dp = try backend.makeTensor([2 * b, out])
        try backend.copy(first.dz1, offset: 0, to: dp, offset: 0, count: b * out)
        try backend.copy(second.dz1, offset: 0, to: dp, offset: b * out, count: b * out)
        try backend.scale(dp, by: 0.5, into: dp)
        try backend.copy(try predictor.backward(dp), to: dz)
        if target == nil {
            // The targets' own gradients (zero for the stop-gradient estimator): view 2 from the first term, view 1
            // from the second.
            let targetGradients = try backend.makeTensor([2 * b, out])
            try backend.copy(second.dz2, offset: 0, to: targetGradients, offset: 0, count: b * out)
            try backend.copy(first.dz2, offset: 0, to: targetGradients, offset: b * out, count: b * out)
            try backend.axpy(0.5, targetGradients, dz)
        }
        let average = { (x: Double, y: Double) in (x + y) / 2 }
        return ObjectiveValue(loss: average(first.value.loss, second.value.loss),
                              alignment: average(first.value.alignment, second.value.alignment),
                              entropy: average(first.value.entropy, second.value.entropy))
    }

    public func evaluate() throws -> [String: Double] {
        let evaluation = try TwoViewEvaluation(data, held, clustering: spec.head == .softmax) { x in
            var z = try encoder.forward(x, training: false)
            if let head { z = try head.forward(z, training: false) }
            return try backend.download(z)
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

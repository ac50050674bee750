import Foundation
import LDMEngine
import LDMObjectives
import LDMParallel
import LDMReference

/// What every two-view task shares, whatever its views and network: the online network, the head an objective
/// asks for (L2 normalisation for the sphere, a softmax for the clustering objectives), the stop-gradient methods'
/// predictor and momentum target, and one training step on a batch of 2B views (view 1 of every pair, then view 2).
///
/// Both views go through the same network as one batch, the objective gives ∂loss/∂z of each half, and the
/// backward fills the parameters' gradients; the training loop does the rest. In a data-parallel run each rank
/// encodes its share of the pairs, the objective's inputs are gathered from every rank so it sees the whole global
/// batch (every entropy's negatives, covariances and neighbours are the one-process ones), and each rank backpropagates
/// the objective's gradient for its own rows.
public final class TwoViewLearner {
    public let spec: ObjectiveSpec
    /// The online network (for image tasks, backbone + projector).
    public let network: Sequential
    public let head: (any Module)?, predictor: Sequential?, target: Sequential?
    /// The width of z, the objective's input.
    public let output: Int
    /// The stop-gradient methods' base momentum (see ``TwoViewConfiguration/targetMomentum``).
    public let targetMomentum: Float
    /// The ranks the objective's batch is gathered from (one process unless the loop distributes the task).
    public var group = ProcessGroup.single
    private let backend: any Backend

    /// Builds the online network with `makeNetwork("encoder")`, then the predictor (out → 2·out → out) and the
    /// momentum target (`makeNetwork("target")`, drawn after the predictor so runs without one draw the same initial
    /// weights, then copied from the online network) when the objective needs them.
    public init(spec: ObjectiveSpec, output: Int, activation: Activation, batchNorm: Bool, targetMomentum: Float,
                on backend: any Backend, generator: inout SeededGenerator,
                makeNetwork: (String, inout SeededGenerator) throws -> Sequential) throws {
        guard spec.trainsTwoViews else { throw LDMError.invalidArgument("two-view: \(spec.name) does not train on two views") }
        guard spec.head != .softmax || output >= 2 else {
            throw LDMError.invalidArgument("two-view: a clustering head needs at least 2 classes, got \(output)")
        }
        guard targetMomentum.isFinite, (0..<1).contains(targetMomentum) else {
            throw LDMError.invalidArgument("two-view: the target momentum must be in [0, 1), got \(targetMomentum)")
        }
        network = try makeNetwork("encoder", &generator)
        head = spec.head == .softmax ? Softmax(on: backend) : spec.head == .sphere ? L2Normalize(on: backend) : nil
        predictor = spec.needsPredictor
            ? try .mlp(widths: [output, 2 * output, output], activation: activation, batchNorm: batchNorm, name: "predictor",
                       on: backend, generator: &generator) : nil
        target = spec.needsPredictor && targetMomentum > 0 ? try makeNetwork("target", &generator) : nil
        try target?.track(network, momentum: 0, on: backend)
        (self.spec, self.output, self.targetMomentum, self.backend) = (spec, output, targetMomentum, backend)
    }

    /// Makes every BatchNorm of the online network, the predictor and the target normalise by the statistics of all
    /// of ``group``'s rows (`--sync-batch-norm`), so N ranks train exactly as one process on the whole batch.
    public func synchroniseBatchNorm() {
        let networks: [Sequential] = [network] + [predictor, target].compactMap { $0 }
        for norm in networks.flatMap({ $0.modules(of: BatchNorm.self) }) { norm.group = group }
    }

    /// What the optimiser trains: the online network and the predictor (the target follows by momentum).
    public var parameters: [Parameter] { network.parameters + (predictor?.parameters ?? []) }
    public var checkpointTensors: [(String, Tensor)] {
        network.checkpointTensors + (predictor?.checkpointTensors ?? []) + (target?.checkpointTensors ?? [])
    }

    /// z = head(network(x)) in evaluation mode (host values).
    public func represent(_ x: Tensor) throws -> Tensor {
        let z = try network.forward(x, training: false)
        return try head?.forward(z, training: false) ?? z
    }

    /// One step on `views` (2B rows: view 1 of every pair, then view 2): forward, the objective, backward into the
    /// parameters' gradients. `batch` is B, this rank's share of the global batch of `group.size`·B pairs.
    public func step(_ views: Tensor, batch b: Int, _ context: StepContext) throws -> StepOutput {
        var z = try network.forward(views, training: true)
        if let head { z = try head.forward(z, training: true) }
        var parameters = ObjectiveParameters()
        parameters.matchProbability = Self.matchProbability(at: context.progress)
        if group.isDistributed { parameters.group = group }   // every rank holds the gathered batch: split the pairs
        let objective = try spec.make(parameters)
        let dz: Tensor, value: ObjectiveValue
        if let predictor {
            (dz, value) = try predictedStep(predictor, objective, z: z, views: views, batch: b)
        } else {
            let global = group.size * b
            let (z1, z2) = try halves(try group.allGatherRows(z, blocks: 2, on: backend), global)
            let result = try objective.evaluate(z1, z2, on: backend)
            dz = try group.ownRows(try joined(result.dz1, result.dz2, global), blocks: 2, on: backend)
            value = result.value
        }
        _ = try network.backward(try head?.backward(dz) ?? dz)
        var scalars = ["alignment": value.alignment, "entropy": value.entropy]
        if spec.annealsMatchProbability { scalars["match_probability"] = Double(parameters.matchProbability) }
        return StepOutput(loss: value.loss, scalars: scalars)
    }

    /// The momentum target follows the online network.
    public func afterUpdate(_ context: StepContext) throws {
        try target?.track(network, momentum: Self.momentum(base: targetMomentum, step: context.step, of: context.totalSteps),
                          on: backend)
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

    /// [first; second], two [B, out] tensors as one [2B, out].
    private func joined(_ first: Tensor, _ second: Tensor, _ b: Int) throws -> Tensor {
        let both = try backend.makeTensor([2 * b, output])
        try backend.copy(first, offset: 0, to: both, offset: 0, count: b * output)
        try backend.copy(second, offset: 0, to: both, offset: b * output, count: b * output)
        return both
    }

    /// The first and second B rows of a [2B, out] tensor, as two new tensors.
    private func halves(_ x: Tensor, _ b: Int) throws -> (Tensor, Tensor) {
        let first = try backend.makeTensor([b, output]), second = try backend.makeTensor([b, output])
        try backend.copy(x, offset: 0, to: first, offset: 0, count: b * output)
        try backend.copy(x, offset: b * output, to: second, offset: 0, count: b * output)
        return (first, second)
    }

    /// One symmetrised stop-gradient step: p = predictor(z) for both views, loss = ½·(L(p₁, t₂) + L(p₂, t₁)) with the
    /// targets t detached by the estimator (the momentum target's, or z itself); returns ∂loss/∂z of this rank's
    /// rows (through the predictor, plus any target gradient the objective returns when the targets are z).
    private func predictedStep(_ predictor: Sequential, _ objective: any Objective, z: Tensor, views: Tensor,
                               batch b: Int) throws -> (Tensor, ObjectiveValue) {
        let global = group.size * b
        let (t1, t2) = try halves(try group.allGatherRows(try target?.forward(views, training: true) ?? z, blocks: 2, on: backend), global)
        let (p1, p2) = try halves(try group.allGatherRows(try predictor.forward(z, training: true), blocks: 2, on: backend), global)
        let first = try objective.evaluate(p1, t2, on: backend), second = try objective.evaluate(p2, t1, on: backend)
        let dp = try group.ownRows(try joined(first.dz1, second.dz1, global), blocks: 2, on: backend)
        try backend.scale(dp, by: 0.5, into: dp)
        let dz = try backend.makeTensor([2 * b, output])
        try backend.copy(try predictor.backward(dp), to: dz)
        if target == nil {
            // The targets' own gradients (zero for the stop-gradient estimator): view 2 from the first term, view 1
            // from the second.
            let targetGradients = try group.ownRows(try joined(second.dz2, first.dz2, global), blocks: 2, on: backend)
            try backend.axpy(0.5, targetGradients, dz)
        }
        let average = { (x: Double, y: Double) in (x + y) / 2 }
        return (dz, ObjectiveValue(loss: average(first.value.loss, second.value.loss),
                              alignment: average(first.value.alignment, second.value.alignment),
                              entropy: average(first.value.entropy, second.value.entropy)))
    }
}

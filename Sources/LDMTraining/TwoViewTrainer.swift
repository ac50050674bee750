import Foundation
import LDMEngine
import LDMObjectives
import LDMReference

/// A two-view training objective: a named preset with the defaults of `ldm objective --preset`, or any grid point
/// `LATENT+ENTROPY[+mi]` of SPEC §2–§3 with a symmetric latent model (`sphere` or `plane`, κ_p = 5) and an entropy
/// estimator (`kde` κ_k = 5, `logdet`, `knn` k = 3, `taylor`, `vicreg`, `none`), LDM variant unless `+mi`.
/// `byol` (negative cosine) and `jepa` (Gaussian, Σ = I) use the stop-gradient estimator with a predictor head on
/// the online branch and a momentum target encoder (``TwoViewConfiguration/targetMomentum``; 0 makes the online
/// encoder its own detached target, SimSiam-style), symmetrised over the two views.
/// `clustering` (LDM, the "exact" plug-in entropy of the batch joint) and `clustering-mi` (the marginals' plug-in
/// entropies, m = 2) put a softmax over K classes on the encoder and use the categorical model, its match
/// probability p annealed linearly from 0.8 to 0.99 over training (SPEC §4).
public struct TwoViewObjective: RawRepresentable, Sendable, Hashable {
    public let rawValue: String

    /// The preset names.
    public static let presets = ["simclr", "ldm-contrastive", "mi-contrastive", "ldm-logdet", "ldm-knn", "vicreg", "barlow",
                                 "byol", "jepa", "clustering", "clustering-mi"]
    static let latents = ["sphere", "plane"]
    static let entropies = ["kde", "logdet", "knn", "taylor", "vicreg", "none"]

    public static let simclr = TwoViewObjective(checked: "simclr")
    public static let ldmContrastive = TwoViewObjective(checked: "ldm-contrastive")
    public static let miContrastive = TwoViewObjective(checked: "mi-contrastive")
    public static let ldmLogdet = TwoViewObjective(checked: "ldm-logdet")
    public static let ldmKnn = TwoViewObjective(checked: "ldm-knn")
    public static let vicreg = TwoViewObjective(checked: "vicreg")
    public static let barlow = TwoViewObjective(checked: "barlow")
    public static let byol = TwoViewObjective(checked: "byol")
    public static let jepa = TwoViewObjective(checked: "jepa")
    public static let clustering = TwoViewObjective(checked: "clustering")
    public static let clusteringMI = TwoViewObjective(checked: "clustering-mi")

    /// A preset name or a grid point such as `plane+knn` or `sphere+kde+mi`; nil for anything else.
    public init?(rawValue: String) {
        guard Self.presets.contains(rawValue) || Self.gridPoint(rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    private init(checked name: String) { rawValue = name }

    /// What `--objective` accepts, for help and errors.
    public static var accepted: String { presets.joined(separator: ", ") + ", or LATENT+ENTROPY[+mi] with LATENT in "
        + latents.joined(separator: "|") + " and ENTROPY in " + entropies.joined(separator: "|") }

    static func gridPoint(_ name: String) -> (latent: String, entropy: String, mi: Bool)? {
        let parts = name.split(separator: "+").map(String.init)
        guard (2...3).contains(parts.count), latents.contains(parts[0]), entropies.contains(parts[1]),
              parts.count == 2 || parts[2] == "mi" else { return nil }
        return (parts[0], parts[1], parts.count == 3)
    }

    /// The objective at `progress` ∈ [0, 1] of training (only the clustering objectives' match probability moves).
    public func make(progress: Double = 0) -> any Objective {
        switch rawValue {
        case "clustering", "clustering-mi":
            return LDMObjective(latent: .categorical(matchProbability: Self.matchProbability(at: progress)), entropy: .plugIn,
                                variant: rawValue == "clustering" ? .ldm : .mi())
        case "simclr": return NTXent(temperature: 0.5)
        case "ldm-contrastive": return LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .ldm)
        case "mi-contrastive": return LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .mi())
        case "ldm-logdet": return LDMObjective(latent: .plane(precision: 5), entropy: .logdet(), variant: .ldm)
        case "ldm-knn": return LDMObjective(latent: .plane(precision: 5), entropy: .knn(k: 3, scale: .one), variant: .ldm)
        case "vicreg": return VICReg()
        // z1 = the predictor's output, z2 = the target, detached by the estimator (dz2 = 0).
        case "byol": return LDMObjective(latent: .sphere(precision: 1), entropy: .stopGradient, variant: .ldm)
        case "jepa": return LDMObjective(latent: .gaussian(variance: 1), entropy: .stopGradient, variant: .ldm)
        case "barlow": return BarlowTwins(lambda: 5e-3)
        default:
            let point = Self.gridPoint(rawValue)!   // init guarantees a preset or a grid point
            let entropy: EntropyTerm = switch point.entropy {
            case "kde": .kde(precision: 5)
            case "logdet": .logdet()
            case "knn": .knn(k: 3, scale: .one)
            case "taylor": .taylor()
            case "vicreg": .vicreg()
            default: EntropyTerm.none
            }
            return LDMObjective(latent: point.latent == "sphere" ? .sphere(precision: 5) : .plane(precision: 5),
                                entropy: entropy, variant: point.mi ? .mi() : .ldm)
        }
    }

    /// The clustering objectives' match probability p at `progress` ∈ [0, 1]: 0.8 → 0.99, linearly.
    public static func matchProbability(at progress: Double) -> Float {
        Float(0.8 + 0.19 * min(max(progress, 0), 1))
    }

    /// Whether the representation is a softmax over classes (the clustering objectives).
    public var isClustering: Bool { rawValue == "clustering" || rawValue == "clustering-mi" }

    /// Whether the objective needs a predictor head (the stop-gradient methods).
    public var needsPredictor: Bool { ["byol", "jepa"].contains(rawValue) }

    /// Whether the objective's latent model lives on the sphere, so the representation is L2-normalised.
    public var onSphere: Bool {
        ["simclr", "ldm-contrastive", "mi-contrastive"].contains(rawValue) || Self.gridPoint(rawValue)?.latent == "sphere"
    }
}

/// Two views the user supplies (rows paired), with optional true latents for the probe and optional class labels
/// for the clustering accuracy.
public struct TwoViewArrays: Sendable {
    public var view1: [Float], view2: [Float]
    public var latents: [Float]?
    public var labels: [Int]?
    public var count: Int, dimension: Int, latentDimension: Int

    public init(view1: [Float], view2: [Float], latents: [Float]?, labels: [Int]? = nil, count: Int, dimension: Int,
                latentDimension: Int) {
        (self.view1, self.view2, self.latents, self.labels) = (view1, view2, latents, labels)
        (self.count, self.dimension, self.latentDimension) = (count, dimension, latentDimension)
    }
}

/// The two-view experiment's settings.
public struct TwoViewConfiguration: Sendable {
    /// The synthetic data (ignored when `arrays` is set).
    public var data = TwoViewData()
    /// The user's own views (from .npy files); the last `testCount` rows are held out.
    public var arrays: TwoViewArrays?
    public var seed: UInt64 = 0
    public var epochs = 50
    public var trainCount = 10_240
    public var testCount = 2_048
    /// Training rows whose representations fit the ridge probe (it is scored on the test rows).
    public var probeCount = 4_096
    public var batch = 256
    public var hiddenWidths = [128, 128]
    /// The representation's dimension (default: the latent's; for the clustering objectives, `data.classes`).
    public var outputDimension: Int?
    public var activation = Activation.relu
    /// BatchNorm after every hidden Linear (before the activation), as projector heads use.
    public var batchNorm = false
    /// byol and jepa: the base momentum m of a target encoder that follows the online one by
    /// `θ_t ← m_k·θ_t + (1 − m_k)·θ` after every step, m_k rising from m to 1 on a cosine (BYOL's schedule);
    /// 0 uses the online encoder itself as the (detached) target, SimSiam-style. Default 0.99 (measured: jepa
    /// with BatchNorm 0.587 against 0.225 without a target, byol 0.574 against 0.549).
    public var targetMomentum: Float = 0.99
    public var objective = TwoViewObjective.ldmContrastive
    public var optimizer = OptimizerKind.adam
    /// Adam at 0.01 after one epoch (40 steps) of warm-up, then cosine decay to 0.
    public var schedule: LearningRateSchedule
    public var weightDecay: Float = 1e-6
    public var clipNorm: Float?
    public var logEvery = 20

    public init() {
        schedule = .warmupCosine(base: 0.01, warmup: 40, floor: 0)
    }

    var rows: Int { arrays.map { $0.count - testCount } ?? trainCount }
    public var stepsPerEpoch: Int { rows / batch }
}

/// Trains an encoder f on pairs of views with a two-view objective: both views go through the same MLP (as one
/// batch of 2B rows), the objective gives ∂loss/∂z of each view, and the optimiser steps on the device.
/// Evaluation: the held-out R² of a ridge probe from f(view 1) to the true latents, the MCC of f(view 1) against
/// them (high only when the latents come out axis-aligned), and the top-1 retrieval accuracy of view 2 from
/// view 1 among the test rows.
public final class TwoViewTrainer: TrainingRun {
    public let configuration: TwoViewConfiguration
    public let backend: any Backend
    public let directory: String
    public var progress: (TrainingProgress) -> Void = { _ in }
    public var shouldStop: () -> Bool = { false }

    public init(_ configuration: TwoViewConfiguration, on backend: any Backend, directory: String) throws {
        let c = configuration
        guard c.epochs >= 1, c.batch >= 2, c.testCount >= 2, c.probeCount >= 2, c.logEvery >= 1 else {
            throw LDMError.invalidArgument("two-view: need epochs ≥ 1, batch ≥ 2 and at least two test and probe rows")
        }
        guard c.rows >= c.batch else {
            throw LDMError.invalidArgument("two-view: \(c.rows) training rows are fewer than one batch of \(c.batch) (after holding out \(c.testCount) test rows)")
        }
        self.configuration = configuration
        self.backend = backend
        self.directory = directory
    }

    var checkpointPath: String { (directory as NSString).appendingPathComponent("checkpoint.safetensors") }
    var identity: [String: String] {
        var identity = ["experiment": "two-view", "seed": String(configuration.seed), "optimizer": configuration.optimizer.rawValue,
                        "objective": configuration.objective.rawValue]
        if configuration.objective.needsPredictor { identity["target_momentum"] = String(configuration.targetMomentum) }
        return identity
    }

    /// Training and test rows: views and latents, host-side.
    struct Split {
        var train1: [Float], train2: [Float], trainLatents: [Float]?
        var test1: [Float], test2: [Float], testLatents: [Float]?
        /// Synthetic data only: the oracle representations of view 1 (``TwoViewData/Sample/oracle1``).
        var trainOracle: [Float]? = nil, testOracle: [Float]? = nil
        /// The test rows' classes, when known (the clusters latent, or labels with the user's arrays).
        var testLabels: [Int]? = nil
        var dimension: Int, latentDimension: Int, trainCount: Int, testCount: Int
    }

    func split() -> Split {
        let c = configuration
        if let a = c.arrays {
            let n = a.count - c.testCount, d = a.dimension, k = a.latentDimension
            return Split(train1: Array(a.view1[0..<(n * d)]), train2: Array(a.view2[0..<(n * d)]),
                         trainLatents: a.latents.map { Array($0[0..<(n * k)]) },
                         test1: Array(a.view1[(n * d)...]), test2: Array(a.view2[(n * d)...]),
                         testLatents: a.latents.map { Array($0[(n * k)...]) }, testLabels: a.labels.map { Array($0[n...]) },
                         dimension: d, latentDimension: k, trainCount: n, testCount: c.testCount)
        }
        let train = c.data.generate(count: c.trainCount, seed: c.seed &* 2 &+ 1)
        let test = c.data.generate(count: c.testCount, seed: c.seed &* 2 &+ 2)
        return Split(train1: train.view1, train2: train.view2, trainLatents: train.latents, test1: test.view1,
                     test2: test.view2, testLatents: test.latents, trainOracle: train.oracle1, testOracle: test.oracle1,
                     testLabels: test.labels, dimension: c.data.dimension, latentDimension: c.data.dimension, trainCount: c.trainCount,
                     testCount: c.testCount)
    }

    public func run(resume: Bool = false) throws -> TrainingSummary {
        let c = configuration
        try createOutputDirectory(directory)
        let data = split()
        let held = try evaluationRows(data)
        let d = data.dimension, b = c.batch
        let out = c.outputDimension ?? (c.objective.isClustering ? c.data.classes : data.latentDimension)
        guard !c.objective.isClustering || out >= 2 else {
            throw LDMError.invalidArgument("two-view: a clustering head needs at least 2 classes, got \(out)")
        }
        var generator = SeededGenerator(seed: c.seed)
        let encoder = try MLP(widths: [d] + c.hiddenWidths + [out], activation: c.activation, batchNorm: c.batchNorm,
                              on: backend, generator: &generator)
        let head: (any RowHead)? = c.objective.isClustering ? Softmax(on: backend)
            : c.objective.onSphere ? L2Normalize(on: backend) : nil
        // The stop-gradient methods' predictor head: out → 2·out → out (ReLU), trained with the encoder.
        let predictor = c.objective.needsPredictor
            ? try MLP(widths: [out, 2 * out, out], activation: c.activation, batchNorm: c.batchNorm, name: "predictor", on: backend,
                      generator: &generator)
            : nil
        // BYOL's momentum target (after the predictor, so runs without one draw the same initial weights).
        let target = c.objective.needsPredictor && c.targetMomentum > 0
            ? try MLP(widths: [d] + c.hiddenWidths + [out], activation: c.activation, batchNorm: c.batchNorm, name: "target",
                      on: backend, generator: &generator)
            : nil
        try target?.track(encoder, momentum: 0)
        var objective = c.objective.make()
        let optimizer = try c.optimizer.make(encoder.parameters + (predictor?.parameters ?? []), weightDecay: c.weightDecay,
                                             on: backend)
        optimizer.clipNorm = c.clipNorm
        var metricsLog = MetricsLog(path: (directory as NSString).appendingPathComponent("metrics.jsonl"))
        var startEpoch = 0, elapsed = 0.0
        if resume {
            (startEpoch, elapsed) = try Checkpoint.restore(encoder.checkpointTensors + (predictor?.checkpointTensors ?? [])
                                                           + (target?.checkpointTensors ?? []), optimizer, identity: identity,
                                                           on: backend, from: checkpointPath)
            try metricsLog.truncate(afterStep: optimizer.steps)
        } else {
            try metricsLog.reset()
        }
        let n = data.trainCount, totalSteps = c.epochs * c.stepsPerEpoch
        let epochViews = try backend.makeTensor([2, n, d])
        let batchViews = try backend.makeTensor([2 * b, d])
        let z1 = try backend.makeTensor([b, out]), z2 = try backend.makeTensor([b, out])
        let dz = try backend.makeTensor([2 * b, out])
        let clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        let started = clock() - elapsed
        var lastLoss = Double.nan, lastR2: Double?
        for epoch in startEpoch..<c.epochs {
            // The epoch's order depends only on (seed, epoch), so a resumed run sees the same batches; the
            // permuted views go to the device once per epoch and every batch is a contiguous slice.
            var shuffle = SeededGenerator(seed: c.seed &* 1_000_003 &+ UInt64(epoch))
            let order = Array(0..<n).shuffled(using: &shuffle)
            var permuted = [Float](repeating: 0, count: 2 * n * d)
            for (slot, row) in order.enumerated() {
                for j in 0..<d {
                    permuted[slot * d + j] = data.train1[row * d + j]
                    permuted[(n + slot) * d + j] = data.train2[row * d + j]
                }
            }
            try backend.write(permuted, to: epochViews)
            let epochStart = clock()
            var epochLoss = 0.0
            for batchIndex in 0..<c.stepsPerEpoch {
                try backend.copy(epochViews, offset: batchIndex * b * d, to: batchViews, offset: 0, count: b * d)
                try backend.copy(epochViews, offset: (n + batchIndex * b) * d, to: batchViews, offset: b * d, count: b * d)
                var z = try encoder.forward(batchViews, training: true)
                if let head { z = try head.forward(z) }
                let progressed = Double(optimizer.steps) / Double(max(totalSteps - 1, 1))
                if c.objective.isClustering { objective = c.objective.make(progress: progressed) }
                try backend.copy(z, offset: 0, to: z1, offset: 0, count: b * out)
                try backend.copy(z, offset: b * out, to: z2, offset: 0, count: b * out)
                let value: ObjectiveValue
                if let predictor {
                    var targets = (z1, z2)
                    if let target {
                        let t = try target.forward(batchViews, training: true)
                        targets = (try backend.makeTensor([b, out]), try backend.makeTensor([b, out]))
                        try backend.copy(t, offset: 0, to: targets.0, offset: 0, count: b * out)
                        try backend.copy(t, offset: b * out, to: targets.1, offset: 0, count: b * out)
                    }
                    value = try predictedStep(predictor, objective, z: z, targets: targets, ownTargets: target == nil, dz: dz,
                                              rows: b, out: out)
                } else {
                    let result = try objective.evaluate(z1, z2, on: backend)
                    try backend.copy(result.dz1, offset: 0, to: dz, offset: 0, count: b * out)
                    try backend.copy(result.dz2, offset: 0, to: dz, offset: b * out, count: b * out)
                    value = result.value
                }
                let step = optimizer.steps, loss = value.loss
                guard loss.isFinite else {
                    throw LDMError.invalidArgument("training diverged: the loss is \(loss) at step \(step) (epoch \(epoch + 1))")
                }
                _ = try encoder.backward(try head?.backward(dz) ?? dz)
                let rate = c.schedule.rate(at: step, of: totalSteps)
                try optimizer.step(rate: rate)
                try target?.track(encoder, momentum: Self.momentum(base: c.targetMomentum, step: step, of: totalSteps))
                epochLoss += loss
                lastLoss = loss
                if (step + 1) % c.logEvery == 0 {
                    var entry: [String: Any] = ["epoch": epoch + 1, "step": step + 1, "loss": loss, "lr": Double(rate),
                                                "alignment": value.alignment, "entropy": value.entropy,
                                                "seconds": clock() - started]
                    if c.objective.isClustering { entry["match_probability"] = Double(TwoViewObjective.matchProbability(at: progressed)) }
                    try metricsLog.append(entry)
                    if batchIndex + 1 < c.stepsPerEpoch {
                        progress(TrainingProgress(epoch: epoch + 1, epochs: c.epochs, step: batchIndex + 1,
                                                  stepsPerEpoch: c.stepsPerEpoch, loss: loss, r2: lastR2,
                                                  stepsPerSecond: Double(batchIndex + 1) / (clock() - epochStart)))
                    }
                }
                if shouldStop() { throw TrainingInterrupted(completedEpochs: epoch) }
            }
            let evaluation = try evaluate(encoder, head, data, held)
            lastR2 = evaluation.r2.map { $0.reduce(0, +) / Double($0.count) }
            var entry: [String: Any] = ["epoch": epoch + 1, "step": optimizer.steps, "epoch_loss": epochLoss / Double(c.stepsPerEpoch),
                                        "retrieval_top1": evaluation.retrieval, "seconds": clock() - started]
            if let lastR2 { entry["r2"] = lastR2 }
            if let accuracy = evaluation.clusteringAccuracy { entry["clustering_accuracy"] = accuracy }
            try metricsLog.append(entry)
            try Checkpoint.save(encoder.checkpointTensors + (predictor?.checkpointTensors ?? []) + (target?.checkpointTensors ?? []),
                                optimizer, identity: identity, epochs: epoch + 1,
                                seconds: clock() - started, on: backend, to: checkpointPath)
            progress(TrainingProgress(epoch: epoch + 1, epochs: c.epochs, step: c.stepsPerEpoch, stepsPerEpoch: c.stepsPerEpoch,
                                      loss: epochLoss / Double(c.stepsPerEpoch),
                                      r2: evaluation.clusteringAccuracy ?? lastR2 ?? evaluation.retrieval,
                                      stepsPerSecond: Double(c.stepsPerEpoch) / (clock() - epochStart)))
        }
        let evaluation = try evaluate(encoder, head, data, held)
        var summary = TrainingSummary(experiment: "two-view", r2: evaluation.r2.map { $0.reduce(0, +) / Double($0.count) },
                                      r2PerDimension: evaluation.r2 ?? [], epochs: c.epochs, seconds: clock() - started,
                                      backend: backend.info.kind.rawValue, seed: c.seed, finalLoss: lastLoss,
                                      optimizer: c.optimizer.rawValue)
        summary.objective = c.objective.rawValue
        summary.mcc = evaluation.mcc
        summary.retrievalTop1 = evaluation.retrieval
        summary.clusteringAccuracy = evaluation.clusteringAccuracy
        if let trainOracle = data.trainOracle, let testOracle = data.testOracle, let trainLatents = data.trainLatents,
           let testLatents = data.testLatents {
            // The same probe on g⁻¹(x₁) = s + ε₁: the ceiling any encoder's R² can reach on this data.
            let rows = min(c.probeCount, data.trainCount), k = data.latentDimension
            let weights = try Metrics.fitRidge(features: Array(trainOracle[0..<(rows * k)]), targets: Array(trainLatents[0..<(rows * k)]), rows: rows)
            let oracle = Metrics.rSquared(weights: weights, features: testOracle, targets: testLatents, rows: data.testCount)
            summary.oracleR2 = oracle.reduce(0, +) / Double(oracle.count)
        }
        try summary.write(to: directory)
        // The test rows' representations, for `ldm metrics cka` between runs (or any other analysis).
        try NumPyFile.write(evaluation.representation, shape: [data.testCount, evaluation.representation.count / data.testCount],
                            to: (directory as NSString).appendingPathComponent("test_representations.npy"))
        try writeReport(summary, evaluation, data)
        return summary
    }

    /// BYOL's target momentum at `step` of `total`: `1 − (1 − base)·(cos(π·step/total) + 1)/2`, from the base to 1.
    public static func momentum(base: Float, step: Int, of total: Int) -> Float {
        let progress = Double(step) / Double(max(total, 1))
        return Float(1 - (1 - Double(base)) * (cos(Double.pi * progress) + 1) / 2)
    }

    /// One symmetrised stop-gradient step: p = predictor(z) for both views, loss = ½·(L(p₁, t₂) + L(p₂, t₁)) with
    /// the targets t detached by the estimator; writes ∂loss/∂z (through the predictor, plus any target gradient the
    /// objective returns when the targets are the online encoder's own z, `ownTargets`) into `dz` [2B, out] and
    /// returns the averaged values.
    func predictedStep(_ predictor: MLP, _ objective: any Objective, z: Tensor, targets: (Tensor, Tensor), ownTargets: Bool,
                       dz: Tensor, rows b: Int, out: Int) throws -> ObjectiveValue {
        let (z1, z2) = targets
        let p = try predictor.forward(z, training: true)
        let p1 = try backend.makeTensor([b, out]), p2 = try backend.makeTensor([b, out])
        try backend.copy(p, offset: 0, to: p1, offset: 0, count: b * out)
        try backend.copy(p, offset: b * out, to: p2, offset: 0, count: b * out)
        let first = try objective.evaluate(p1, z2, on: backend), second = try objective.evaluate(p2, z1, on: backend)
        let dp = try backend.makeTensor([2 * b, out])
        try backend.copy(first.dz1, offset: 0, to: dp, offset: 0, count: b * out)
        try backend.copy(second.dz1, offset: 0, to: dp, offset: b * out, count: b * out)
        try backend.scale(dp, by: 0.5, into: dp)
        let throughPredictor = try predictor.backward(dp)
        try backend.copy(throughPredictor, to: dz)
        if ownTargets {
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

    struct Evaluation {
        var r2: [Double]? = nil
        var mcc: Double? = nil
        var retrieval: Double
        var decoded: [Float]? = nil
        var clusteringAccuracy: Double? = nil
        /// f(view 1) of the test rows [testCount, out].
        var representation: [Float] = []
    }

    /// The rows every evaluation encodes, uploaded once per run: both test views and the probe's training rows.
    struct EvaluationRows {
        var test1: Tensor, test2: Tensor
        /// The first `probeRows` training rows of view 1 (only with true latents).
        var probe: Tensor?
        var probeRows: Int
    }

    func evaluationRows(_ data: Split) throws -> EvaluationRows {
        let d = data.dimension, probeRows = min(configuration.probeCount, data.trainCount)
        return EvaluationRows(test1: try backend.upload(data.test1, shape: [data.testCount, d]),
                              test2: try backend.upload(data.test2, shape: [data.testCount, d]),
                              probe: data.trainLatents == nil ? nil
                                  : try backend.upload(Array(data.train1[0..<(probeRows * d)]), shape: [probeRows, d]),
                              probeRows: probeRows)
    }

    /// f(x) of rows x [N, d] in evaluation mode (BatchNorm on its running statistics), through the head (normalised
    /// on the sphere, or class probabilities).
    func represent(_ encoder: MLP, _ head: (any RowHead)?, _ x: Tensor) throws -> [Float] {
        var z = try encoder.forward(x, training: false)
        if let head { z = try head.forward(z) }
        return try backend.download(z)
    }

    func evaluate(_ encoder: MLP, _ head: (any RowHead)?, _ data: Split, _ rows: EvaluationRows) throws -> Evaluation {
        let test1 = try represent(encoder, head, rows.test1)
        let test2 = try represent(encoder, head, rows.test2)
        let out = test1.count / data.testCount
        var evaluation = Evaluation(retrieval: Metrics.retrievalAccuracy(test1, test2, rows: data.testCount), representation: test1)
        if configuration.objective.isClustering, let labels = data.testLabels {
            // Each test row's cluster is its most probable class.
            let clusters = (0..<data.testCount).map { i in
                (0..<out).max { test1[i * out + $0] < test1[i * out + $1] } ?? 0
            }
            evaluation.clusteringAccuracy = try Metrics.clusteringAccuracy(clusters: clusters, labels: labels)
        }
        if let trainLatents = data.trainLatents, let testLatents = data.testLatents, let probeRows = rows.probe {
            let k = data.latentDimension
            let probe = try represent(encoder, head, probeRows)
            let weights = try Metrics.fitRidge(features: probe, targets: Array(trainLatents[0..<(rows.probeRows * k)]), rows: rows.probeRows)
            evaluation.r2 = Metrics.rSquared(weights: weights, features: test1, targets: testLatents, rows: data.testCount)
            evaluation.decoded = Metrics.predict(weights: weights, features: test1, rows: data.testCount, outputs: k)
            if out >= k && !configuration.objective.isClustering {
                evaluation.mcc = try Metrics.meanCorrelationCoefficient(estimate: test1, truth: testLatents, rows: data.testCount).value
            }
        }
        return evaluation
    }

    func writeReport(_ summary: TrainingSummary, _ evaluation: Evaluation, _ data: Split) throws {
        let metrics = try MetricsLog(path: (directory as NSString).appendingPathComponent("metrics.jsonl")).entries()
        var plots = [Report.plot(title: "training loss by step", [("loss", Report.series(metrics, x: "step", y: "loss"))], lines: true),
                     Report.plot(title: "held-out probe R² (black) and retrieval top-1 (red) by epoch",
                                 [("R²", Report.series(metrics, x: "epoch", y: "r2")),
                                  ("top-1", Report.series(metrics, x: "epoch", y: "retrieval_top1"))], lines: true)]
        if let decoded = evaluation.decoded, let truth = data.testLatents {
            let k = data.latentDimension, shown = min(200, data.testCount)
            let pairs = (0..<shown).map { (Double(truth[$0 * k]), Double(decoded[$0 * k])) }.sorted { $0.0 < $1.0 }
            plots.append(Report.plot(title: "latent 0 of \(shown) test rows: true (black) and decoded (red) against the true value",
                                     [("true", pairs.map { ($0.0, $0.0) }), ("decoded", pairs)], lines: true))
        }
        let facts = String(format: "Retrieval top-1 (view 2 from view 1 among %d test rows) %.4f%@%@%@.", data.testCount,
                           evaluation.retrieval,
                           evaluation.clusteringAccuracy.map { String(format: "; clustering accuracy %.4f", $0) } ?? "",
                           evaluation.mcc.map { String(format: "; MCC %.4f", $0) } ?? "",
                           summary.oracleR2.map { String(format: "; the oracle g⁻¹(x₁) = s + ε₁ reaches R² %.4f", $0) } ?? "")
        try Report.page(summary: summary, facts: facts, plots: plots, to: (directory as NSString).appendingPathComponent("report.html"))
    }
}

import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives
import LDMTraining

/// Turning `ldm train`'s options into a configured run of the chosen experiment.
extension TrainCommand {
    /// The experiment's schedule with --learning-rate, --schedule, --warmup-steps and --learning-rate-scale applied.
    func schedule(from standard: LearningRateSchedule) -> LearningRateSchedule {
        let base = learningRate ?? standard.baseRate
        var chosen = standard.scaled(by: base / standard.baseRate)
        if let schedule { chosen = .named(schedule, base: base, warmup: warmupSteps ?? 0) }
        return chosen.scaled(by: learningRateScale)
    }

    /// The configured run of the chosen experiment.
    func makeRun(on engine: any Backend, directory: String) throws -> any TrainingRun {
        if experiment == .twoView {
            var configuration = TwoViewConfiguration()
            configuration.seed = seed
            if let objective { configuration.objective = TwoViewObjective(rawValue: objective) ?? .ldmContrastive }
            if let latent { configuration.data.latent = latent } else if configuration.objective.isClustering { configuration.data.latent = .clusters }
            if let trainRows { configuration.trainCount = trainRows }
            if let testRows { configuration.testCount = testRows }
            if let batchSize { configuration.batch = batchSize }
            configuration.batchNorm = batchNorm
            if let targetMomentum { configuration.targetMomentum = targetMomentum }
            if let view1, let view2 { configuration.arrays = try loadViews(view1, view2, latents, labels) }
            if let classes {
                configuration.data.classes = classes
            } else if let labels = configuration.arrays?.labels {
                configuration.data.classes = max(2, (labels.max() ?? 0) + 1)
            }
            if let epochs { configuration.epochs = epochs }
            if let optimizer { configuration.optimizer = optimizer }
            if let weightDecay { configuration.weightDecay = weightDecay }
            configuration.clipNorm = clipNorm
            // The warm-up is one epoch of the configured data.
            configuration.schedule = schedule(from: .warmupCosine(base: configuration.schedule.baseRate,
                                                                  warmup: configuration.stepsPerEpoch, floor: 0))
            return try TwoViewTrainer(configuration, on: engine, directory: directory)
        }
        if experiment == .ouICA {
            var configuration = ICAConfiguration()
            configuration.seed = seed
            if let epochs { configuration.epochs = epochs }
            if let optimizer {
                configuration.optimizer = optimizer
                if optimizer != .sgd { configuration.momentum = 0.9 }
            }
            if let weightDecay { configuration.weightDecay = weightDecay }
            configuration.clipNorm = clipNorm
            configuration.schedule = schedule(from: configuration.schedule)
            return try ICATrainer(configuration, on: engine, directory: directory)
        }
        // CPC keeps the videos and the kNN form's (unscaled) rates and replaces the filter.
        let cpc = objective == "cpc"
        var configuration = TrainingConfiguration(experiment: Experiment(rawValue: experiment.rawValue) ?? .square,
                                                  objective: cpc ? .knn : objective.flatMap(KalmanLDMVariant.init(rawValue:)))
        configuration.seed = seed
        if let jumpRate { configuration.motion.jumpRate = jumpRate }
        configuration.clipNorm = clipNorm
        if let weightDecay { configuration.weightDecay = weightDecay }
        if let epochs { configuration.epochs = epochs }
        if let trainSequences { configuration.trainSequences = trainSequences }
        if let filterRateMultiplier { configuration.filterRateMultiplier = filterRateMultiplier }
        if let optimizer { configuration.optimizer = optimizer }
        configuration.schedule = schedule(from: configuration.schedule)
        guard cpc else { return try Trainer(configuration, on: engine, directory: directory) }
        var cpcConfiguration = CPCConfiguration(configuration)
        if let contextSteps { cpcConfiguration.contextSteps = contextSteps }
        if let horizons { cpcConfiguration.horizons = horizons }
        if let temperature { cpcConfiguration.temperature = temperature }
        return try CPCTrainer(cpcConfiguration, on: engine, directory: directory)
    }

    /// The user's paired views (and latents, and labels) from .npy files, checked for shape and finiteness.
    func loadViews(_ path1: String, _ path2: String, _ latentsPath: String?, _ labelsPath: String?) throws -> TwoViewArrays {
        func matrix(_ path: String) throws -> (rows: Int, columns: Int, values: [Float]) {
            let (shape, values) = try NumPyFile.read(path)
            guard shape.rank == 2, shape.dims[0] >= 1, shape.dims[1] >= 1 else {
                throw LDMError.invalidFile(path: path, problem: "expected an N × d matrix, found shape \(shape)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LDMError.invalidFile(path: path, problem: "entry \(bad) (row \(bad / shape.dims[1])) is \(values[bad]), not finite")
            }
            return (shape.dims[0], shape.dims[1], values)
        }
        let a = try matrix(path1), b = try matrix(path2)
        guard a.rows == b.rows, a.columns == b.columns else {
            throw LDMError.shapeMismatch(operation: "ldm train --experiment two-view",
                                         detail: "--view1 is \(a.rows) × \(a.columns) and --view2 \(b.rows) × \(b.columns); they must match")
        }
        var k = 0, truth: [Float]?
        if let latentsPath {
            let s = try matrix(latentsPath)
            guard s.rows == a.rows else {
                throw LDMError.shapeMismatch(operation: "ldm train --experiment two-view",
                                             detail: "--latents has \(s.rows) rows, the views \(a.rows)")
            }
            (k, truth) = (s.columns, s.values)
        }
        var classes: [Int]?
        if let labelsPath {
            classes = try readWholeNumbers(labelsPath, what: "the labels")
            guard classes?.count == a.rows else {
                throw LDMError.invalidFile(path: labelsPath, problem: "expected \(a.rows) labels, one per row of the views, found \(classes?.count ?? 0)")
            }
        }
        return TwoViewArrays(view1: a.values, view2: b.values, latents: truth, labels: classes, count: a.rows,
                             dimension: a.columns, latentDimension: k == 0 ? a.columns : k)
    }
}

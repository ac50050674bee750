import ArgumentParser
import Foundation
import LDMData
import LDMEngine
import LDMObjectives
import LDMTraining

/// The options of the dot-motion experiments, shared by `ldm train kalman` and `ldm train cpc`.
struct VideoOptions: ParsableArguments {
    @Option(help: "square, figure8, circular or circular-inferred.") var experiment: VideoExperiment = .square
    @Option(parsing: .unconditional, help: "Training sequences (default 800, 3200 for circular-inferred; fewer for a quick run).")
    var trainSequences: Int?
    @Option(parsing: .unconditional, help: "circular experiments: the probability of a 135° jump per step (default 0).")
    var jumpRate: Double?

    func validate() throws {
        try Check.within(jumpRate, 0...1, "--jump-rate")
        if jumpRate != nil && ![.circular, .circularInferred].contains(experiment) {
            throw ValidationError("--jump-rate applies to the circular experiments only")
        }
        // At most 100 000 sequences: their frames take 40 kB each on the device (4 GB in all).
        let batch = VideoSettings(experiment).batch
        if let trainSequences, !(batch...100_000).contains(trainSequences) {
            throw ValidationError("--train-sequences must be in \(batch)…100000 (at least one batch of \(batch)), got \(trainSequences)")
        }
    }

    func apply(to video: inout VideoSettings) {
        if let trainSequences { video.trainSequences = trainSequences }
        if let jumpRate { video.motion.jumpRate = jumpRate }
    }
}

/// `ldm train kalman`: the Kalman-LDM predictor on dot-motion videos.
struct TrainKalman: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kalman",
        abstract: "Train the Kalman-LDM predictor (an encoder and a learned linear-Gaussian filter) on dot-motion videos.",
        discussion: """
            square: a dot moving around a square (0.314 rad per step), d_s = d_l = 2, Adam 0.02 → 0.005 linearly; \
            figure8: a figure-8 path, d_s = 10, d_l = 5, Adam 0.005 with step decay; circular: a noisy rotation seen \
            through half_flip frames with random pixel noise, Σ_D one learned scale; circular-inferred: the same \
            motion without the flip, 3200 sequences in batches of 32, Σ_D predicted per frame by a noise network. \
            All: 100 frames of 10 × 10 pixels per sequence, 8 test sequences, encoder 100 → 100 → d_l (ReLU). \
            Reports the held-out R² of a ridge probe from the filtered states to the true positions (fitted on 64 \
            training sequences) and the rotation per step of the learned A.
            """)

    @OptionGroup(title: "Data") var video: VideoOptions
    @Option(help: "knn or stopgrad (default knn; stopgrad for circular-inferred). stopgrad uses the reference's learning rates (batch/256 scaling, filter at 100×).")
    var objective: KalmanLDMVariant?
    @Option(parsing: .unconditional, help: "Learning-rate multiplier of the filter parameters A, b, a, s (default 100 with stopgrad, 1 with knn).")
    var filterRateMultiplier: Float?
    @Option(help: "The filter's form: auto (the backend's measured choice), on (the means as affine scans over time, per noise group when circular-inferred predicts the noise per step, its covariances then split into chunks: LDM_KALMAN_CHUNKS or the backend's choice) or off (the sequential recursion).")
    var timeParallel: KalmanTimeParallel = .automatic
    @OptionGroup(title: "Backend") var backend: BackendOptions
    @OptionGroup(title: "Run") var settings: RunOptions
    @OptionGroup(title: "Optimiser") var optimizer: OptimizerOptions

    func validate() throws {
        try Check.positive(filterRateMultiplier, "--filter-rate-multiplier")
    }

    func run() throws {
        var configuration = KalmanLDMConfiguration(experiment: video.experiment, variant: objective)
        video.apply(to: &configuration.video)
        if let filterRateMultiplier { configuration.filterRateMultiplier = filterRateMultiplier }
        configuration.timeParallel = timeParallel
        settings.apply(to: &configuration.run)
        optimizer.apply(to: &configuration.run)
        try TrainingRunner(backend: backend, run: settings).train(defaultName: video.experiment.rawValue) {
            try KalmanLDMTask(configuration, on: $0)
        }
    }
}

/// `ldm train cpc`: CPC on the same videos, for comparison with the filter.
struct TrainCPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpc",
        abstract: "Train the same encoder on the same videos with CPC instead of the filter.",
        discussion: """
            Contexts of the last --context-steps encodings, linear predictors for horizons 1…--horizons, InfoNCE over \
            the batch's (sequence, step) targets at --temperature (default 1: these paths repeat, and sharper kernels \
            treat the same position in other sequences as negatives). The kNN form's learning rates of the chosen \
            experiment. The probe reads the normalised encodings; with one-frame contexts the summary gives the \
            rotation per step of W₁.
            """)

    @OptionGroup(title: "Data") var video: VideoOptions
    @Option(parsing: .unconditional, help: "Encodings per context window (1…50, default 1).") var contextSteps: Int?
    @Option(parsing: .unconditional, help: "Prediction horizons 1…K, one linear predictor each (1…50, default 3).") var horizons: Int?
    @Option(parsing: .unconditional, help: "The InfoNCE temperature (default 1).") var temperature: Float?
    @OptionGroup(title: "Backend") var backend: BackendOptions
    @OptionGroup(title: "Run") var settings: RunOptions
    @OptionGroup(title: "Optimiser") var optimizer: OptimizerOptions

    func validate() throws {
        try Check.within(contextSteps, 1...50, "--context-steps")
        try Check.within(horizons, 1...50, "--horizons")
        try Check.temperature(temperature, "--temperature")
    }

    func run() throws {
        var configuration = CPCConfiguration(experiment: video.experiment)
        video.apply(to: &configuration.video)
        if let contextSteps { configuration.contextSteps = contextSteps }
        if let horizons { configuration.horizons = horizons }
        if let temperature { configuration.temperature = temperature }
        settings.apply(to: &configuration.run)
        optimizer.apply(to: &configuration.run)
        try TrainingRunner(backend: backend, run: settings).train(defaultName: video.experiment.rawValue + "-cpc") {
            try CPCTask(configuration, on: $0)
        }
    }
}

/// `ldm train ica`: ICA on Ornstein–Uhlenbeck mixtures.
struct TrainICA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ica",
        abstract: "Unmix two Ornstein–Uhlenbeck sources with ICA as latent distribution matching.",
        discussion: """
            Two sources (θ = 2.0, 0.2) mixed by a 45° rotation, unmixed by W = exp(skew) under a Gaussian latent with \
            per-source weights 1/std; plain SGD at 0.01 for 1000 full-batch steps (one step per epoch, evaluated and \
            checkpointed every 50). Reports the MCC of the recovered sources and the unmixing angle (−π/4 undoes \
            the mixing).
            """)

    @OptionGroup(title: "Backend") var backend: BackendOptions
    @OptionGroup(title: "Run") var settings: RunOptions
    @OptionGroup(title: "Optimiser") var optimizer: OptimizerOptions

    func run() throws {
        var configuration = ICAConfiguration()
        settings.apply(to: &configuration.run)
        optimizer.apply(to: &configuration.run)
        // The reference's SGD has no momentum; another optimiser gets its usual 0.9.
        if let kind = optimizer.optimizer, kind != .sgd { configuration.run.momentum = 0.9 }
        try TrainingRunner(backend: backend, run: settings).train(defaultName: "ou-ica") { try ICATask(configuration, on: $0) }
    }
}

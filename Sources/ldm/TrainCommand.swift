import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives
import LDMTraining

/// Set by the SIGINT handler; the training loop polls it after every step.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

/// `ldm train`: trains a model end to end and writes metrics, a checkpoint, a summary and a report.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an experiment end to end (Kalman-LDM on dot-motion videos, ICA, two-view LDM).",
        discussion: """
            square: a dot moving around a square (0.314 rad per step), d_s = d_l = 2, Adam 0.02 → 0.005 linearly; \
            figure8: a figure-8 path, d_s = 10, d_l = 5, Adam 0.005 with step decay; \
            circular: a noisy rotation (process noise 0.05) seen through half_flip frames with random pixel noise \
            (mean 0.3), Σ_D learned as one scale; circular-inferred: the same motion without the flip, 3200 \
            sequences in batches of 32, Σ_D predicted per frame by a noise network. The kNN form of the loss by default \
            (circular-inferred: the reference's stop-gradient form). \
            All: 100 frames of 10 × 10 pixels per sequence, 8 test sequences, encoder MLP 100 → 100 → d_l (ReLU) \
            (SPEC §5, §6). The held-out R² is a ridge probe from the filtered states to the true positions, fitted \
            on 64 training sequences and scored on the test set. Writes metrics.jsonl, checkpoint.safetensors \
            (atomically, every epoch), summary.json and report.html to --out. Ctrl-C stops after the current step; \
            the last epoch's checkpoint stays valid for --resume. \
            --objective cpc trains the same encoder on the same videos with CPC instead of the filter: contexts of the \
            last --context-steps encodings (default 1), linear predictors for horizons 1…--horizons (default 3), InfoNCE \
            over the batch's (sequence, step) targets at --temperature (default 1: these paths repeat, and sharper kernels \
            treat the same position in other sequences as negatives); the probe reads the normalised encodings. \
            ou-ica: two Ornstein–Uhlenbeck sources (θ = 2.0, 0.2) mixed by a 45° rotation, unmixed by W = exp(skew) \
            under a Gaussian latent with per-source weights 1/std, plain SGD at 0.01 for 1000 full-batch steps (one \
            step per epoch); reports the MCC and the unmixing angle. \
            two-view: an MLP encoder 10 → 128 → 128 → 10 trained on pairs of views x = g(s + 0.1·ε) of latents s on the \
            sphere (or --latent gaussian) through a fixed random invertible MLP g, with a two-view --objective \
            (default ldm-contrastive), Adam 0.01 with a one-epoch warm-up and cosine decay, batch 256, 10 240 pairs, 50 epochs; \
            or your own paired views with --view1/--view2 (N × d .npy, optional --latents N × k for the probe; the last \
            --test-rows rows are held out). Reports the held-out probe R² to the latents, the MCC and the top-1 \
            retrieval accuracy, and the oracle R² of g⁻¹(x₁) = s + ε₁ (the ceiling). --objective clustering or \
            clustering-mi puts a softmax over --classes K (default 10) on the encoder, trains the categorical model \
            with p annealed 0.8 → 0.99 and the plug-in entropy, on latents drawn from K clusters (or your views with \
            optional --labels), and reports the clustering accuracy of the argmax class.
            """)

    enum ExperimentChoice: String, ExpressibleByArgument, CaseIterable {
        case square, figure8, circular, circularInferred = "circular-inferred", ouICA = "ou-ica", twoView = "two-view"
    }

    @Option(help: "square, figure8, circular, circular-inferred, ou-ica or two-view.")
    var experiment: ExperimentChoice = .square
    @Option(help: "Kalman experiments: knn or stopgrad (default knn, stopgrad for circular-inferred; stopgrad uses the reference's learning rates), or cpc (the same videos and encoder trained with CPC instead of the filter). two-view: simclr, ldm-contrastive (default), mi-contrastive, ldm-logdet, ldm-knn, vicreg, barlow, byol, jepa (with a predictor head), clustering, clustering-mi (a softmax head over --classes), or a grid point LATENT+ENTROPY[+mi] such as plane+knn or sphere+logdet+mi.")
    var objective: String?
    @Option(help: "cpu or opencl.") var backend: BackendChoice = .cpu
    @Option(help: "OpenCL device index (see `ldm devices`).") var device: Int?
    @Option(help: "Seed of the data, the initialisation and the batch order.") var seed: UInt64 = 0
    @Option(help: "Epochs (default 20 for the Kalman experiments as the reference, 1000 full-batch steps for ou-ica, 50 for two-view).") var epochs: Int?
    @Option(help: "Training sequences (default 800; fewer for a quick run).") var trainSequences: Int?
    @Option(help: "Learning-rate multiplier of the filter parameters A, b, a, s (default 100 with stopgrad as in the reference, 1 with knn).")
    var filterRateMultiplier: Float?
    @Option(help: "circular experiments: the probability of a 135° jump per step (default 0).") var jumpRate: Double?
    @Option(help: "--objective cpc: encodings per context window (default 1).") var contextSteps: Int?
    @Option(help: "--objective cpc: prediction horizons 1…K, one linear predictor each (default 3).") var horizons: Int?
    @Option(help: "--objective cpc: the InfoNCE temperature (default 1).") var temperature: Float?
    @Option(help: "Clip the global gradient norm to this value before each step (default: no clipping).") var clipNorm: Float?
    @Option(help: "Adam's (L2) weight decay (default: the experiment's, 1e-6 or 1e-4).") var weightDecay: Float?
    @Option(help: "Multiplies the experiment's learning-rate schedule (default 1).") var learningRateScale: Float = 1
    @Option(help: "adam, adamw, sgd (momentum 0.9; 0 for ou-ica) or lars (default: the experiment's: adam, or sgd for ou-ica).")
    var optimizer: OptimizerKind?
    @Option(help: "The base learning rate (default: the experiment's); the schedule keeps its shape.") var learningRate: Float?
    @Option(help: "constant, linear (to 1 % of the base), step (halved at 1/3 and 2/3) or cosine (after --warmup-steps) (default: the experiment's).")
    var schedule: LearningRateSchedule.Kind?
    @Option(help: "Linear warm-up steps before the cosine schedule (default 0).") var warmupSteps: Int?
    @Option(help: "two-view: the synthetic latent, sphere (default), gaussian or clusters (the default for the clustering objectives).")
    var latent: TwoViewData.Latent?
    @Option(help: "two-view: your first views, N × d .npy (with --view2).") var view1: String?
    @Option(help: "two-view: your second views, N × d .npy, row i paired with --view1's row i.") var view2: String?
    @Option(help: "two-view: the true latents of your views, N × k .npy, for the probe R² and MCC (optional).") var latents: String?
    @Option(help: "two-view: class labels of your views, N whole numbers as a float .npy (labels.astype(np.float32)), for the clustering accuracy (optional).")
    var labels: String?
    @Option(help: "two-view: clusters of the synthetic clusters latent and width of the clustering objectives' softmax head (default 10; with --labels, the labels' count).")
    var classes: Int?
    @Option(help: "two-view: held-out rows (default 2048; the last rows of your arrays).") var testRows: Int?
    @Option(help: "two-view: training pairs generated (default 10240).") var trainRows: Int?
    @Option(help: "two-view: pairs per batch (default 256).") var batchSize: Int?
    @Flag(help: "two-view: BatchNorm after each hidden layer of the encoder.") var batchNorm = false
    @Option(help: "two-view byol/jepa: base momentum of a target encoder that follows the online one, rising to 1 on a cosine (BYOL's schedule; default 0.99); 0: the online encoder is its own detached target (SimSiam).")
    var targetMomentum: Float?
    @Option(help: "Output directory (default runs/<experiment>).") var out: String?
    @Flag(help: "Continue from <out>/checkpoint.safetensors.") var resume = false
    @Flag(help: "Print summary.json to standard output when done.") var json = false
    @Flag(help: "No progress bar.") var quiet = false

    var isKalman: Bool { Experiment(rawValue: experiment.rawValue) != nil }

    /// What the progress bar's running metric is for two-view: the clustering accuracy for the clustering objectives
    /// (when labels exist), the probe R² when latents exist, else the retrieval top-1.
    var progressLabel: String {
        guard experiment == .twoView else { return "R²" }
        let clustering = objective.flatMap(TwoViewObjective.init(rawValue:))?.isClustering ?? false
        if clustering && (view1 == nil || labels != nil) { return "accuracy" }
        return latents == nil && view1 != nil ? "top-1" : "R²"
    }

    func validate() throws {
        guard backend != .all else { throw ValidationError("--backend must be cpu or opencl") }
        let twoViewOnly: [(Bool, String)] = [(latent != nil, "--latent"), (view1 != nil, "--view1"), (view2 != nil, "--view2"),
                                             (latents != nil, "--latents"), (testRows != nil, "--test-rows"),
                                             (labels != nil, "--labels"), (classes != nil, "--classes"),
                                             (targetMomentum != nil, "--target-momentum"),
                                             (trainRows != nil, "--train-rows"), (batchSize != nil, "--batch-size"),
                                             (batchNorm, "--batch-norm")]
        if experiment != .twoView, let (_, name) = twoViewOnly.first(where: { $0.0 }) {
            throw ValidationError("\(name) applies to --experiment two-view only")
        }
        if let warmupSteps {
            guard schedule == .cosine else { throw ValidationError("--warmup-steps applies to --schedule cosine only") }
            guard warmupSteps >= 0 else { throw ValidationError("--warmup-steps must be ≥ 0, got \(warmupSteps)") }
        }
        if let learningRate, !(learningRate.isFinite && learningRate > 0) {
            throw ValidationError("--learning-rate must be positive, got \(learningRate)")
        }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let clipNorm, !(clipNorm.isFinite && clipNorm > 0) { throw ValidationError("--clip-norm must be positive, got \(clipNorm)") }
        if let weightDecay, !(weightDecay.isFinite && weightDecay >= 0) { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard learningRateScale.isFinite, learningRateScale > 0 else { throw ValidationError("--learning-rate-scale must be positive") }
        if experiment == .twoView {
            if let objective, TwoViewObjective(rawValue: objective) == nil {
                throw ValidationError("--objective for two-view must be \(TwoViewObjective.accepted); got '\(objective)'")
            }
            guard (view1 == nil) == (view2 == nil) else { throw ValidationError("--view1 and --view2 go together") }
            if latents != nil && view1 == nil { throw ValidationError("--latents needs --view1 and --view2") }
            if labels != nil && view1 == nil { throw ValidationError("--labels needs --view1 and --view2 (the synthetic clusters bring their own)") }
            if let classes, classes < 2 { throw ValidationError("--classes must be at least 2, got \(classes)") }
            if let targetMomentum {
                guard let name = objective, TwoViewObjective(rawValue: name)?.needsPredictor == true else {
                    throw ValidationError("--target-momentum applies to --objective byol or jepa only")
                }
                guard targetMomentum.isFinite, (0..<1).contains(targetMomentum) else {
                    throw ValidationError("--target-momentum must be in [0, 1), got \(targetMomentum)")
                }
            }
            if view1 != nil && (latent != nil || trainRows != nil) {
                throw ValidationError("--latent and --train-rows describe the synthetic data; your arrays come with --view1/--view2")
            }
            for (value, name) in [(testRows, "--test-rows"), (trainRows, "--train-rows"), (batchSize, "--batch-size")] {
                if let value, value < 2 { throw ValidationError("\(name) must be at least 2, got \(value)") }
            }
        }
        if !isKalman {
            for (given, name) in [(experiment == .ouICA && objective != nil, "--objective"), (trainSequences != nil, "--train-sequences"),
                                  (filterRateMultiplier != nil, "--filter-rate-multiplier"), (jumpRate != nil, "--jump-rate"),
                                  (contextSteps != nil, "--context-steps"), (horizons != nil, "--horizons"),
                                  (temperature != nil, "--temperature")] where given {
                throw ValidationError("\(name) does not apply to --experiment \(experiment.rawValue)")
            }
            return
        }
        if let objective, KalmanLDMVariant(rawValue: objective) == nil && objective != "cpc" {
            throw ValidationError("--objective must be stopgrad, knn or cpc for the Kalman experiments, got '\(objective)'")
        }
        let cpcOnly: [(Bool, String)] = [(contextSteps != nil, "--context-steps"), (horizons != nil, "--horizons"),
                                         (temperature != nil, "--temperature")]
        if objective != "cpc", let (_, name) = cpcOnly.first(where: { $0.0 }) {
            throw ValidationError("\(name) applies to --objective cpc only")
        }
        if objective == "cpc" {
            if filterRateMultiplier != nil { throw ValidationError("--filter-rate-multiplier applies to the Kalman filter, not to --objective cpc") }
            for (value, name) in [(contextSteps, "--context-steps"), (horizons, "--horizons")] {
                if let value, !(1...50).contains(value) { throw ValidationError("\(name) must be in 1…50, got \(value)") }
            }
            if let temperature, !(temperature.isFinite && temperature > 0) { throw ValidationError("--temperature must be positive, got \(temperature)") }
        }
        if let jumpRate {
            guard [.circular, .circularInferred].contains(experiment) else { throw ValidationError("--jump-rate applies to the circular experiments only") }
            guard (0...1).contains(jumpRate) else { throw ValidationError("--jump-rate must be in [0, 1], got \(jumpRate)") }
        }
        guard let kind = Experiment(rawValue: experiment.rawValue) else { return }   // isKalman held above
        let batch = TrainingConfiguration(experiment: kind).batch
        if let trainSequences, trainSequences < batch {
            throw ValidationError("--train-sequences must be at least one batch (\(batch)) for \(experiment.rawValue)")
        }
    }

    func run() throws {
        try reportingErrors {
            let engine = try openBackends(backend, device: device)[0]
            let directory = out ?? "runs/\(experiment.rawValue)"
            let trainer = try makeRun(on: engine, directory: directory)
            if !quiet {
                note("training \(experiment.rawValue) on \(engine.info) → \(directory)")
                let terminal = isatty(STDERR_FILENO) != 0
                trainer.progress = { p in
                    // On a terminal the line redraws in place; in a log, only the end of each epoch is written.
                    guard terminal || p.step == p.stepsPerEpoch else { return }
                    let filled = Int(20 * Double(p.step) / Double(p.stepsPerEpoch))
                    let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 20 - filled)
                    let label = experiment == .ouICA ? "MCC" : progressLabel
                    let r2 = p.r2.map { String(format: " %@ %.4f", label, $0) } ?? ""
                    FileHandle.standardError.write(Data(String(format: "%@epoch %d/%d [%@] loss %.4g%@ %.1f steps/s ", terminal ? "\r" : "",
                                                               p.epoch, p.epochs, bar, p.loss, r2, p.stepsPerSecond).utf8))
                    if p.step == p.stepsPerEpoch { FileHandle.standardError.write(Data("\n".utf8)) }
                }
            }
            interruptRequested = 0
            // A parent may have spawned us with SIGINT blocked (test runners do); unblock it for the handler.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGINT)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            signal(SIGINT) { _ in interruptRequested = 1 }
            defer { signal(SIGINT, SIG_DFL) }
            trainer.shouldStop = { interruptRequested != 0 }
            do {
                let summary = try trainer.run(resume: resume)
                if json {
                    try printJSON(summary)
                } else if experiment == .twoView {
                    let oracle = summary.oracleR2.map { String(format: " (oracle %.4f)", $0) } ?? ""
                    let mcc = summary.mcc.map { String(format: ", MCC %.4f", $0) } ?? ""
                    let r2 = summary.r2.map { String(format: "held-out R² %.4f%@%@, ", $0, oracle, mcc) } ?? ""
                    let accuracy = summary.clusteringAccuracy.map { String(format: "clustering accuracy %.4f, ", $0) } ?? ""
                    print(String(format: "two-view (%@): %@%@retrieval top-1 %.4f after %d epochs in %.1f s on %@", summary.objective ?? "?",
                                 accuracy, r2, summary.retrievalTop1 ?? .nan, summary.epochs, summary.seconds, summary.backend))
                } else if let mcc = summary.mcc, experiment == .ouICA {
                    print(String(format: "%@: MCC %.4f (mean squared correlation %.4f) after %d epochs in %.1f s on %@; unmixing angle %.4f rad",
                                 summary.experiment, mcc, summary.r2 ?? .nan, summary.epochs, summary.seconds, summary.backend,
                                 summary.unmixingAngle ?? 0))
                } else {
                    let rotation = summary.rotationPerStep.map { String(format: "; rotation per step %.4f rad", $0) } ?? ""
                    let form = summary.objective.map { " (\($0))" } ?? ""
                    print(String(format: "%@%@: held-out R² %.4f after %d epochs in %.1f s on %@%@",
                                 summary.experiment, form, summary.r2 ?? .nan, summary.epochs, summary.seconds, summary.backend, rotation))
                }
            } catch let stop as TrainingInterrupted {
                note("\nldm: \(stop)")
                throw ExitCode(130)
            }
        }
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension TwoViewData.Latent: ExpressibleByArgument {}

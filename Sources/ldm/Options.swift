import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives
import LDMTraining

/// `--backend cpu|opencl` and `--device N`: which backend a command runs on.
struct BackendOptions: ParsableArguments {
    enum Choice: String, ExpressibleByArgument, CaseIterable { case cpu, opencl }

    @Option(help: "cpu or opencl.") var backend: Choice = .cpu
    @OptionGroup var device: DeviceOption

    /// The chosen backend, opened.
    func open() throws -> any Backend {
        try openBackends(backend == .cpu ? .cpu : .opencl, device: device.device)[0]
    }
}

/// `--device N`: an OpenCL device index from `ldm devices`.
struct DeviceOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "OpenCL device index (see `ldm devices`; default LDM_OPENCL_DEVICE or the first GPU).")
    var device: Int?

    func validate() throws { try Check.atLeast(device, 0, "--device") }
}

/// The settings every training run shares: seed, epochs, where the run goes, and how it reports.
struct RunOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Seed of the data, the initialisation and the batch order.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Epochs (default: the task's).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Evaluate (a metrics line, the progress report and a checkpoint) every N epochs and after the last (default 1).")
    var evaluateEvery: Int?
    @Option(help: "Output directory (default runs/<experiment>).") var out: String?
    @Flag(help: "Continue from <out>/checkpoint.safetensors (with the same settings; only --epochs may grow).") var resume = false
    @Flag(help: "Replace the run already in --out (its checkpoint, metrics, summary and report) instead of refusing.")
    var overwrite = false
    @Flag(help: "Print summary.json to standard output when done.") var json = false
    @Flag(help: "No progress line.") var quiet = false
    @Option(parsing: .unconditional, help: "Under mpirun: seconds a rank waits for the others in a collective before it ends the run (default 600).")
    var mpiTimeout: Double = 600
    @Option(help: "Compute the first step's loss and gradients (summed over the ranks under mpirun; with --resume the next step's, from the checkpoint), write them to this .safetensors file and stop.")
    var gradientsOut: String?

    func validate() throws {
        guard mpiTimeout.isFinite, mpiTimeout > 0, mpiTimeout <= 86_400 else {
            throw ValidationError("--mpi-timeout must be in (0, 86400] seconds, got \(mpiTimeout)")
        }
        try Check.within(epochs, 1...TrainingLoop.maximumEpochs, "--epochs")
        try Check.within(evaluateEvery, 1...TrainingLoop.maximumEpochs, "--evaluate-every")
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
    }

    func apply(to settings: inout RunSettings) {
        settings.seed = seed
        if let epochs { settings.epochs = epochs }
        if let evaluateEvery { settings.evaluateEvery = evaluateEvery }
    }
}

/// The optimiser, its learning-rate schedule, weight decay and clipping.
struct OptimizerOptions: ParsableArguments {
    @Option(help: "adam, adamw, sgd (momentum 0.9) or lars (default: the task's).") var optimizer: OptimizerKind?
    @Option(parsing: .unconditional, help: "The base learning rate (default: the task's); the schedule keeps its shape.")
    var learningRate: Float?
    @Option(help: "constant, linear (to 1 % of the base), step (halved at 1/3 and 2/3) or cosine (after --warmup-steps) (default: the task's).")
    var schedule: LearningRateSchedule.Kind?
    @Option(parsing: .unconditional, help: "Linear warm-up steps before the cosine schedule (default 0).") var warmupSteps: Int?
    @Option(parsing: .unconditional, help: "Multiplies the whole learning-rate schedule (default 1).") var learningRateScale: Float = 1
    @Option(parsing: .unconditional, help: "Weight decay (default: the task's; L2 for adam, decoupled for adamw).")
    var weightDecay: Float?
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this value before each step (default: no clipping).")
    var clipNorm: Float?

    func validate() throws {
        if warmupSteps != nil && schedule != .cosine { throw ValidationError("--warmup-steps applies to --schedule cosine only") }
        try Check.within(warmupSteps, 0...TrainingLoop.maximumSteps, "--warmup-steps")
        try Check.positive(learningRate, "--learning-rate")
        try Check.positive(learningRateScale, "--learning-rate-scale")
        try Check.positive(clipNorm, "--clip-norm")
        try Check.nonNegative(weightDecay, "--weight-decay")
    }

    /// The task's settings with these options applied; `standard` is the task's schedule.
    func apply(to settings: inout RunSettings) {
        if let optimizer { settings.optimizer = optimizer }
        if let weightDecay { settings.weightDecay = weightDecay }
        if let clipNorm { settings.clipNorm = clipNorm }
        let standard = settings.schedule, base = learningRate ?? standard.baseRate
        var chosen = standard.scaled(by: base / standard.baseRate)
        if let schedule { chosen = .named(schedule, base: base, warmup: warmupSteps ?? 0) }
        settings.schedule = chosen.scaled(by: learningRateScale)
    }
}

/// Range checks of numeric options; each error names the option, its allowed range and the value given.
enum Check {
    static func atLeast<T: Comparable>(_ value: T?, _ minimum: T, _ option: String) throws {
        if let value, value < minimum { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
    }

    static func within<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, _ option: String) throws {
        if let value, !range.contains(value) {
            throw ValidationError("\(option) must be in \(range.lowerBound)…\(range.upperBound), got \(value)")
        }
    }

    static func positive(_ value: Float?, _ option: String) throws {
        if let value, !(value.isFinite && value > 0) { throw ValidationError("\(option) must be positive and finite, got \(value)") }
    }

    static func nonNegative(_ value: Float?, _ option: String) throws {
        if let value, !(value.isFinite && value >= 0) { throw ValidationError("\(option) must be ≥ 0 and finite, got \(value)") }
    }

    /// A temperature the float32 kernels evaluate accurately (at least ``minimumTemperature``).
    static func temperature(_ value: Float?, _ option: String) throws {
        if let value, !(value.isFinite && value >= minimumTemperature) {
            throw ValidationError("\(option) must be at least \(minimumTemperature) (below it the float32 kernels lose accuracy as 1/τ) and finite, got \(value)")
        }
    }

    /// An inverse temperature (a kernel precision) in (0, 1/``minimumTemperature``].
    static func inverseTemperature(_ value: Float?, _ option: String) throws {
        if let value, !(value.isFinite && value > 0 && value <= 1 / minimumTemperature) {
            throw ValidationError("\(option) must be in (0, \(1 / minimumTemperature)] (above it the float32 kernels lose accuracy), got \(value)")
        }
    }

    /// `--objective` names a two-view objective, and `--target-momentum`, when given, belongs to it (a stop-gradient
    /// method) and lies in [0, 1).
    static func twoViewObjective(_ objective: String, targetMomentum: Float?) throws -> ObjectiveSpec {
        let spec: ObjectiveSpec
        do { spec = try ObjectiveRegistry.spec(named: objective) } catch { throw ValidationError("--objective: \(error)") }
        guard spec.trainsTwoViews else { throw ValidationError("--objective \(objective) does not train on two views") }
        if targetMomentum != nil && !spec.needsPredictor {
            throw ValidationError("--target-momentum applies to byol, jepa and other stop-gradient objectives")
        }
        if let targetMomentum, !(targetMomentum.isFinite && (0..<1).contains(targetMomentum)) {
            throw ValidationError("--target-momentum must be in [0, 1), got \(targetMomentum)")
        }
        return spec
    }

    static func finite(_ value: Float?, _ option: String) throws {
        if let value, !value.isFinite { throw ValidationError("\(option) must be finite, got \(value)") }
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

extension KalmanTimeParallel: ExpressibleByArgument {}

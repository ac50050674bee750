import Foundation
import LDMEngine
import LDMParallel

/// The settings every training run has, whatever it trains: seed, epochs, optimiser and its schedule, weight
/// decay, clipping and the logging cadence. Each task's configuration holds one with that task's reference
/// defaults; `ldm train` applies its options to it once.
public struct RunSettings: Sendable, Equatable {
    /// Seed of the data, the initialisation and the batch order.
    public var seed: UInt64 = 0
    public var epochs: Int
    public var optimizer: OptimizerKind = .adam
    /// Momentum of SGD and LARS.
    public var momentum: Float = 0.9
    public var schedule: LearningRateSchedule
    public var weightDecay: Float = 0
    /// Global gradient-norm clipping before each optimiser step (nil: none).
    public var clipNorm: Float?
    /// A metrics.jsonl line every this many optimiser steps.
    public var logEvery = 20
    /// An evaluation (a metrics line, a progress report and a checkpoint) every this many epochs, and after the last.
    public var evaluateEvery = 1

    public init(epochs: Int, schedule: LearningRateSchedule, optimizer: OptimizerKind = .adam, weightDecay: Float = 0) {
        self.epochs = epochs
        self.schedule = schedule
        self.optimizer = optimizer
        self.weightDecay = weightDecay
    }

    /// Throws unless every setting is in its range (named in the message).
    public func validate() throws {
        let problems: [(Bool, String)] = [
            (epochs >= 1, "epochs must be at least 1, got \(epochs)"),
            (logEvery >= 1, "the logging interval must be at least 1 step, got \(logEvery)"),
            (evaluateEvery >= 1, "the evaluation interval must be at least 1 epoch, got \(evaluateEvery)"),
            (momentum.isFinite && (0..<1).contains(momentum), "momentum must be in [0, 1), got \(momentum)"),
            (weightDecay.isFinite && weightDecay >= 0, "weight decay must be ≥ 0, got \(weightDecay)"),
            (clipNorm.map { $0.isFinite && $0 > 0 } ?? true, "the clipping norm must be positive, got \(clipNorm ?? 0)"),
            (schedule.baseRate.isFinite && schedule.baseRate > 0, "the learning rate must be positive, got \(schedule.baseRate)"),
        ]
        if let (_, problem) = problems.first(where: { !$0.0 }) { throw LDMError.invalidArgument("training: \(problem)") }
    }
}

/// Where a step stands in the run.
public struct StepContext: Sendable {
    /// 0-based epoch and batch within it.
    public var epoch: Int, batchIndex: Int
    /// The optimiser steps taken before this one, and the run's total.
    public var step: Int, totalSteps: Int

    public init(epoch: Int, batchIndex: Int, step: Int, totalSteps: Int) {
        (self.epoch, self.batchIndex, self.step, self.totalSteps) = (epoch, batchIndex, step, totalSteps)
    }

    /// The share of training done, from 0 at the first step to 1 at the last.
    public var progress: Double { Double(step) / Double(max(totalSteps - 1, 1)) }
}

/// What one training step reports: the loss it minimised and any named scalars for metrics.jsonl.
public struct StepOutput: Sendable {
    public var loss: Double
    public var scalars: [String: Double]

    public init(loss: Double, scalars: [String: Double] = [:]) {
        self.loss = loss
        self.scalars = scalars
    }
}

/// What a task adds to the end of a run: summary.json's task keys, the report's facts and plots, and any files of
/// its own (written into the run directory together with summary.json and report.html, or not at all).
public struct TaskResult {
    public var summary: [String: SummaryValue]
    public var facts: String
    public var plots: [ReportPlot]
    public var files: [(name: String, data: Data)]

    public init(summary: [String: SummaryValue], facts: String, plots: [ReportPlot], files: [(name: String, data: Data)] = []) {
        (self.summary, self.facts, self.plots, self.files) = (summary, facts, plots, files)
    }
}

/// What differs between experiments; ``TrainingLoop`` does everything else (directories, resume, the seeded
/// epoch order, the schedule, clipping, the optimiser step, the divergence guard, logging, checkpoints, signals,
/// progress, summary.json and report.html). A task file holds only what is its own: its data, its model, one
/// step, its evaluation and its report.
public protocol TrainingTask: AnyObject {
    /// The task's configuration value: every stored field of it is part of the run's identity (``RunIdentity``).
    associatedtype Configuration
    var configuration: Configuration { get }
    /// The run settings with the task's defaults (and the user's options applied).
    var settings: RunSettings { get }
    /// summary.json's `experiment` and `objective`.
    var experiment: String { get }
    var objective: String { get }
    /// What a checkpoint must also match to be resumed, beyond experiment and objective: by default every field
    /// of ``configuration`` but the epoch count.
    var identity: [String: String] { get }
    /// The items one epoch permutes (sequences, rows) and how many each step takes.
    var itemCount: Int { get }
    var batchSize: Int { get }
    var stepsPerEpoch: Int { get }
    /// What the optimiser trains.
    var parameters: [Parameter] { get }
    /// Everything a resumed run must restore: the parameters' values and any other state (running statistics,
    /// a momentum target).
    var checkpointTensors: [(String, Tensor)] { get }
    /// The evaluation metric the progress line shows (`r2`, `mcc`, `clustering_accuracy`, `retrieval_top1`).
    var headlineMetric: String { get }

    /// Called once before the run with the ranks it trains on. A task that trains data-parallel keeps the group,
    /// steps on its share of each global batch (``ProcessGroup/share(of:_:)`` of ``batchSize``) and gives its loss
    /// the whole batch's rows (``ProcessGroup/allGatherRows(_:blocks:on:)``), so that the gradients its steps leave,
    /// summed over the ranks by the loop, are the one-process gradients; a gradient every rank computes whole (a
    /// loss's own parameters) is left on rank 0 and zeroed on the others. By default a task refuses more than one rank.
    func distribute(over group: ProcessGroup) throws
    /// Called at the start of each epoch with its seeded order of the items.
    func beginEpoch(order: [Int]) throws
    /// Forward and backward on the items `batch`: fills the gradients of ``parameters`` (zeroed by the loop
    /// before) and returns the loss.
    func step(_ batch: [Int], _ context: StepContext) throws -> StepOutput
    /// After the optimiser's update (spectral-radius control, a momentum target).
    func afterUpdate(_ context: StepContext) throws
    /// After a checkpoint was loaded into ``checkpointTensors``.
    func didRestore() throws
    /// The held-out metrics by name (the task keeps what ``finish()`` needs of the last one).
    func evaluate() throws -> [String: Double]
    /// The task's part of the summary and report (and any files of its own), from the last evaluation.
    func finish() throws -> TaskResult
}

extension TrainingTask {
    public var identity: [String: String] { RunIdentity.of(configuration) }
    public var checkpointTensors: [(String, Tensor)] { parameters.map { ($0.name, $0.value) } }
    public func distribute(over group: ProcessGroup) throws {
        guard !group.isDistributed else {
            throw LDMError.invalidArgument("\(experiment) trains on one process only (it has no batch to split); run it without mpirun")
        }
    }
    public func beginEpoch(order: [Int]) throws {}
    public func afterUpdate(_ context: StepContext) throws {}
    public func didRestore() throws {}
}

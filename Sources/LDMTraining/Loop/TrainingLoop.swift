import Foundation
import LDMEngine
import LDMParallel
import LDMReference

/// The one training loop every task runs in. It owns the output directory (metrics.jsonl, checkpoint.safetensors,
/// summary.json, report.html), resume, the seeded epoch order (a resumed run sees the same batches), the
/// optimiser with its schedule and clipping, the divergence guard, the logging and checkpoint cadence, SIGINT
/// and SIGTERM (both stop after the current step, leaving the last checkpoint valid), progress reports, the
/// summary and the report. A ``TrainingTask`` supplies the rest.
///
/// With a ``group`` of several ranks (processes started by mpirun) the loop trains data-parallel: rank 0 seeds (or
/// restores) and broadcasts the parameters and the optimiser's state, every rank steps on its share of each global
/// batch, the gradients are summed over the ranks in buckets after the backward, the optimiser steps identically
/// everywhere, a stop request on any rank stops all after the same step, and rank 0 alone evaluates and writes
/// metrics, checkpoints, the summary and the report.
///
/// ```swift
/// let task = try KalmanLDMTask(KalmanLDMConfiguration(experiment: .square), on: backend)
/// let loop = TrainingLoop(task, on: backend, directory: "runs/square")
/// let summary = try loop.run()            // or run(resume: true) after an interruption
/// print(summary.r2 ?? .nan)
/// ```
public final class TrainingLoop {
    public let task: any TrainingTask
    public let backend: any Backend
    public let directory: String
    /// Called after each logged step and each evaluation.
    public var progress: (TrainingProgress) -> Void = { _ in }
    /// Polled after every step; true stops the run with ``TrainingInterrupted`` (tests use it; signals do the same).
    public var shouldStop: () -> Bool = { false }
    /// Whether SIGINT and SIGTERM stop the run after the current step (the command line sets this).
    public var stopOnSignals = false
    /// The ranks this run trains on (one process by default).
    public var group = ProcessGroup.single

    public init(_ task: any TrainingTask, on backend: any Backend, directory: String) {
        self.task = task
        self.backend = backend
        self.directory = directory
    }

    var settings: RunSettings { task.settings }
    var path: (String) -> String { { (self.directory as NSString).appendingPathComponent($0) } }
    /// Checked in ``run(resume:overwrite:)`` to fit comfortably in Int before any step runs.
    var totalSteps: Int { settings.epochs * task.stepsPerEpoch }
    /// The most epochs a run may ask for, and so the most a checkpoint may record.
    public static let maximumEpochs = 1_000_000
    /// The most optimiser steps a run may ask for (epochs × steps per epoch).
    public static let maximumSteps = 1 << 40

    /// What one run tracks between its epochs.
    final class RunState {
        var log: MetricsLog
        var started: Double
        var lastLoss = Double.nan
        var metrics: [String: Double] = [:]
        var checkpointedEpochs: Int
        var lastReport: (time: Double, step: Int)
        init(log: MetricsLog, started: Double, checkpointedEpochs: Int, steps: Int) {
            (self.log, self.started, self.checkpointedEpochs) = (log, started, checkpointedEpochs)
            lastReport = (started, steps)
        }
    }

    /// Runs and returns the summary. A fresh run refuses a directory that holds another run's checkpoint unless
    /// `overwrite` (which removes that run's files first); with `resume` it continues from the checkpoint, and a
    /// checkpoint that already holds every epoch only re-evaluates and re-writes summary.json and report.html.
    /// The directory is locked for the run (``RunLock``): a second run on it fails at once.
    ///
    /// In a data-parallel run every rank calls this; rank 0's summary is the run's, the other ranks return one without
    /// the task's values.
    public func run(resume: Bool = false, overwrite: Bool = false) throws -> TrainingSummary {
        try prepare()
        var lock: RunLock?
        if group.isRoot {
            try createOutputDirectory(directory)
            lock = try RunLock(directory: directory)
            FileIO.removeStalePartials(in: directory)
        }
        defer { withExtendedLifetime(lock) {} }
        let signals = stopOnSignals ? StopSignals() : nil
        let optimizer = try makeOptimizer()
        let state = try start(resume: resume, overwrite: overwrite, optimizer)
        if state.checkpointedEpochs == settings.epochs && group.isRoot {
            state.metrics = try task.evaluate()   // a finished run: the task's last evaluation, for its summary
        }
        for epoch in state.checkpointedEpochs..<settings.epochs {
            try runEpoch(epoch, state, optimizer, signals)
        }
        return try finish(state)
    }

    /// Validates, hands the task its ranks and makes sure every rank runs the same thing.
    private func prepare() throws {
        try validate()
        try task.distribute(over: group)
        let described = identity.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["\(settings)"]
        try group.agree(on: described.joined(separator: ";"), "the options or data")
    }

    private func makeOptimizer() throws -> any Optimizer {
        let optimizer = try settings.optimizer.make(task.parameters, weightDecay: settings.weightDecay,
                                                    momentum: settings.momentum, on: backend)
        optimizer.clipNorm = settings.clipNorm
        return optimizer
    }

    /// The next step of the run alone: the loss and the gradients of every parameter (summed over the ranks) for the
    /// first global batch of the next epoch, from the initial parameters (or, with `resume`, the checkpoint's), with
    /// nothing written. What `ldm train --gradients-out` reports, to check that N ranks compute what one does.
    public func firstStepGradients(resume: Bool = false) throws -> (loss: Double, gradients: [(name: String, values: [Float])]) {
        try prepare()
        var header = [0.0]
        if resume && group.isRoot {
            let progress = try Checkpoint.restore(task.checkpointTensors, try makeOptimizer(), identity: identity,
                                                  stepsPerEpoch: task.stepsPerEpoch, maximumEpochs: Self.maximumEpochs,
                                                  on: backend, from: path("checkpoint.safetensors"))
            header[0] = Double(progress.epochs)
        }
        try group.broadcast(&header)
        try group.broadcast(task.checkpointTensors.map(\.1), on: backend)
        if resume { try task.didRestore() }
        let epoch = Int(header[0]), b = task.batchSize, order = order(of: epoch)
        try task.beginEpoch(order: order)
        for parameter in task.parameters { try backend.fill(parameter.gradient, with: 0) }
        let output = try task.step((0..<b).map { order[$0 % task.itemCount] },
                                   StepContext(epoch: epoch, batchIndex: 0, step: epoch * task.stepsPerEpoch, totalSteps: totalSteps))
        try group.allReduceSum(task.parameters.map(\.gradient), on: backend)
        return (output.loss, try task.parameters.map { ($0.name, try backend.download($0.gradient)) })
    }

    /// The settings and the task's sizes in range, so that no step count can overflow.
    private func validate() throws {
        try settings.validate()
        guard task.stepsPerEpoch >= 1, task.batchSize >= 1, task.itemCount >= 1 else {
            throw LDMError.invalidArgument("training: need at least one batch of \(task.batchSize) of the \(task.itemCount) items")
        }
        guard settings.epochs <= Self.maximumEpochs else {
            throw LDMError.invalidArgument("training: epochs must be in 1…\(Self.maximumEpochs), got \(settings.epochs)")
        }
        let (steps, overflow) = settings.epochs.multipliedReportingOverflow(by: task.stepsPerEpoch)
        guard !overflow, steps <= Self.maximumSteps else {
            throw LDMError.invalidArgument("training: \(settings.epochs) epochs of \(task.stepsPerEpoch) steps exceed "
                + "the limit of \(Self.maximumSteps) optimiser steps")
        }
    }

    /// The files a run owns in its directory.
    static let runFiles = ["checkpoint.safetensors", "metrics.jsonl", "summary.json", "report.html"]

    /// A fresh start (metrics.jsonl emptied) or the checkpoint loaded and the lines after it dropped; in a
    /// data-parallel run rank 0 does this and broadcasts the parameters, the optimiser's state and the progress.
    private func start(resume: Bool, overwrite: Bool, _ optimizer: any Optimizer) throws -> RunState {
        let log = MetricsLog(path: path("metrics.jsonl"))
        var progress = Checkpoint.Progress(epochs: 0, seconds: 0, finalLoss: .nan)
        if !group.isRoot {
            // Rank 0 reads or seeds; this rank takes what it broadcasts.
        } else if resume {
            progress = try Checkpoint.restore(task.checkpointTensors, optimizer, identity: identity, stepsPerEpoch: task.stepsPerEpoch,
                                              maximumEpochs: Self.maximumEpochs, on: backend, from: path("checkpoint.safetensors"))
            guard progress.epochs <= settings.epochs else {
                throw LDMError.invalidArgument("the checkpoint holds \(progress.epochs) completed epochs, more than --epochs "
                    + "\(settings.epochs); resume with --epochs \(progress.epochs) or more")
            }
            try task.didRestore()
            try log.truncate(afterStep: optimizer.steps)
        } else {
            if let existing = Checkpoint.metadata(at: path("checkpoint.safetensors")), !overwrite {
                let described = [existing["experiment"], existing["objective"]].compactMap { $0 }.joined(separator: ", ")
                throw LDMError.invalidFile(path: directory, problem: "holds the checkpoint of an earlier run"
                    + (described.isEmpty ? "" : " (\(described), \(existing["epochs"] ?? "?") epochs)")
                    + "; continue it with --resume or replace it with --overwrite")
            }
            for name in Self.runFiles where overwrite { unlink(path(name)) }
            try log.reset()
        }
        if group.isDistributed {
            var header = [Double(progress.epochs), progress.seconds, progress.finalLoss, Double(optimizer.steps)]
            try group.broadcast(&header)
            try group.broadcast(task.checkpointTensors.map(\.1) + optimizer.state.map(\.1), on: backend)
            if !group.isRoot {
                progress = Checkpoint.Progress(epochs: Int(header[0]), seconds: header[1], finalLoss: header[2])
                optimizer.restore(steps: Int(header[3]))
                if resume { try task.didRestore() }
            }
        }
        let state = RunState(log: log, started: Self.clock() - progress.seconds, checkpointedEpochs: progress.epochs,
                             steps: optimizer.steps)
        state.lastLoss = progress.finalLoss
        return state
    }

    /// What a checkpoint must match to be resumed by this run: experiment, objective and every configuration field
    /// but the epoch count (``RunIdentity``).
    var identity: [String: String] {
        task.identity.merging(["experiment": task.experiment, "objective": task.objective]) { $1 }
    }

    /// The epoch's order depends only on (seed, epoch), so a resumed run sees the same batches.
    func order(of epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: settings.seed &* 1_000_003 &+ UInt64(epoch))
        return Array(0..<task.itemCount).shuffled(using: &generator)
    }

    private func runEpoch(_ epoch: Int, _ state: RunState, _ optimizer: any Optimizer, _ signals: StopSignals?) throws {
        let order = order(of: epoch), (n, b, perEpoch) = (task.itemCount, task.batchSize, task.stepsPerEpoch)
        try task.beginEpoch(order: order)
        var epochLoss = 0.0
        for batchIndex in 0..<perEpoch {
            let context = StepContext(epoch: epoch, batchIndex: batchIndex, step: optimizer.steps, totalSteps: totalSteps)
            let batch = (0..<b).map { order[(batchIndex * b + $0) % n] }
            let output = try trainStep(batch, context, optimizer)
            epochLoss += output.loss
            state.lastLoss = output.loss
            if (context.step + 1) % settings.logEvery == 0 && group.isRoot {
                var line: [String: Any] = ["epoch": epoch + 1, "step": context.step + 1, "loss": output.loss,
                                           "lr": Double(settings.schedule.rate(at: context.step, of: totalSteps)),
                                           "seconds": Self.clock() - state.started]
                if group.isDistributed { line["communication_seconds"] = group.communicationSeconds }
                try state.log.append(line.merging(output.scalars) { $1 })
                if batchIndex + 1 < perEpoch { report(epoch, batchIndex + 1, output.loss, state, optimizer) }
            }
            let requested = signals?.received ?? (shouldStop() ? 0 : nil)
            // Every rank stops after the same step, whichever was asked.
            let stop = try group.any(requested != nil) ? requested ?? 0 : nil
            if batchIndex + 1 == perEpoch { try endEpoch(epoch, epochLoss / Double(perEpoch), state, optimizer) }
            if let stop {
                if batchIndex + 1 == perEpoch && state.checkpointedEpochs < epoch + 1 { try checkpoint(epoch + 1, state, optimizer) }
                throw TrainingInterrupted(completedEpochs: state.checkpointedEpochs, signal: stop == 0 ? nil : stop)
            }
        }
    }

    /// Zeroes the gradients, runs the task's step, refuses a non-finite loss, updates and calls the task's hook.
    private func trainStep(_ batch: [Int], _ context: StepContext, _ optimizer: any Optimizer) throws -> StepOutput {
        for parameter in task.parameters { try backend.fill(parameter.gradient, with: 0) }
        let output = try task.step(batch, context)
        try group.allReduceSum(task.parameters.map(\.gradient), on: backend)
        guard output.loss.isFinite else {
            throw LDMError.invalidArgument("training diverged: the loss is \(output.loss) at step \(context.step) "
                + "(epoch \(context.epoch + 1)); try a smaller --learning-rate or --clip-norm")
        }
        try optimizer.step(rate: settings.schedule.rate(at: context.step, of: totalSteps))
        try task.afterUpdate(context)
        return output
    }

    /// The evaluation, its metrics line, the checkpoint and the progress report, when one is due.
    private func endEpoch(_ epoch: Int, _ meanLoss: Double, _ state: RunState, _ optimizer: any Optimizer) throws {
        guard (epoch + 1) % settings.evaluateEvery == 0 || epoch + 1 == settings.epochs else { return }
        try checkReplicasAgree()
        guard group.isRoot else { state.checkpointedEpochs = epoch + 1; return }
        state.metrics = try task.evaluate()
        try state.log.append(["epoch": epoch + 1, "step": optimizer.steps, "epoch_loss": meanLoss,
                              "seconds": Self.clock() - state.started].merging(state.metrics) { $1 })
        try checkpoint(epoch + 1, state, optimizer)
        report(epoch, task.stepsPerEpoch, meanLoss, state, optimizer)
    }

    /// Every rank must hold bit for bit the parameters rank 0 holds (the same sums and the same steps): a replica
    /// that drifted would train a different model unnoticed, so it ends the run with an error instead.
    private func checkReplicasAgree() throws {
        guard group.isDistributed else { return }
        var bits: [UInt8] = []
        for (_, tensor) in task.checkpointTensors {
            for value in try backend.download(tensor) { withUnsafeBytes(of: value.bitPattern) { bits.append(contentsOf: $0) } }
        }
        try group.agree(on: bits, "the parameters", hint: "the replicas drifted apart (a reduction that differs between ranks?)")
    }

    private func checkpoint(_ epochs: Int, _ state: RunState, _ optimizer: any Optimizer) throws {
        guard group.isRoot else { state.checkpointedEpochs = epochs; return }
        let progress = Checkpoint.Progress(epochs: epochs, seconds: Self.clock() - state.started, finalLoss: state.lastLoss)
        try Checkpoint.save(task.checkpointTensors, optimizer, identity: identity, progress: progress, on: backend,
                            to: path("checkpoint.safetensors"))
        state.checkpointedEpochs = epochs
    }

    private func report(_ epoch: Int, _ step: Int, _ loss: Double, _ state: RunState, _ optimizer: any Optimizer) {
        let now = Self.clock(), steps = optimizer.steps - state.lastReport.step
        progress(TrainingProgress(epoch: epoch + 1, epochs: settings.epochs, step: step, stepsPerEpoch: task.stepsPerEpoch,
                                  loss: loss, metricName: task.headlineMetric, metric: state.metrics[task.headlineMetric],
                                  stepsPerSecond: Double(steps) / max(now - state.lastReport.time, 1e-9),
                                  ranks: group.size, rowsPerRank: task.batchSize / group.size))
        state.lastReport = (now, optimizer.steps)
    }

    /// summary.json and report.html (and the task's files) from the task's last evaluation, written together once
    /// every reported number is known to be finite.
    private func finish(_ state: RunState) throws -> TrainingSummary {
        var summary = TrainingSummary(experiment: task.experiment, objective: task.objective, epochs: settings.epochs,
                                      seconds: Self.clock() - state.started, backend: backend.info.kind.rawValue,
                                      seed: settings.seed, finalLoss: state.lastLoss, optimizer: settings.optimizer.rawValue,
                                      values: [:])
        guard group.isRoot else { return summary }
        let result = try task.finish()
        summary.values = result.summary
        if group.isDistributed {
            summary.values["ranks"] = .number(Double(group.size))
            summary.values["communication_seconds"] = .number(group.communicationSeconds)
        }
        try summary.checkFinite()
        let plots = [ReportPlot.metrics(title: "training loss by step", series: [("loss", "step", "loss")])] + result.plots
        let html = Report.html(summary: summary, facts: result.facts, plots: plots, metrics: try state.log.entries())
        try FileIO.writeAll([("summary.json", try summary.encoded()), ("report.html", Data(html.utf8))] + result.files, into: directory)
        return summary
    }

    static func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives
import LDMParallel
import LDMTraining

/// `ldm train`: one subcommand per training task, all run by the same loop (metrics, checkpoints, resume, Ctrl-C,
/// summary, report). `ldm train --experiment NAME` (the form before the subcommands) still works.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model end to end (Kalman-LDM or CPC on dot-motion videos, ICA, two-view LDM, image SSL).",
        discussion: """
            Every task writes to --out: metrics.jsonl (a line every few steps and one per evaluation), \
            checkpoint.safetensors (atomically, at every evaluation), summary.json and report.html. Ctrl-C or SIGTERM \
            stops after the current step with the last checkpoint intact; --resume continues from it and ends exactly \
            where an uninterrupted run ends. Without a subcommand, trains `kalman` (square dot motion); \
            `ldm train --experiment square|figure8|circular|circular-inferred|ou-ica|two-view [...]` picks the task \
            as before (--objective cpc with a video experiment is the cpc task).
            """,
        subcommands: [TrainKalman.self, TrainCPC.self, TrainICA.self, TrainTwoView.self, TrainImage.self, TrainByExperiment.self],
        defaultSubcommand: TrainByExperiment.self)
}

/// What every training subcommand does once its task is built: open the backend, run the loop with a progress
/// line and signal handling, print the result.
struct TrainingRunner {
    let backend: BackendOptions
    let run: RunOptions

    /// Runs the task `make` builds on the chosen backend into `--out` (default `runs/<defaultName>`).
    /// Under mpirun every rank runs this: each opens its own backend (``BackendOptions/open(as:)``), and
    /// rank 0 alone reports progress and prints the result.
    func train(defaultName: String, _ make: (any Backend) throws -> any TrainingTask) throws {
        try reportingErrors {
            let group = try openProcessGroup(timeout: run.mpiTimeout)
            try asRank(of: group) {
                let engine = try backend.open(as: group)
                let task = try make(engine)
                let directory = run.out ?? "runs/\(defaultName)"
                let loop = TrainingLoop(task, on: engine, directory: directory)
                loop.stopOnSignals = true
                loop.group = group
                if let gradientsOut = run.gradientsOut { return try writeFirstStepGradients(loop, to: gradientsOut) }
                if !run.quiet && group.isRoot {
                    let ranks = group.isDistributed ? ", \(group.size) ranks × \(task.batchSize / group.size) of each batch of \(task.batchSize)" : ""
                    note("training \(task.experiment) (\(task.objective)) on \(engine.info)\(ranks) → \(directory)")
                    loop.progress = Self.progressLine(terminal: isatty(STDERR_FILENO) != 0)
                }
                do {
                    let summary = try loop.run(resume: run.resume, overwrite: run.overwrite)
                    guard group.isRoot else { return }
                    if run.json { try printJSON(summary) } else { print(Self.describe(summary)) }
                } catch let stop as TrainingInterrupted {
                    if group.isRoot { note("\nldm: \(stop)") }
                    throw ExitCode(128 + (stop.signal ?? SIGINT))
                }
            }
        }
    }

    /// `--gradients-out`: the next step's loss and gradients, from the initial parameters or with `--resume` the
    /// checkpoint's (rank 0 writes them, atomically).
    private func writeFirstStepGradients(_ loop: TrainingLoop, to path: String) throws {
        let (loss, gradients) = try loop.firstStepGradients(resume: run.resume)
        guard loop.group.isRoot else { return }
        guard loss.isFinite else { throw LDMError.invalidArgument("the first step's loss is \(loss)") }
        let shapes = Dictionary(uniqueKeysWithValues: loop.task.parameters.map { ($0.name, $0.value.shape.dims) })
        let tensors = gradients.map { ($0.name, $0.values, shapes[$0.name] ?? [$0.values.count]) }
        try SafeTensors.write(tensors, metadata: ["loss": String(loss), "ranks": String(loop.group.size),
                                                  "experiment": loop.task.experiment, "objective": loop.task.objective], to: path)
        if !run.quiet { note("wrote the first step's loss \(loss) and \(gradients.count) gradients to \(path)") }
    }

    /// On a terminal the line redraws in place; in a log, only the end of each epoch is written.
    static func progressLine(terminal: Bool) -> (TrainingProgress) -> Void {
        { p in
            guard terminal || p.step == p.stepsPerEpoch else { return }
            let filled = Int(20 * Double(p.step) / Double(p.stepsPerEpoch))
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 20 - filled)
            let metric = p.metric.map { String(format: " %@ %.4f", label(p.metricName), $0) } ?? ""
            let ranks = p.ranks > 1 ? String(format: " (%d ranks × %d rows)", p.ranks, p.rowsPerRank) : ""
            FileHandle.standardError.write(Data(String(format: "%@epoch %d/%d [%@] loss %.4g%@ %.1f steps/s%@ ", terminal ? "\r" : "",
                                                       p.epoch, p.epochs, bar, p.loss, metric, p.stepsPerSecond, ranks).utf8))
            if p.step == p.stepsPerEpoch { FileHandle.standardError.write(Data("\n".utf8)) }
        }
    }

    /// The metrics a summary line shows, in this order, with their labels.
    static let shown = [("linear_probe_accuracy", "linear probe"), ("knn_accuracy", "kNN"),
                        ("raw_pixel_probe_accuracy", "raw-pixel probe"), ("steps_per_second", "steps/s"),
                        ("clustering_accuracy", "clustering accuracy"), ("mcc", "MCC"), ("r2", "R²"),
                        ("oracle_r2", "oracle R²"), ("retrieval_top1", "retrieval top-1"),
                        ("rotation_per_step", "rotation per step (rad)"), ("unmixing_angle", "unmixing angle (rad)")]

    static func label(_ metric: String) -> String {
        ["r2": "R²", "mcc": "MCC", "clustering_accuracy": "accuracy", "retrieval_top1": "top-1", "knn_accuracy": "kNN"][metric] ?? metric
    }

    /// `square (knn): R² 0.9771, rotation per step (rad) 0.3147 after 20 epochs in 3.6 s on cpu`.
    static func describe(_ summary: TrainingSummary) -> String {
        let metrics = shown.compactMap { key, label in summary.number(key).map { String(format: "%@ %.4f", label, $0) } }
        return String(format: "%@ (%@): %@ after %d epochs in %.1f s on %@", summary.experiment, summary.objective,
                      metrics.joined(separator: ", "), summary.epochs, summary.seconds, summary.backend)
    }
}

/// `ldm train --experiment NAME [options]`: the form before the subcommands, mapped onto them (the video
/// experiments to `kalman`, or `cpc` with `--objective cpc`; `ou-ica` to `ica`; `two-view`). Each subcommand's
/// parser then refuses any option that does not belong to its task.
struct TrainByExperiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment", abstract: "Train by --experiment name, as before the subcommands.", shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough, help: "--experiment NAME and the task's options.")
    var arguments: [String] = []

    func run() throws {
        var rest = arguments, experiment = "square"
        if let index = rest.firstIndex(where: { $0 == "--experiment" || $0.hasPrefix("--experiment=") }) {
            if rest[index].hasPrefix("--experiment=") {
                experiment = String(rest[index].dropFirst("--experiment=".count))
                rest.remove(at: index)
            } else {
                guard index + 1 < rest.count else { throw ValidationError("Missing value for '--experiment <name>'") }
                experiment = rest[index + 1]
                rest.removeSubrange(index...(index + 1))
            }
        }
        switch experiment {
        case "ou-ica": try Self.run("ica", rest)
        case "two-view": try Self.run("two-view", rest)
        case _ where VideoExperiment(rawValue: experiment) != nil:
            let cpc = rest.indices.first { rest[$0] == "--objective=cpc" || (rest[$0] == "--objective" && rest.indices.contains($0 + 1) && rest[$0 + 1] == "cpc") }
            if let cpc {
                rest.removeSubrange(cpc...(rest[cpc] == "--objective" ? cpc + 1 : cpc))
                try Self.run("cpc", ["--experiment", experiment] + rest)
            } else {
                try Self.run("kalman", ["--experiment", experiment] + rest)
            }
        default:
            throw ValidationError("--experiment must be square, figure8, circular, circular-inferred, ou-ica or two-view, got '\(experiment)'")
        }
    }

    /// Parses `arguments` as `ldm train <subcommand>` (its errors and help are that subcommand's) and runs it.
    static func run(_ subcommand: String, _ arguments: [String]) throws {
        var parsed: any ParsableCommand
        do { parsed = try LDM.parseAsRoot(["train", subcommand] + arguments) } catch { LDM.exit(withError: error) }
        try parsed.run()
    }
}

extension VideoExperiment: ExpressibleByArgument {}
extension KalmanLDMVariant: ExpressibleByArgument {}

import ArgumentParser
import Foundation
import LDMData
import LDMEngine
import LDMObjectives
import LDMParallel
import LDMTraining

/// `ldm parallel-check`: whether N processes compute the one-process gradients. Each case's first training step
/// (loss and the gradient of every parameter, summed over the ranks) is written by one run and compared by another.
struct ParallelCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parallel-check",
        abstract: "Check that N processes compute the one-process loss and gradients (every two-view objective, Kalman-LDM, CPC, image).",
        discussion: """
            Run it once plainly with --out DIR, then under mpirun with --compare DIR (e.g. `mpirun -np 4 ldm \
            parallel-check --compare DIR`): for each case rank 0 prints the loss's relative difference and the \
            gradient's, ‖g_N − g_1‖ / ‖g_1‖ over all parameters together (a gradient that is zero in exact arithmetic, \
            such as a bias under a translation-invariant objective, holds only rounding, so it is not compared alone), \
            and exits with status 1 when either exceeds --tolerance. Every case's global batch splits evenly over 1, 2, \
            4 and 8 ranks.
            """)

    @OptionGroup var backend: BackendOptions
    @Option(help: "Write each case's loss and gradients to DIR/<case>.safetensors.") var out: String?
    @Option(help: "Compare each case with DIR/<case>.safetensors from an earlier run.") var compare: String?
    @Option(parsing: .upToNextOption, help: "Cases (default: every two-view objective; simclr, vicreg and byol with --sync-batch-norm (NAME-sync-batch-norm); kalman-knn, kalman-stop-gradient, cpc; image and image-sync-batch-norm when Fashion-MNIST is installed).")
    var cases: [String] = []
    @Option(help: "The largest relative difference accepted (default 1e-5).") var tolerance: Double = 1e-5
    @Option(help: "Seconds a rank waits for the others in a collective (default 600).") var mpiTimeout: Double = 600
    @Flag(help: "With --compare: one JSON object per case on standard output instead of the table.") var json = false

    func validate() throws {
        if out == nil && compare == nil { throw ValidationError("give --out DIR, --compare DIR or both") }
        guard tolerance.isFinite, tolerance > 0 else { throw ValidationError("--tolerance must be positive, got \(tolerance)") }
        guard mpiTimeout.isFinite, mpiTimeout > 0 else { throw ValidationError("--mpi-timeout must be positive, got \(mpiTimeout)") }
    }

    /// The two-view objectives: the presets that train on two views and every valid grid point.
    static var twoViewObjectives: [String] {
        let presets = ObjectiveRegistry.presets.filter(\.trainsTwoViews).map(\.name)
        let grid = ObjectiveRegistry.Latent.allCases.flatMap { latent in
            ObjectiveRegistry.Entropy.allCases.flatMap { entropy in
                [false, true].compactMap { mi in (try? ObjectiveRegistry.gridPoint(latent, entropy, mi: mi))?.name }
            }
        }
        return presets + grid
    }

    /// A two-view case with BatchNorm synchronised over the ranks (`simclr-sync-batch-norm`).
    static let syncSuffix = "-sync-batch-norm"

    /// A case's task, on small data with a global batch of 64 pairs (8 sequences for the video tasks).
    static func task(_ name: String, on backend: any Backend) throws -> any TrainingTask {
        switch name {
        case "kalman-knn", "kalman-stop-gradient":
            return try KalmanLDMTask(KalmanLDMConfiguration(experiment: .square, variant: name == "kalman-knn" ? .knn : .stopGradient),
                                     on: backend)
        case "cpc":
            return try CPCTask(CPCConfiguration(experiment: .square), on: backend)
        case "image", "image-sync-batch-norm":
            var c = ImageConfiguration()
            (c.trainRows, c.testRows, c.batch) = (256, 16, 64)
            (c.batchNorm, c.syncBatchNorm) = (name != "image", name != "image")
            return try ImageTask(c, data: try ImageDataset.idx(), on: backend)
        default:
            let synchronised = name.hasSuffix(syncSuffix), objective = synchronised ? String(name.dropLast(syncSuffix.count)) : name
            let spec = try ObjectiveRegistry.spec(named: objective)
            var c = TwoViewConfiguration()
            (c.objective, c.trainCount, c.testCount, c.probeCount, c.batch) = (objective, 512, 16, 16, 64)
            (c.batchNorm, c.syncBatchNorm) = (synchronised, synchronised)
            if spec.head == .softmax { c.data.latent = .clusters }
            return try TwoViewTask(c, on: backend)
        }
    }

    func run() throws {
        try reportingErrors {
            let group = try openProcessGroup(timeout: mpiTimeout)
            try asRank(of: group) {
                let engine = try backend.open(as: group)
                let imageData = FileManager.default.fileExists(atPath: ImageDataset.fashionMNISTDirectory)
                let names = cases.isEmpty
                    ? Self.twoViewObjectives + ["simclr", "vicreg", "byol"].map { $0 + Self.syncSuffix }
                      + ["kalman-knn", "kalman-stop-gradient", "cpc"] + (imageData ? ["image", "image-sync-batch-norm"] : []) : cases
                if let out, group.isRoot { try createOutputDirectory(out) }
                var failures: [String] = []
                for name in names {
                    let task = try Self.task(name, on: engine)
                    let loop = TrainingLoop(task, on: engine, directory: out ?? ".")
                    loop.group = group
                    let (loss, gradients) = try loop.firstStepGradients()
                    guard group.isRoot else { continue }
                    guard loss.isFinite else { throw LDMError.invalidArgument("\(name): the first step's loss is \(loss)") }
                    let shapes = Dictionary(uniqueKeysWithValues: task.parameters.map { ($0.name, $0.value.shape.dims) })
                    if let out {
                        try SafeTensors.write(gradients.map { ($0.name, $0.values, shapes[$0.name] ?? [$0.values.count]) },
                                              metadata: ["loss": String(loss), "ranks": String(group.size)],
                                              to: (out as NSString).appendingPathComponent(name + ".safetensors"))
                    }
                    if let compare {
                        let difference = try Self.difference(loss, gradients, (compare as NSString).appendingPathComponent(name + ".safetensors"))
                        let pass = difference.loss <= tolerance && difference.gradient <= tolerance
                        if json {
                            let entry: [String: Any] = ["case": name, "ranks": group.size, "loss": loss, "loss_difference": difference.loss,
                                                        "gradient_difference": difference.gradient, "most_different": difference.worst]
                            print(String(decoding: try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]), as: UTF8.self))
                        } else {
                            print(String(format: "%@ %@: loss %.6g, loss difference %.2e, gradient difference %.2e (most in %@)",
                                         pass ? "ok  " : "FAIL", name, loss, difference.loss, difference.gradient, difference.worst))
                        }
                        if !pass { failures.append(name) }
                    }
                }
                if group.isRoot, compare != nil, !json {
                    print(failures.isEmpty ? "all \(names.count) cases agree on \(group.size) rank\(group.size == 1 ? "" : "s") within \(tolerance)"
                                           : "\(failures.count) of \(names.count) cases differ: \(failures.joined(separator: ", "))")
                }
                try group.communicator.barrier()
                if !failures.isEmpty { throw ExitCode(1) }
            }
        }
    }

    /// The loss's relative difference, and the gradient's: ‖g_N − g_1‖ / ‖g_1‖ over every parameter together, with
    /// the parameter that differs most (by ‖Δ_p‖).
    static func difference(_ loss: Double, _ gradients: [(name: String, values: [Float])], _ path: String) throws
        -> (loss: Double, gradient: Double, worst: String) {
        let recorded = try SafeTensors.read(path)
        guard let text = recorded.metadata["loss"], let reference = Double(text) else {
            throw LDMError.invalidFile(path: path, problem: "has no loss in its metadata")
        }
        var (squaredDelta, squaredNorm, worst, worstName) = (0.0, 0.0, -1.0, "-")
        for g in gradients {
            guard let (values, _) = recorded.tensors[g.name], values.count == g.values.count else {
                throw LDMError.invalidFile(path: path, problem: "has no gradient \(g.name) of \(g.values.count) values")
            }
            let delta = zip(g.values, values).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
            squaredDelta += delta
            squaredNorm += values.reduce(0.0) { $0 + Double($1) * Double($1) }
            if delta > worst || delta.isNaN { (worst, worstName) = (delta, g.name) }
        }
        return (abs(loss - reference) / max(abs(reference), 1e-30), (squaredDelta / max(squaredNorm, 1e-300)).squareRoot(), worstName)
    }
}

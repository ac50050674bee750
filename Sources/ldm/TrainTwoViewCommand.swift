import ArgumentParser
import Foundation
import LDMData
import LDMEngine
import LDMMetrics
import LDMObjectives
import LDMTraining

/// `ldm train two-view`: an encoder trained with any two-view objective, on synthetic views or the user's arrays.
struct TrainTwoView: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "two-view",
        abstract: "Train an encoder on pairs of views with any two-view objective.",
        discussion: """
            An MLP encoder d → 128 → 128 → d on pairs x = g(s + 0.1·ε) of latents s on the sphere (or --latent \
            gaussian, or clusters) through a fixed random invertible MLP g; Adam 0.01 with a one-epoch warm-up and \
            cosine decay, batch 256, 10 240 pairs, 50 epochs. Or your own paired views with --view1/--view2 (N × d \
            .npy; optional --latents N × k for the probe, --labels N for the clustering accuracy; the last --test-rows \
            rows are held out). Reports the held-out probe R² to the latents, the MCC, the top-1 retrieval and the \
            oracle R² of g⁻¹(x₁) = s + ε₁ (the ceiling); the clustering objectives put a softmax over --classes on \
            the encoder and report the clustering accuracy. Objectives: \(ObjectiveRegistry.accepted).
            """)

    @Option(help: "The objective (default ldm-contrastive): a preset or LATENT+ENTROPY[+mi], e.g. plane+knn.")
    var objective = "ldm-contrastive"
    @Option(help: "The synthetic latent: sphere, gaussian or clusters (default sphere; clusters for the clustering objectives).")
    var latent: TwoViewData.Latent?
    @Option(parsing: .unconditional, help: "Synthetic training pairs (default 10240).") var trainRows: Int?
    @Option(parsing: .unconditional, help: "Held-out rows (default 2048; the last rows of your arrays).") var testRows: Int?
    @Option(parsing: .unconditional, help: "Pairs per batch (default 256).") var batchSize: Int?
    @Flag(help: "BatchNorm after each hidden layer of the encoder.") var batchNorm = false
    @Flag(help: "Under mpirun: BatchNorm statistics over every rank's rows, as one process computes them for the whole batch (default: each rank's own).")
    var syncBatchNorm = false
    @Option(parsing: .unconditional, help: "Clusters of the synthetic clusters latent and width of the clustering softmax (default 10; with --labels, the labels' count).")
    var classes: Int?
    @Option(parsing: .unconditional, help: "byol/jepa: base momentum of the target encoder, rising to 1 on a cosine (default 0.99); 0: the online encoder is its own detached target (SimSiam).")
    var targetMomentum: Float?
    @Option(help: "Your first views, N × d .npy (with --view2).") var view1: String?
    @Option(help: "Your second views, N × d .npy, row i paired with --view1's row i.") var view2: String?
    @Option(help: "The true latents of your views, N × k .npy, for the probe R² and MCC (optional).") var latents: String?
    @Option(help: "Class labels of your views, N whole numbers as a float .npy (labels.astype(np.float32)) (optional).")
    var labels: String?
    @OptionGroup(title: "Backend") var backend: BackendOptions
    @OptionGroup(title: "Run") var settings: RunOptions
    @OptionGroup(title: "Optimiser") var optimizer: OptimizerOptions

    func validate() throws {
        _ = try Check.twoViewObjective(objective, targetMomentum: targetMomentum)
        guard (view1 == nil) == (view2 == nil) else { throw ValidationError("--view1 and --view2 go together") }
        if view1 == nil, latents != nil || labels != nil {
            throw ValidationError("--latents and --labels need --view1 and --view2 (the synthetic data bring their own)")
        }
        if view1 != nil, latent != nil || trainRows != nil {
            throw ValidationError("--latent and --train-rows describe the synthetic data; your arrays come with --view1/--view2")
        }
        try Check.within(classes, 2...10_000, "--classes")
        try Check.within(trainRows, 2...10_000_000, "--train-rows")
        try Check.within(testRows, 2...10_000_000, "--test-rows")
        try Check.within(batchSize, 2...1_000_000, "--batch-size")
    }

    func run() throws {
        var c = TwoViewConfiguration()
        c.objective = objective
        let spec = try ObjectiveRegistry.spec(named: objective)
        c.data.latent = latent ?? (spec.head == .softmax ? .clusters : .sphere)
        if let trainRows { c.trainCount = trainRows }
        if let testRows { c.testCount = testRows }
        if let batchSize { c.batch = batchSize }
        c.batchNorm = batchNorm
        c.syncBatchNorm = syncBatchNorm
        if let targetMomentum { c.targetMomentum = targetMomentum }
        if let view1, let view2 { c.arrays = try loadViews(view1, view2) }
        if let classes { c.data.classes = classes } else if let labels = c.arrays?.labels { c.data.classes = max(2, (labels.max() ?? 0) + 1) }
        // The warm-up is one epoch of the data as configured.
        c.run.schedule = c.defaultSchedule
        settings.apply(to: &c.run)
        optimizer.apply(to: &c.run)
        try TrainingRunner(backend: backend, run: settings).train(defaultName: "two-view") { [c] in try TwoViewTask(c, on: $0) }
    }

    /// The user's paired views (and latents, and labels) from .npy files, checked for shape and finiteness.
    func loadViews(_ path1: String, _ path2: String) throws -> TwoViewArrays {
        let a = try readMatrix(path1, what: "--view1"), b = try readMatrix(path2, what: "--view2")
        guard a.rows == b.rows, a.columns == b.columns else {
            throw LDMError.shapeMismatch(operation: "ldm train two-view",
                                         detail: "--view1 is \(a.rows) × \(a.columns) and --view2 \(b.rows) × \(b.columns); they must match")
        }
        let truth = try latents.map { path in
            let s = try readMatrix(path, what: "--latents")
            guard s.rows == a.rows else {
                throw LDMError.shapeMismatch(operation: "ldm train two-view", detail: "--latents has \(s.rows) rows, the views \(a.rows)")
            }
            return s
        }
        let classes = try labels.map { path in
            let values = try readWholeNumbers(path, what: "the labels")
            guard values.count == a.rows else {
                throw LDMError.invalidFile(path: path, problem: "expected \(a.rows) labels, one per row of the views, found \(values.count)")
            }
            // Classes are the distinct labels (renumbered), so one large label cannot size the softmax.
            let (dense, count) = Metrics.denseIDs(values)
            guard count <= 10_000 else {
                throw LDMError.invalidFile(path: path, problem: "\(count) distinct labels; at most 10000 classes are supported")
            }
            return dense
        }
        return TwoViewArrays(view1: a.values, view2: b.values, latents: truth?.values, labels: classes, count: a.rows,
                             dimension: a.columns, latentDimension: truth?.columns ?? a.columns)
    }
}

extension TwoViewData.Latent: ExpressibleByArgument {}

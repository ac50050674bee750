import ArgumentParser
import Foundation
import LDMData
import LDMEngine
import LDMObjectives
import LDMTraining

/// `ldm train image`: a convolutional encoder trained on two augmented views of each image (Fashion-MNIST by default).
struct TrainImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Train a convolutional encoder on augmented image pairs (Fashion-MNIST by default).",
        discussion: """
            Reads Fashion-MNIST from Debian's dataset-fashion-mnist (\(ImageDataset.fashionMNISTDirectory)), any \
            IDX folder with --data (MNIST has the same files), or --images/--labels .npy ([N, H, W] or [N, C, H, W] \
            in [0, 1]; the last --test-rows are the test split). Every step gathers its batch on the device, makes \
            two augmented views of each image there (random resized crop, flip, brightness/contrast jitter, \
            Gaussian noise) and trains encoder + projector with the objective. Reports the weighted kNN accuracy \
            (k = 200, τ = 0.1) after every evaluation, and at the end the linear-probe accuracy on the frozen \
            encoder and on the raw pixels. Defaults: the reference recipe (cnn 32-64-128, projector 128-128-64, \
            simclr τ = 0.5, Adam 1e-3, batch 256, crop scale 0.5–1, flip, noise 0.05, 10 epochs). Objectives: \
            \(ObjectiveRegistry.accepted).
            """)

    @Option(help: "The objective (default simclr): a preset or LATENT+ENTROPY[+mi], e.g. sphere+logdet.") var objective = "simclr"
    @Option(help: "An IDX folder (train-images-idx3-ubyte[.gz], …; default \(ImageDataset.fashionMNISTDirectory)).") var data: String?
    @Option(help: "Images as a float .npy, [N, H, W] or [N, C, H, W] with values in [0, 1] (with --labels).") var images: String?
    @Option(help: "Labels of --images, N whole numbers as a float .npy.") var labels: String?
    @Option(parsing: .unconditional, help: "Train on the first N training images (default all).") var trainRows: Int?
    @Option(parsing: .unconditional, help: "Evaluate on the first N test images (default all; with --images, the last N images are the test split, default N/7).")
    var testRows: Int?
    @Option(help: "cnn or resnet18 (default cnn).") var encoder: ImageEncoder = .cnn
    @Option(help: "The cnn's three widths (default 32,64,128) or the resnet's first (default 64), comma-separated.") var widths: String?
    @Flag(help: "BatchNorm after every cnn convolution and in the projector.") var batchNorm = false
    @Flag(help: "Under mpirun: BatchNorm statistics over every rank's rows, as one process computes them for the whole batch (default: each rank's own).")
    var syncBatchNorm = false
    @Option(help: "The projector's widths after the encoder, comma-separated (default 128,64).") var projector: String?
    @Option(parsing: .unconditional, help: "Images per batch (two views each; default 256).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Smallest crop area share (default 0.5; the largest is 1).") var cropScale: Float?
    @Option(parsing: .unconditional, help: "Brightness jitter b: factors in 1 ± b (default 0).") var brightness: Float?
    @Option(parsing: .unconditional, help: "Contrast jitter c: factors in 1 ± c (default 0).") var contrast: Float?
    @Option(parsing: .unconditional, help: "σ of the additive Gaussian noise (default 0.05).") var noise: Float?
    @Flag(help: "No horizontal flips.") var noFlip = false
    @Option(parsing: .unconditional, help: "byol/jepa: base momentum of the target network (default 0.99; 0: SimSiam).") var targetMomentum: Float?
    @OptionGroup(title: "Backend") var backend: BackendOptions
    @OptionGroup(title: "Run") var settings: RunOptions
    @OptionGroup(title: "Optimiser") var optimizer: OptimizerOptions

    func validate() throws {
        _ = try Check.twoViewObjective(objective, targetMomentum: targetMomentum)
        guard (images == nil) == (labels == nil) else { throw ValidationError("--images and --labels go together") }
        if images != nil && data != nil { throw ValidationError("--data and --images exclude each other") }
        try Check.within(trainRows, 2...GatherShape.maximumRows, "--train-rows")
        try Check.within(testRows, 1...GatherShape.maximumRows, "--test-rows")
        try Check.within(batchSize, 2...65_536, "--batch-size")
        if let cropScale, !(cropScale.isFinite && cropScale > 0 && cropScale <= 1) { throw ValidationError("--crop-scale must be in (0, 1], got \(cropScale)") }
        for (value, option) in [(brightness, "--brightness"), (contrast, "--contrast")] {
            if let value, !(value.isFinite && (0...1).contains(value)) { throw ValidationError("\(option) must be in [0, 1], got \(value)") }
        }
        if let noise, !(noise.isFinite && (0...10).contains(noise)) { throw ValidationError("--noise must be in [0, 10], got \(noise)") }
        _ = try parsedWidths(widths, "--widths")
        _ = try parsedWidths(projector, "--projector")
    }

    /// "32,64,128" as [32, 64, 128], each in 1…65536.
    func parsedWidths(_ text: String?, _ option: String) throws -> [Int]? {
        guard let text else { return nil }
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map { (1...65_536).contains($0) } ?? false }) else {
            throw ValidationError("\(option) must be comma-separated whole numbers in 1…65536, got '\(text)'")
        }
        return values.map { $0! }
    }

    func run() throws {
        var c = ImageConfiguration()
        c.objective = objective
        c.encoder = encoder
        c.widths = try parsedWidths(widths, "--widths")
        if let projector = try parsedWidths(projector, "--projector") { c.projector = projector }
        c.batchNorm = batchNorm
        c.syncBatchNorm = syncBatchNorm
        if let batchSize { c.batch = batchSize }
        if let cropScale { c.scale = cropScale...1 }
        if let brightness { c.brightness = brightness }
        if let contrast { c.contrast = contrast }
        if let noise { c.noise = noise }
        if noFlip { c.flipProbability = 0 }
        if let targetMomentum { c.targetMomentum = targetMomentum }
        settings.apply(to: &c.run)
        optimizer.apply(to: &c.run)
        try reportingErrors {
            let dataset: ImageDataset
            if let images, let labels {
                dataset = try ImageDataset.numpy(images: images, labels: labels, testRows: testRows)
                c.source = images
            } else {
                dataset = try ImageDataset.idx(directory: data ?? ImageDataset.fashionMNISTDirectory)
                c.source = data ?? ImageDataset.fashionMNISTDirectory
                c.testRows = testRows
            }
            c.trainRows = trainRows
            try TrainingRunner(backend: backend, run: settings).train(defaultName: "image") { [c] in
                try ImageTask(c, data: dataset, on: $0)
            }
        }
    }
}

extension ImageEncoder: ExpressibleByArgument {}

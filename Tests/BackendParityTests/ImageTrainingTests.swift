import Foundation
import LDMData
import LDMEngine
import LDMTraining
import Testing

/// Fashion-MNIST, read once for the suites that train on it.
enum FashionMNIST {
    static let data = Result { try ImageDataset.idx() }
}

/// The image task end to end: a short run learns (its kNN accuracy beats the untrained encoder's), the OpenCL
/// backend reaches the CPU backend's accuracy, resume is exact, and `ldm train image` refuses bad data by name.
@Suite("Image training")
struct ImageTrainingTests {
    static func quick() -> ImageConfiguration {
        var c = ImageConfiguration()
        (c.trainRows, c.testRows, c.batch) = (768, 1000, 96)
        c.run.epochs = 2
        c.run.evaluateEvery = 2   // one evaluation, at the end
        c.run.logEvery = 1
        c.run.schedule = .constant(2e-3)
        return c
    }

    /// Two epochs on 768 images (1000 test images): the NT-Xent loss falls, every summary key is there, the report shows the views and
    /// the embedding, and the OpenCL backend's kNN and linear-probe accuracies are the CPU backend's within 0.01. (That
    /// the representation learns, against the untrained encoder and the raw pixels, needs thousands of steps: the
    /// runs in docs/image.md.)
    @Test(.enabled(if: ImageDataTests.available, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func aShortRunTrainsAndTheBackendsAgree() throws {
        let data = try FashionMNIST.data.get()
        var summaries: [String: TrainingSummary] = [:]
        for name in TestBackends.all {
            let backend = try TestBackends.named(name)
            let directory = temporaryDirectory("image-\(name)")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            summaries[name] = try train(try ImageTask(Self.quick(), data: data, on: backend), on: backend, into: directory)
            let report = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
            #expect(report.contains("data:image/bmp;base64,") && report.contains("<circle"), "the report shows views and the PCA")
            #expect(FileManager.default.fileExists(atPath: directory + "/test_representations.npy"))
            let losses = try metricsLines(directory).compactMap { $0["loss"] as? Double }
            #expect(losses.count == 16 && losses.suffix(4).reduce(0, +) < losses.prefix(4).reduce(0, +) - 0.4,
                    "step losses \(losses) on \(name)")
        }
        let cpu = try #require(summaries["cpu"])
        for key in ["knn_accuracy", "linear_probe_accuracy", "raw_pixel_probe_accuracy", "steps_per_second"] {
            #expect((cpu.number(key) ?? 0) > 0, "\(key)")
        }
        #expect((cpu.number("raw_pixel_probe_accuracy") ?? 0) > 0.6)
        if let opencl = summaries["opencl"] {
            for key in ["knn_accuracy", "linear_probe_accuracy"] {
                let (a, b) = (cpu.number(key) ?? .nan, opencl.number(key) ?? .nan)
                #expect(abs(a - b) <= 0.01, "\(key): cpu \(a), opencl \(b)")
            }
        }
    }
}

extension ImageTrainingTests {
    /// The other kinds of objective train images too: the stop-gradient method with its predictor and momentum
    /// target, the clustering head (its width the number of classes) and a grid point with the log-det entropy;
    /// their checkpoints hold what they add.
    @Test(.enabled(if: ImageDataTests.available, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"),
          arguments: ["byol", "clustering", "sphere+logdet"])
    func everyKindOfObjectiveTrainsImages(_ objective: String) throws {
        let data = try FashionMNIST.data.get(), backend = try TestBackends.named("cpu")
        var c = ImageConfiguration()
        (c.trainRows, c.testRows, c.batch, c.objective, c.batchNorm) = (128, 100, 64, objective, true)
        c.run.epochs = 1
        let directory = temporaryDirectory("image-\(objective)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let task = try ImageTask(c, data: data, on: backend)
        let summary = try train(task, on: backend, into: directory)
        #expect(summary.finalLoss.isFinite && (summary.number("knn_accuracy") ?? -1) >= 0, "\(objective)")
        let names = Set(try SafeTensors.read(directory + "/checkpoint.safetensors").tensors.keys)
        if objective == "byol" { #expect(names.contains("predictor.0.weight") && names.contains("target.conv0.weight")) }
        if objective == "clustering" { #expect(task.learner.output == 10) }
    }

    /// A run stopped mid-epoch and resumed ends where the uninterrupted run ends: the views come from the step counter
    /// and the batches from the seeded order, so the resumed steps see the same data.
    @Test(.enabled(if: ImageDataTests.available, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func aResumedImageRunEndsWhereTheUninterruptedRunEnds() throws {
        let data = try FashionMNIST.data.get(), backend = try TestBackends.named("cpu")
        var c = ImageConfiguration()
        (c.trainRows, c.testRows, c.batch, c.batchNorm) = (192, 100, 64, true)
        c.run.epochs = 2
        let (straight, resumed) = (temporaryDirectory("image-straight"), temporaryDirectory("image-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let expected = try train(try ImageTask(c, data: data, on: backend), on: backend, into: straight)
        #expect(throws: TrainingInterrupted.self) {
            _ = try train(try ImageTask(c, data: data, on: backend), on: backend, into: resumed, stopAfter: 4)
        }
        let summary = try train(try ImageTask(c, data: data, on: backend), on: backend, into: resumed, resume: true)
        #expect(summary.finalLoss == expected.finalLoss && summary.number("knn_accuracy") == expected.number("knn_accuracy"))
        let (a, b) = (try SafeTensors.read(straight + "/checkpoint.safetensors").tensors,
                      try SafeTensors.read(resumed + "/checkpoint.safetensors").tensors)
        #expect(a.count == b.count && a.allSatisfy { name, tensor in b[name]?.0 == tensor.0 }, "checkpoints differ")
    }
}

/// `ldm train image` as a user runs it: bad data and bad options end with a one-line error naming the cause.
@Suite("ldm train image")
struct TrainImageCommandTests {
    @Test func badDataAndOptionsAreRefusedByName() throws {
        let directory = try HardeningTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try NumPyFile.write([Float](repeating: 0.5, count: 24), shape: [4, 6], to: directory + "/matrix.npy")
        try NumPyFile.write([Float](repeating: 0.5, count: 8 * 16), shape: [8, 4, 4], to: directory + "/images.npy")
        try NumPyFile.write([0, 1, 0], shape: [3], to: directory + "/labels.npy")
        try HardeningTests.expectRefused(["train", "image", "--data", directory + "/missing", "--out", directory + "/run"],
                                         directory + "/missing/train-images-idx3-ubyte")
        try HardeningTests.expectRefused(["train", "image", "--images", directory + "/matrix.npy", "--labels", directory + "/labels.npy",
                                          "--out", directory + "/run"], "[N, H, W] or [N, C, H, W]")
        try HardeningTests.expectRefused(["train", "image", "--images", directory + "/images.npy", "--labels", directory + "/labels.npy",
                                          "--out", directory + "/run"], "3 labels for the 8 images")
        try HardeningTests.expectRefused(["train", "image", "--images", directory + "/images.npy"], "--images and --labels go together")
        try HardeningTests.expectRefused(["train", "image", "--objective", "ica"], "does not train on two views")
        try HardeningTests.expectRefused(["train", "image", "--widths", "32,x"], "--widths must be comma-separated")
        try HardeningTests.expectRefused(["train", "image", "--batch-size", "9223372036854775807"], "--batch-size must be in")
        try HardeningTests.expectRefused(["train", "image", "--crop-scale", "0"], "--crop-scale must be in (0, 1]")
        #expect(!FileManager.default.fileExists(atPath: directory + "/run/summary.json"))
    }
}

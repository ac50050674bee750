import Foundation
import LDMData
import LDMEngine
import LDMMetrics
import LDMObjectives
import LDMParallel
import LDMReference

/// The image task's settings: a convolutional encoder and a projector trained on two augmented views of each image
/// with any two-view objective. The defaults are the reference recipe: the small cnn (32, 64, 128), projector
/// 128 → 128 → 64, NT-Xent at τ = 0.5 (`simclr`), Adam 1e-3, batch 256, random resized crop (scale 0.5–1) +
/// horizontal flip + Gaussian noise 0.05, 10 epochs.
public struct ImageConfiguration: Sendable {
    /// Where the images came from (a folder or a file), and how many of each split are used (nil: all).
    public var source = ImageDataset.fashionMNISTDirectory
    public var trainRows: Int?, testRows: Int?
    public var batch = 256
    public var encoder = ImageEncoder.cnn
    /// The cnn's three widths or the resnet's first (nil: the encoder's default).
    public var widths: [Int]?
    /// BatchNorm after every cnn convolution and in the projector (the resnet always has it).
    public var batchNorm = false
    /// In a data-parallel run, BatchNorm statistics over every rank's rows (otherwise each rank's own).
    public var syncBatchNorm = false
    /// The projector's hidden and output widths (the encoder's features → hidden → output), z's width the last.
    public var projector = [128, 64]
    /// The augmentation (its batch, sizes, normalisation, seed and counter are set per step).
    public var scale: ClosedRange<Float> = 0.5...1
    public var ratio: ClosedRange<Float> = Float(3.0 / 4)...Float(4.0 / 3)
    public var flipProbability: Float = 0.5
    public var brightness: Float = 0, contrast: Float = 0, noise: Float = 0.05
    /// The stop-gradient methods' base target momentum (see ``TwoViewConfiguration/targetMomentum``).
    public var targetMomentum: Float = 0.99
    public var objective = "simclr"
    /// The weighted kNN classifier's neighbours and temperature, and the linear probe's L2 weight.
    public var knnNeighbours = 200, knnTemperature = 0.1
    public var probeLambda = 1e-4
    public var run = RunSettings(epochs: 10, schedule: .constant(1e-3))

    public init() {}

    /// The augmentation of one step's batch of `batch` images.
    func augmentation(height: Int, width: Int, channels: Int, mean: Float, standardDeviation: Float, counter: Int) -> AugmentShape {
        var s = AugmentShape(batch: batch, height: height, width: width, channels: channels)
        (s.scale, s.ratio, s.flipProbability) = (scale, ratio, flipProbability)
        (s.brightness, s.contrast, s.noise) = (brightness, contrast, noise)
        (s.mean, s.standardDeviation, s.seed, s.counter) = (mean, standardDeviation, run.seed, UInt64(counter))
        return s
    }
}

/// Trains a convolutional encoder on images: the training images go to the device once; each step gathers its
/// batch there by the epoch's order (gather.cl), makes two augmented views of every image (augment.cl, from the
/// step's counter, so nothing random travels), and takes one ``TwoViewLearner`` step through encoder + projector.
/// Evaluation on the frozen encoder (its representation, before the projector): the weighted kNN classifier after
/// every evaluation, and at the end the linear probe on its features and, for comparison, on the raw pixels.
public final class ImageTask: TrainingTask {
    public let configuration: ImageConfiguration
    public let learner: TwoViewLearner
    /// The encoder alone (the first module of the learner's network): the representation evaluated.
    public let encoder: Sequential
    public let data: ImageDataset
    public let features: Int
    private let trainImages: Tensor, testImages: Tensor, order: Tensor
    /// This rank's images of each batch (all of them on one process), their views, and where they start in the batch.
    private var batchImages: Tensor, views: Tensor, viewParameters: Tensor, share: Range<Int>
    private let normalisation: (mean: Float, standardDeviation: Float)
    private let backend: any Backend
    private var stepStarted: DispatchTime?
    private(set) var stepSeconds = 0.0, timedSteps = 0
    private var last: (train: [Float], test: [Float], knn: Double)?

    /// Batches of images the evaluation encodes at once.
    static let evaluationBatch = 500

    public init(_ configuration: ImageConfiguration, data fullData: ImageDataset, on backend: any Backend) throws {
        let c = configuration
        let spec = try ObjectiveRegistry.spec(named: c.objective)
        guard spec.trainsTwoViews else { throw LDMError.invalidArgument("image: \(c.objective) does not train on two views") }
        data = try ImageDataset(train: fullData.train.prefix(c.trainRows), test: fullData.test.prefix(c.testRows), source: fullData.source)
        let (train, test) = (data.train, data.test)
        guard c.batch >= 2, train.count >= c.batch, test.count >= 1 else {
            throw LDMError.invalidArgument("image: need batches of at least 2 and at least one batch of training images (\(train.count) for batches of \(c.batch)) and a test image")
        }
        guard c.projector.count >= 1, c.projector.allSatisfy({ (1...65_536).contains($0) }) else {
            throw LDMError.invalidArgument("image: the projector needs widths in 1…65536, got \(c.projector)")
        }
        guard train.count <= GatherShape.maximumRows else {
            throw LDMError.invalidArgument("image: at most \(GatherShape.maximumRows) training images, got \(train.count)")
        }
        let size = train.imageSize
        try MemoryBudget.check(floats: [train.count + test.count, size], what: "the images on the device")
        normalisation = train.statistics
        var generator = SeededGenerator(seed: c.run.seed)
        let output = spec.head == .softmax ? max(train.classes, 2) : c.projector.last!
        var encoderFeatures = 0
        var online: Sequential?
        learner = try TwoViewLearner(spec: spec, output: output, activation: .relu, batchNorm: c.batchNorm,
                                     targetMomentum: c.targetMomentum, on: backend, generator: &generator) { name, generator in
            let (network, width) = try c.encoder.make(channels: train.channels, widths: c.widths, batchNorm: c.batchNorm, name: name,
                                                      on: backend, generator: &generator)
            let widths = [width] + c.projector.dropLast() + [output]
            let projector = try Sequential.mlp(widths: widths, activation: .relu, batchNorm: c.batchNorm, name: name + ".projector",
                                               on: backend, generator: &generator)
            if online == nil { (online, encoderFeatures) = (network, width) }
            return Sequential([network, projector])
        }
        encoder = online!
        features = encoderFeatures
        trainImages = try backend.upload(train.pixels, shape: [train.count, train.height, train.width, train.channels])
        testImages = try backend.upload(test.pixels, shape: [test.count, test.height, test.width, test.channels])
        order = try backend.makeTensor([train.count])
        batchImages = try backend.makeTensor([c.batch, train.height, train.width, train.channels])
        let shape = c.augmentation(height: train.height, width: train.width, channels: train.channels, mean: 0, standardDeviation: 1, counter: 0)
        try shape.validate("image")
        views = try backend.makeTensor(shape.outputShape)
        viewParameters = try backend.makeTensor(shape.parameterShape)
        share = 0..<c.batch
        (self.configuration, self.backend) = (configuration, backend)
    }

    public var settings: RunSettings { configuration.run }
    public var experiment: String { "image" }
    public var objective: String { configuration.objective }
    public var itemCount: Int { data.train.count }
    public var batchSize: Int { configuration.batch }
    public var stepsPerEpoch: Int { data.train.count / configuration.batch }
    public var parameters: [Parameter] { learner.parameters }
    public var checkpointTensors: [(String, Tensor)] { learner.checkpointTensors }
    public var headlineMetric: String { "knn_accuracy" }

    /// Each rank gathers and augments its share of every batch (drawing the views the whole batch's images get, so
    /// N ranks train on exactly the views one process makes); the learner gathers the objective's batch.
    public func distribute(over group: ProcessGroup) throws {
        let train = data.train
        share = try group.share(of: configuration.batch, "image: --batch-size")
        batchImages = try backend.makeTensor([share.count, train.height, train.width, train.channels])
        let shape = augmentation(step: 0)
        views = try backend.makeTensor(shape.outputShape)
        viewParameters = try backend.makeTensor(shape.parameterShape)
        learner.group = group
        if configuration.syncBatchNorm { learner.synchroniseBatchNorm() }
    }

    /// The epoch's order goes to the device once (as float32 indices); every batch is gathered from it.
    public func beginEpoch(order permutation: [Int]) throws {
        try backend.write(permutation.map { Float($0) }, to: order)
    }

    /// The augmentation of this rank's share of the step with counter `step` (the report shows step 0's).
    func augmentation(step: Int) -> AugmentShape {
        let train = data.train
        var shape = configuration.augmentation(height: train.height, width: train.width, channels: train.channels,
                                               mean: normalisation.mean, standardDeviation: normalisation.standardDeviation, counter: step)
        (shape.batch, shape.imageOffset, shape.totalBatch) = (share.count, share.lowerBound, configuration.batch)
        return shape
    }

    public func step(_ batch: [Int], _ context: StepContext) throws -> StepOutput {
        stepStarted = DispatchTime.now()
        let (b, train) = (configuration.batch, data.train)
        try backend.gatherRows(trainImages, indices: order, into: batchImages,
                               GatherShape(rows: train.count, columns: train.imageSize, count: share.count,
                                           offset: context.batchIndex * b + share.lowerBound))
        try backend.augment(batchImages, parameters: viewParameters, into: views, augmentation(step: context.step))
        return try learner.step(views, batch: share.count, context)
    }

    public func afterUpdate(_ context: StepContext) throws {
        try learner.afterUpdate(context)
        if let stepStarted {
            stepSeconds += Double(DispatchTime.now().uptimeNanoseconds - stepStarted.uptimeNanoseconds) / 1e9
            timedSteps += 1
        }
        stepStarted = nil
    }

    /// The frozen encoder's representations of `images` [count, H, W, C] (normalised as in training), in batches.
    func represent(_ images: Tensor, count: Int) throws -> Tensor {
        let (train, size) = (data.train, data.train.imageSize)
        let out = try backend.makeTensor([count, features])
        var start = 0
        while start < count {
            let rows = min(Self.evaluationBatch, count - start)
            let block = try backend.makeTensor([rows, train.height, train.width, train.channels])
            try backend.copy(images, offset: start * size, to: block, offset: 0, count: rows * size)
            try backend.scale(block, by: 1 / normalisation.standardDeviation, into: block)
            let shift = try backend.makeTensor([rows * size])
            try backend.fill(shift, with: -normalisation.mean / normalisation.standardDeviation)
            try backend.add(block, try shift.reshaped(block.shape), into: block)
            let z = try encoder.forward(block, training: false)
            try backend.copy(z, offset: 0, to: out, offset: start * features, count: rows * features)
            start += rows
        }
        return out
    }

    public func evaluate() throws -> [String: Double] {
        let (train, test) = (data.train, data.test)
        let trainZ = try represent(trainImages, count: train.count), testZ = try represent(testImages, count: test.count)
        let knn = try Metrics.knnClassifierAccuracy(train: trainZ, trainLabels: train.labels, test: testZ, testLabels: test.labels,
                                                    k: configuration.knnNeighbours, temperature: configuration.knnTemperature,
                                                    on: backend)
        last = (try backend.download(trainZ), try backend.download(testZ), knn)
        var metrics = ["knn_accuracy": knn]
        if timedSteps > 0 { metrics["steps_per_second"] = Double(timedSteps) / stepSeconds }
        return metrics
    }

    public func finish() throws -> TaskResult {
        let evaluation = try recorded(last, "ImageTask.finish")
        let (train, test) = (data.train, data.test)
        let probe = try Metrics.softmaxProbe(train: evaluation.train, trainLabels: train.labels, test: evaluation.test,
                                             testLabels: test.labels, dimension: features, lambda: configuration.probeLambda)
        let pixels = try Metrics.softmaxProbe(train: train.pixels, trainLabels: train.labels, test: test.pixels, testLabels: test.labels,
                                              dimension: train.imageSize, lambda: configuration.probeLambda)
        var summary: [String: SummaryValue] = [
            "linear_probe_accuracy": .number(probe.testAccuracy), "linear_probe_train_accuracy": .number(probe.trainAccuracy),
            "knn_accuracy": .number(evaluation.knn), "raw_pixel_probe_accuracy": .number(pixels.testAccuracy),
            "train_images": .number(Double(train.count)), "test_images": .number(Double(test.count)),
            "representation_width": .number(Double(features)), "encoder": .text(configuration.encoder.rawValue),
        ]
        if timedSteps > 0 { summary["steps_per_second"] = .number(Double(timedSteps) / stepSeconds) }
        let facts = String(format: """
            Linear probe top-1 %.4f on the %d test images (train %.4f; the same probe on raw pixels %.4f), weighted kNN \
            (k = %d, τ = %.2g) %.4f, from the %@ encoder's %d-d representation trained on %d images of %@; \
            %.2f training steps per second.
            """, probe.testAccuracy, test.count, probe.trainAccuracy, pixels.testAccuracy, configuration.knnNeighbours,
            configuration.knnTemperature, evaluation.knn, configuration.encoder.rawValue, features, train.count, data.source,
            timedSteps > 0 ? Double(timedSteps) / stepSeconds : 0)
        let representations = try NumPyFile.encode(evaluation.test, shape: [test.count, features])
        return TaskResult(summary: summary, facts: facts, plots: try plots(evaluation.test), files: [("test_representations.npy", representations)])
    }

    /// Accuracy by epoch, eight augmented pairs of the first step, and the PCA of the test representations by class.
    private func plots(_ test: [Float]) throws -> [ReportPlot] {
        let pairs = min(8, configuration.batch), train = data.train
        let shape = augmentation(step: 0)
        var first = shape
        (first.batch, first.imageOffset, first.totalBatch) = (pairs, 0, nil)
        first.mean = 0
        first.standardDeviation = 1
        let images = try backend.makeTensor([pairs, train.height, train.width, train.channels])
        try backend.copy(trainImages, offset: 0, to: images, offset: 0, count: pairs * train.imageSize)
        let shown = try backend.makeTensor(first.outputShape)
        try backend.augment(images, parameters: try backend.makeTensor(first.parameterShape), into: shown, first)
        let viewPixels = try backend.download(shown)
        // Channel 0 of each view, first views in the top row and second views below.
        let channels = train.channels, area = train.height * train.width
        let grey = (0..<(2 * pairs)).flatMap { v in (0..<area).map { viewPixels[(v * area + $0) * channels] } }
        let projection = Metrics.principalComponents(test, dimension: features, components: 2)
        let shownCount = min(2000, data.test.count)
        let classes = (0..<data.test.classes).map { label -> (label: String, points: [(Double, Double)]) in
            ("class \(label)", (0..<shownCount).filter { data.test.labels[$0] == label }.map { (projection[2 * $0], projection[2 * $0 + 1]) })
        }.filter { !$0.points.isEmpty }
        return [
            .metrics(title: "weighted kNN accuracy on the test images by epoch", series: [("kNN", "epoch", "knn_accuracy")]),
            .images(title: "augmented views of the first \(pairs) training images (first views above, second below)", pixels: grey,
                    height: train.height, width: train.width, rows: 2, columns: pairs),
            .scatter(title: "test representations, first two principal components, by class", classes: classes),
        ]
    }
}

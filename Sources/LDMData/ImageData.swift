import Foundation
import LDMEngine

/// Images with their class labels: `pixels` NHWC (row-major [count, height, width, channels]) with values in [0, 1].
public struct ImageSet: Sendable {
    public var pixels: [Float]
    public var labels: [Int]
    public var count: Int, height: Int, width: Int, channels: Int

    public init(pixels: [Float], labels: [Int], count: Int, height: Int, width: Int, channels: Int) {
        (self.pixels, self.labels, self.count, self.height, self.width, self.channels) = (pixels, labels, count, height, width, channels)
    }

    /// Values per image.
    public var imageSize: Int { height * width * channels }
    /// Distinct classes: the largest label + 1.
    public var classes: Int { (labels.max() ?? -1) + 1 }

    /// The first `n` images (all of them when `n` is nil or larger).
    public func prefix(_ n: Int?) -> ImageSet {
        guard let n, n < count else { return self }
        return ImageSet(pixels: Array(pixels[0..<(n * imageSize)]), labels: Array(labels[0..<n]), count: n, height: height,
                        width: width, channels: channels)
    }

    /// Mean and standard deviation over every value (the normalisation the augmentation applies).
    public var statistics: (mean: Float, standardDeviation: Float) {
        let n = Double(pixels.count)
        let mean = pixels.reduce(0.0) { $0 + Double($1) } / n
        let variance = pixels.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        return (Float(mean), Float(max(variance, 1e-12).squareRoot()))
    }
}

/// A training split and a test split of one image data set.
public struct ImageDataset: Sendable {
    public var train: ImageSet, test: ImageSet
    /// Where it came from, for the report.
    public var source: String

    /// Where Debian's `dataset-fashion-mnist` installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// The four files of an IDX folder (MNIST and Fashion-MNIST name them alike), each read with or without `.gz`.
    public static let idxFiles = (trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte",
                                  testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte")

    public init(train: ImageSet, test: ImageSet, source: String) throws {
        guard train.height == test.height, train.width == test.width, train.channels == test.channels else {
            throw LDMError.invalidArgument("the training images are \(train.height)×\(train.width)×\(train.channels), the test images \(test.height)×\(test.width)×\(test.channels)")
        }
        (self.train, self.test, self.source) = (train, test, source)
    }

    /// The IDX folder `directory` (default: Fashion-MNIST as Debian installs it).
    public static func idx(directory: String = fashionMNISTDirectory) throws -> ImageDataset {
        let files = idxFiles
        let train = try IDX.imageSet(images: try locate(files.trainImages, in: directory),
                                     labels: try locate(files.trainLabels, in: directory))
        let test = try IDX.imageSet(images: try locate(files.testImages, in: directory),
                                    labels: try locate(files.testLabels, in: directory))
        return try ImageDataset(train: train, test: test, source: directory)
    }

    /// `name.gz` or `name` in `directory`, or an error naming both and the Debian package.
    static func locate(_ name: String, in directory: String) throws -> String {
        let base = (directory as NSString).appendingPathComponent(name)
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) { return candidate }
        let hint = directory == fashionMNISTDirectory
            ? "install Fashion-MNIST with `apt-get install dataset-fashion-mnist`, or pass --data DIR"
            : "an IDX folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)"
        throw LDMError.invalidFile(path: base + ".gz", problem: "not found (nor \(name)); \(hint)")
    }

    /// Images from a float .npy ([N, H, W] or [N, C, H, W], values in [0, 1]) with labels from a second .npy (N whole
    /// numbers); the last `testRows` images (default a seventh, Fashion-MNIST's share) are the test split.
    public static func numpy(images path: String, labels labelPath: String, testRows requested: Int? = nil) throws -> ImageDataset {
        let (shape, values) = try NumPyFile.read(path)
        let d = shape.dims
        guard d.count == 3 || d.count == 4, d.allSatisfy({ $0 >= 1 }) else {
            throw LDMError.invalidFile(path: path, problem: "images must be [N, H, W] or [N, C, H, W], found shape \(shape)")
        }
        let (n, c, h, w) = d.count == 3 ? (d[0], 1, d[1], d[2]) : (d[0], d[1], d[2], d[3])
        guard c <= 64 else { throw LDMError.invalidFile(path: path, problem: "\(c) channels; at most 64 are supported ([N, C, H, W] order)") }
        if let bad = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw LDMError.invalidFile(path: path, problem: "values must lie in [0, 1] (divide bytes by 255); found \(values[bad]) at flat index \(bad)")
        }
        // NCHW → NHWC.
        var pixels = values
        if c > 1 {
            for image in 0..<n {
                for channel in 0..<c {
                    for p in 0..<(h * w) { pixels[(image * h * w + p) * c + channel] = values[(image * c + channel) * h * w + p] }
                }
            }
        }
        let (labelShape, labelValues) = try NumPyFile.read(labelPath)
        guard labelShape.rank == 1 || (labelShape.rank == 2 && labelShape.dims[1] == 1) else {
            throw LDMError.invalidFile(path: labelPath, problem: "labels must be [N] or [N, 1], found shape \(labelShape)")
        }
        guard labelValues.count == n else {
            throw LDMError.invalidFile(path: labelPath, problem: "\(labelValues.count) labels for the \(n) images of \(path)")
        }
        if let bad = labelValues.firstIndex(where: { !($0 >= 0 && $0 <= 9999 && $0 == $0.rounded()) }) {
            throw LDMError.invalidFile(path: labelPath, problem: "labels must be whole numbers in 0…9999, found \(labelValues[bad]) at index \(bad)")
        }
        let testRows = requested ?? max(1, n / 7)
        guard testRows >= 1, testRows < n else {
            throw LDMError.invalidArgument("--test-rows must leave training images: \(testRows) of \(n)")
        }
        let all = ImageSet(pixels: pixels, labels: labelValues.map { Int($0) }, count: n, height: h, width: w, channels: c)
        let trainCount = n - testRows, size = all.imageSize
        let train = ImageSet(pixels: Array(pixels[0..<(trainCount * size)]), labels: Array(all.labels[0..<trainCount]),
                             count: trainCount, height: h, width: w, channels: c)
        let test = ImageSet(pixels: Array(pixels[(trainCount * size)...]), labels: Array(all.labels[trainCount...]),
                            count: testRows, height: h, width: w, channels: c)
        return try ImageDataset(train: train, test: test, source: path)
    }
}

/// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): magic `0 0 type rank`, `rank` big-endian u32 extents,
/// then the values; unsigned bytes (type 0x08) only. Files may be gzipped.
public enum IDX {
    /// The decompressed contents may not exceed this (the largest IDX file worth reading here).
    public static let maximumBytes = 1 << 32

    /// (extents, values) of an unsigned-byte IDX file of the given rank.
    public static func read(_ path: String, rank: Int, what: String) throws -> (dims: [Int], values: [UInt8]) {
        var bytes = try FileIO.read(path, what: what)
        if Gzip.isCompressed(bytes) {
            bytes = try Gzip.inflate(bytes, path: path, limit: maximumBytes)
        }
        return try parse(bytes, path: path, rank: rank)
    }

    /// Parses an IDX byte string (already decompressed).
    public static func parse(_ bytes: [UInt8], path: String, rank: Int) throws -> (dims: [Int], values: [UInt8]) {
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw LDMError.invalidFile(path: path, problem: "not an IDX file (it does not start with two zero bytes)")
        }
        guard bytes[2] == 0x08 else {
            throw LDMError.invalidFile(path: path, problem: String(format: "IDX element type 0x%02x; only unsigned bytes (0x08) are supported", bytes[2]))
        }
        guard Int(bytes[3]) == rank else {
            throw LDMError.invalidFile(path: path, problem: "an IDX array of rank \(bytes[3]); expected rank \(rank) (\(rank == 3 ? "images N × H × W" : "labels N"))")
        }
        let header = 4 + 4 * rank
        guard bytes.count >= header else {
            throw LDMError.invalidFile(path: path, problem: "truncated: \(bytes.count) bytes, the header alone needs \(header)")
        }
        var dims: [Int] = [], total = 1
        for axis in 0..<rank {
            let at = 4 + 4 * axis
            let extent = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard extent >= 1 else { throw LDMError.invalidFile(path: path, problem: "extent \(axis) is 0") }
            let (product, overflow) = total.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= maximumBytes else {
                throw LDMError.invalidFile(path: path, problem: "extents \(dims + [extent]) hold more than \(maximumBytes) values")
            }
            (total, dims) = (product, dims + [extent])
        }
        guard bytes.count - header == total else {
            throw LDMError.invalidFile(path: path, problem: bytes.count - header < total
                ? "truncated: the extents \(dims) need \(total) values, the file holds \(bytes.count - header)"
                : "\(bytes.count - header - total) bytes follow the \(total) values of extents \(dims)")
        }
        return (dims, Array(bytes[header...]))
    }

    /// An image file (rank 3) and its label file (rank 1) as one ``ImageSet`` (pixels scaled to [0, 1]).
    public static func imageSet(images: String, labels: String) throws -> ImageSet {
        let (dims, pixels) = try read(images, rank: 3, what: "the images")
        let (labelDims, labelBytes) = try read(labels, rank: 1, what: "the labels")
        guard labelDims[0] == dims[0] else {
            throw LDMError.invalidFile(path: labels, problem: "\(labelDims[0]) labels for the \(dims[0]) images of \(images)")
        }
        try MemoryBudget.check(floats: [pixels.count], what: "the images of \(images)")
        return ImageSet(pixels: pixels.map { Float($0) / 255 }, labels: labelBytes.map(Int.init), count: dims[0], height: dims[1],
                        width: dims[2], channels: 1)
    }
}

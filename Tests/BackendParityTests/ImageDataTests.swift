import Foundation
import LDMData
import LDMEngine
import Testing

/// The image readers: Fashion-MNIST as Debian installs it, IDX headers and gzip streams refused by name when they
/// lie or end early, .npy images in both layouts with their labels checked.
@Suite("Image data")
struct ImageDataTests {
    static let installed = FileManager.default.fileExists(atPath: ImageDataset.fashionMNISTDirectory + "/train-images-idx3-ubyte.gz")
    /// In CI the package is installed by .ci/setup; elsewhere the tests that need it say why they are skipped.
    static let available = installed || TestBackends.inCI

    /// An uncompressed unsigned-byte IDX file.
    static func idx(_ dims: [Int], _ values: [UInt8]) -> [UInt8] {
        [0, 0, 8, UInt8(dims.count)] + dims.flatMap { d in (0..<4).map { UInt8(truncatingIfNeeded: d >> (8 * (3 - $0))) } } + values
    }

    @Test(.enabled(if: available, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func fashionMNISTLoadsFromTheDebianPackage() throws {
        let data = try ImageDataset.idx()
        #expect(data.train.count == 60_000 && data.test.count == 10_000)
        #expect(data.train.height == 28 && data.train.width == 28 && data.train.channels == 1)
        #expect(data.train.classes == 10 && Set(data.test.labels) == Set(0..<10))
        #expect(data.train.pixels.allSatisfy { $0 >= 0 && $0 <= 1 } && data.train.pixels.contains(1))
        // Fashion-MNIST's pixel mean and standard deviation, as commonly quoted (0.2860, 0.3530).
        let stats = data.train.statistics
        #expect(abs(stats.mean - 0.2860) < 1e-3 && abs(stats.standardDeviation - 0.3530) < 1e-3, "\(stats)")
    }

    @Test(.enabled(if: available, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func truncatedAndCorruptGzipFilesAreRefusedByName() throws {
        let directory = temporaryDirectory("idx")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let labels = try FileIO.read(ImageDataset.fashionMNISTDirectory + "/t10k-labels-idx1-ubyte.gz")
        let path = directory + "/labels.gz"
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(labels[0..<(labels.count / 2)]), "truncated"),
            ("no trailer", Array(labels.dropLast(4)), "truncated"),
            ("corrupt", { var b = labels; b[b.count / 2] ^= 0xff; b[b.count / 2 + 1] ^= 0x5a; return b }(), "gzip"),
            ("trailing bytes", labels + [1, 2, 3], "follow the gzip stream"),
        ]
        for (label, bytes, expected) in cases {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try IDX.read(path, rank: 1, what: "the labels")
                Issue.record("\(label): accepted")
            } catch let error as LDMError {
                #expect("\(error)".contains(path) && "\(error)".contains(expected), "\(label): \(error)")
            }
        }
    }

    @Test func lyingIDXHeadersAreRefusedByName() throws {
        let cases: [([UInt8], Int, String)] = [
            ([1, 0, 8, 1, 0, 0, 0, 1, 7], 1, "not an IDX file"),
            ([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], 1, "only unsigned bytes"),
            (Self.idx([2, 2, 2], [UInt8](repeating: 0, count: 8)), 1, "expected rank 1"),
            (Self.idx([3], [1, 2]), 1, "truncated"),
            (Self.idx([2], [1, 2, 3]), 1, "follow"),
            ([0, 0, 8, 3, 0, 0], 3, "the header alone"),
            (Self.idx([0xffff_ffff, 0xffff_ffff, 0xffff_ffff], []), 3, "more than"),
            (Self.idx([0, 28, 28], []), 3, "extent 0 is 0"),
        ]
        for (bytes, rank, expected) in cases {
            #expect {
                _ = try IDX.parse(bytes, path: "bad.idx", rank: rank)
            } throws: { error in
                "\(error)".contains("bad.idx") && "\(error)".contains(expected)
            }
        }
        let (dims, values) = try IDX.parse(Self.idx([2, 1, 3], [1, 2, 3, 4, 5, 6]), path: "good.idx", rank: 3)
        #expect(dims == [2, 1, 3] && values == [1, 2, 3, 4, 5, 6])
    }

    @Test func aMissingFolderNamesTheFileAndThePackage() throws {
        #expect {
            _ = try ImageDataset.idx(directory: "/nonexistent/mnist")
        } throws: { error in
            "\(error)".contains("/nonexistent/mnist/train-images-idx3-ubyte") && "\(error)".contains("t10k-labels-idx1-ubyte")
        }
        let directory = temporaryDirectory("idx-images")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Uncompressed files work too; mismatched image and label counts are refused naming both files.
        try Data(Self.idx([3, 2, 2], [UInt8](repeating: 255, count: 12))).write(to: URL(fileURLWithPath: directory + "/train-images-idx3-ubyte"))
        try Data(Self.idx([2], [0, 1])).write(to: URL(fileURLWithPath: directory + "/train-labels-idx1-ubyte"))
        #expect {
            _ = try ImageDataset.idx(directory: directory)
        } throws: { error in
            "\(error)".contains("2 labels for the 3 images") && "\(error)".contains("train-labels-idx1-ubyte")
        }
    }

    @Test func numpyImagesLoadInBothLayoutsWithTheirLabels() throws {
        let directory = temporaryDirectory("npy-images")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 7 images of 2 channels, 3 × 2 pixels, in NCHW: value = image/10 + channel/100 + pixel/1000.
        var nchw: [Float] = []
        for n in 0..<7 { for c in 0..<2 { for p in 0..<6 { nchw.append(Float(n) / 10 + Float(c) / 100 + Float(p) / 1000) } } }
        try NumPyFile.write(nchw, shape: [7, 2, 3, 2], to: directory + "/images.npy")
        try NumPyFile.write((0..<7).map { Float($0 % 3) }, shape: [7], to: directory + "/labels.npy")
        let data = try ImageDataset.numpy(images: directory + "/images.npy", labels: directory + "/labels.npy", testRows: 2)
        #expect(data.train.count == 5 && data.test.count == 2 && data.train.channels == 2 && data.train.height == 3 && data.train.width == 2)
        // NHWC: image 1, pixel 4, channel 1 at ((1·6) + 4)·2 + 1.
        #expect(abs(data.train.pixels[(6 + 4) * 2 + 1] - (0.1 + 0.01 + 0.004)) < 1e-6)
        #expect(data.test.labels == [2, 0])
        try NumPyFile.write((0..<6).map { Float($0) }, shape: [6], to: directory + "/six.npy")
        try NumPyFile.write([Float](repeating: 0.5, count: 12), shape: [12], to: directory + "/flat.npy")
        try NumPyFile.write([2] + [Float](repeating: 0.5, count: 83), shape: [7, 2, 3, 2], to: directory + "/bright.npy")
        for (images, labels, expected) in [("images", "six", "6 labels for the 7 images"), ("flat", "labels", "[N, H, W] or [N, C, H, W]"),
                                           ("bright", "labels", "must lie in [0, 1]")] {
            #expect {
                _ = try ImageDataset.numpy(images: "\(directory)/\(images).npy", labels: "\(directory)/\(labels).npy")
            } throws: { error in
                "\(error)".contains(expected) && "\(error)".contains(".npy")
            }
        }
    }
}

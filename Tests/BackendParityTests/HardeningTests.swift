import Foundation
import LDMEngine
import Testing

/// The hostile inputs of docs/robustness.md through `ldm` as a user runs it: each must end with exit status 1 or
/// 64 (never a trap, 132 or 134) and a one-line error naming the cause, and write nothing.
@Suite("Hardening")
struct HardeningTests {
    static func expectRefused(_ arguments: [String], _ message: String) throws {
        let result = try CLITests.run(arguments)
        #expect(result.status == 1 || result.status == 64, "\(arguments): status \(result.status), \(result.error)")
        #expect(result.error.contains(message), "\(arguments): \(result.error) should contain \(message)")
    }

    static func scratch() throws -> String {
        let directory = temporaryDirectory("hardening")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Integers from options that used to overflow or allocate terabytes.
    @Test(arguments: [
        (["train", "--epochs", "9223372036854775807", "--train-sequences", "16"], "--epochs must be in 1…1000000"),
        (["train", "--train-sequences", "9223372036854775807"], "--train-sequences must be in"),
        (["train", "--train-sequences", "1000000000"], "--train-sequences must be in"),
        (["train", "two-view", "--train-rows", "9223372036854775807"], "--train-rows must be in"),
        (["train", "two-view", "--classes", "100000000"], "--classes must be in"),
        (["train", "two-view", "--schedule", "cosine", "--warmup-steps", "9223372036854775807"], "--warmup-steps must be in"),
        (["train", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    ])
    func optionsAreRangeChecked(_ arguments: [String], _ message: String) throws {
        try Self.expectRefused(arguments, message)
    }

    /// Files that are not regular files, and `.npy` files NumPy itself refuses.
    @Test func unreadableAndMalformedInputsAreRefusedByName() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/fifo.npy"
        #expect(mkfifo(fifo, 0o644) == 0)
        let valid = [UInt8](try NumPyFile.encode([1, 2, 3, 4], shape: [2, 2]))
        var shifted = valid
        shifted[8] = 0x82   // the header length (118) runs 12 bytes into the data
        try Data(shifted).write(to: URL(fileURLWithPath: directory + "/shifted.npy"))
        for (path, message) in [(fifo, "is a FIFO or pipe; ldm reads regular files only"),
                                (directory, "is a directory; ldm reads regular files only"),
                                (directory + "/shifted.npy", "unexpected text after the header dictionary")] {
            try Self.expectRefused(["metrics", "cka", "--x", path, "--y", path], message)
        }
        // Duplicate keys: the last one wins, as in Python (here a shape of (4,) replaces (2, 2)).
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'shape': (4,), }"
        let padded = header + String(repeating: " ", count: 117 - header.utf8.count) + "\n"
        let duplicate = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.utf8.count), 0] + Array(padded.utf8) + Array(valid[128...])
        #expect(try NumPyFile.parse(duplicate, path: "d.npy").shape == [4])
    }

    /// Results that used to be reported although meaningless: nothing is printed as a result, nothing is written.
    @Test func nonFiniteResultsFailAndWriteNothing() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let huge: [Float] = (0..<64).map { (i: Int) -> Float in
            let sign: Float = i % 2 == 0 ? 1 : -1
            return sign * Float(i % 7 + 1) * 1e30
        }
        try NumPyFile.write(huge, shape: [16, 4], to: directory + "/huge.npy")
        try NumPyFile.write((0..<64).map { Float($0 % 5) * 0.1 }, shape: [16, 4], to: directory + "/small.npy")
        let grads = directory + "/grads"
        try Self.expectRefused(["objective", "--z1", directory + "/huge.npy", "--z2", directory + "/huge.npy", "--preset", "ldm-logdet",
                                "--grad-dir", grads, "--json"], "products of such values overflow float32")
        try NumPyFile.write([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], shape: [4, 4], to: directory + "/eye.npy")
        try Self.expectRefused(["objective", "--z1", directory + "/huge.npy", "--z2", directory + "/eye.npy", "--preset", "ica",
                                "--grad-dir", grads], "came out non-finite")
        #expect(!FileManager.default.fileExists(atPath: grads), "gradients were written for a non-finite result")
        for temperature in ["1e-10", "1e-30"] {
            try Self.expectRefused(["objective", "--z1", directory + "/small.npy", "--z2", directory + "/small.npy", "--preset", "simclr",
                                    "--temperature", temperature], "--temperature must be at least 0.0001")
        }
        // A non-symmetric Q, and an indefinite one.
        try NumPyFile.write((0..<20).map { Float($0) * 0.01 }, shape: [1, 10, 2], to: directory + "/z.npy")
        try NumPyFile.write([1, 0, 0, 1], shape: [2, 2], to: directory + "/I.npy")
        try NumPyFile.write([1, 0.5, 0.2, 1], shape: [2, 2], to: directory + "/asymmetric.npy")
        try NumPyFile.write([1, 2, 2, 1], shape: [2, 2], to: directory + "/indefinite.npy")
        let filter = { (q: String) in ["kalman", "filter", "--z", directory + "/z.npy", "--F", directory + "/I.npy", "--H", directory + "/I.npy",
                                       "--Q", directory + q, "--R", directory + "/I.npy"] }
        try Self.expectRefused(filter("/asymmetric.npy"), "Q is not symmetric: [0, 1] = 0.5")
        try Self.expectRefused(filter("/indefinite.npy"), "Q is not a covariance")
        // Clustering accuracy sizes its table by the distinct ids: one id of 10⁶ among 200 rows is instant.
        var ids = (0..<200).map { Float($0 % 4) }
        ids[7] = 1_000_000
        try NumPyFile.write(ids, shape: [200], to: directory + "/ids.npy")
        let started = Date()
        let accuracy = try CLITests.run(["metrics", "clustering-accuracy", "--clusters", directory + "/ids.npy", "--labels", directory + "/ids.npy"])
        #expect(accuracy.status == 0 && accuracy.output.contains("\"clustering_accuracy\" : 1"), "\(accuracy.output) \(accuracy.error)")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    /// One run per directory: an occupied one is refused without touching its metrics, a locked one at once, and a
    /// stale temporary file is removed by the next run.
    @Test func runDirectoriesAreProtected() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let train = ["train", "--train-sequences", "16", "--epochs", "1", "--quiet", "--out", directory]
        let first = try CLITests.run(train)
        #expect(first.status == 0, "\(first.error)")
        let metrics = try Data(contentsOf: URL(fileURLWithPath: directory + "/metrics.jsonl"))
        try Self.expectRefused(train, "holds the checkpoint of an earlier run (square, knn, 1 epochs); continue it with --resume or replace it with --overwrite")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/metrics.jsonl")) == metrics)
        try Self.expectRefused(train.map { $0 == "16" ? "24" : $0 } + ["--resume", "--epochs", "2"], "it was written with video.trainSequences = 16, this run has 24")
        try Self.expectRefused(train + ["--resume", "--objective", "stopgrad", "--epochs", "2"], "it was written with")
        try Self.expectRefused(train + ["--resume", "--learning-rate", "0.1", "--epochs", "2"], "it was written with run.schedule")
        // Resuming the finished run re-writes its summary.
        try FileManager.default.removeItem(atPath: directory + "/summary.json")
        let finished = try CLITests.run(train + ["--resume"])
        #expect(finished.status == 0 && FileManager.default.fileExists(atPath: directory + "/summary.json"), "\(finished.error)")
        // A stale temporary file goes at the next start; a held lock stops a second run.
        let stale = directory + "/.checkpoint.safetensors.99999.ldm-partial"
        FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        #expect(try CLITests.run(train + ["--overwrite"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
        let lock = try RunLock(directory: directory)
        try Self.expectRefused(train + ["--overwrite"], "another ldm run is using this directory")
        withExtendedLifetime(lock) {}
    }
}

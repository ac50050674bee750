import Foundation
import LDMEngine

/// checkpoint.safetensors: every parameter and optimiser state tensor by name, with metadata naming the run
/// (``RunIdentity``: the experiment, objective and every configuration field), the completed epochs, the
/// optimiser's step count, the elapsed seconds and the last step's loss. Written atomically.
enum Checkpoint {
    /// What a checkpoint's metadata says about the run's progress.
    struct Progress {
        var epochs: Int
        var seconds: Double
        var finalLoss: Double
    }

    static func save(_ model: [(String, Tensor)], _ optimizer: any Optimizer, identity: [String: String], progress: Progress,
                     on backend: any Backend, to path: String) throws {
        var tensors: [(String, [Float], [Int])] = []
        for (name, t) in model + optimizer.state { tensors.append((name, try backend.download(t), t.shape.dims)) }
        var metadata = identity
        metadata["epochs"] = String(progress.epochs)
        metadata["optimizer_steps"] = String(optimizer.steps)
        metadata["seconds"] = String(progress.seconds)
        metadata["final_loss"] = String(progress.finalLoss)
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// The metadata of the checkpoint at `path` (nil when there is none), for describing it in messages.
    static func metadata(at path: String) -> [String: String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return (try? SafeTensors.read(path))?.metadata ?? [:]
    }

    /// Loads a checkpoint whose metadata matches `identity` into the model's tensors and the optimiser. Every
    /// metadata value is validated: the epochs in 0…`maximumEpochs`, the optimiser steps equal to epochs ×
    /// `stepsPerEpoch`, the seconds finite and non-negative; every tensor present with exactly its shape.
    static func restore(_ model: [(String, Tensor)], _ optimizer: any Optimizer, identity: [String: String],
                        stepsPerEpoch: Int, maximumEpochs: Int, on backend: any Backend, from path: String) throws -> Progress {
        func fail(_ problem: String) -> LDMError { .invalidFile(path: path, problem: problem) }
        guard FileManager.default.fileExists(atPath: path) else { throw fail("--resume needs a checkpoint from an earlier run") }
        let (tensors, metadata) = try SafeTensors.read(path)
        for key in identity.keys.sorted() where metadata[key] != identity[key] {
            guard let found = metadata[key] else {
                throw fail("it does not record \(key) (written by an earlier ldm or another task); start afresh with --overwrite")
            }
            throw fail("it was written with \(key) = \(found), this run has \(identity[key] ?? "?"); "
                + "resume with the same settings, or start afresh with --overwrite")
        }
        guard let epochs = metadata["epochs"].flatMap({ Int($0) }), (0...maximumEpochs).contains(epochs) else {
            throw fail("its metadata epochs = \(metadata["epochs"] ?? "(missing)") is not a whole number in 0…\(maximumEpochs)")
        }
        let (expectedSteps, overflow) = epochs.multipliedReportingOverflow(by: stepsPerEpoch)
        guard !overflow, let steps = metadata["optimizer_steps"].flatMap({ Int($0) }), steps == expectedSteps else {
            throw fail("its metadata optimizer_steps = \(metadata["optimizer_steps"] ?? "(missing)") does not match "
                + "\(epochs) epochs of \(stepsPerEpoch) steps")
        }
        guard let seconds = metadata["seconds"].flatMap({ Double($0) }), seconds.isFinite, seconds >= 0 else {
            throw fail("its metadata seconds = \(metadata["seconds"] ?? "(missing)") is not a finite number ≥ 0")
        }
        // A checkpoint holds the last finite loss once a step ran; "nan" only before any step.
        let finalLoss = metadata["final_loss"].flatMap { Double($0) } ?? .nan
        guard finalLoss.isFinite || epochs == 0 else {
            throw fail("its metadata final_loss = \(metadata["final_loss"] ?? "(missing)") is not a finite number")
        }
        let expected = model + optimizer.state
        if let extra = Set(tensors.keys).subtracting(expected.map(\.0)).sorted().first {
            throw fail("it holds tensor \(extra), which this run's model does not have")
        }
        for (name, tensor) in expected {
            guard let (values, shape) = tensors[name] else { throw fail("tensor \(name) is missing") }
            guard shape == tensor.shape.dims else {
                throw fail("tensor \(name) has shape \(shape), this run's model needs \(tensor.shape.dims)")
            }
            try backend.write(values, to: tensor)
        }
        optimizer.restore(steps: steps)
        return Progress(epochs: epochs, seconds: seconds, finalLoss: finalLoss)
    }
}

/// metrics.jsonl: one JSON object per line, appended as the run goes. A line torn by SIGKILL is dropped when the
/// resumed run rewrites the file up to its checkpoint.
struct MetricsLog {
    let path: String

    /// Starts an empty log (a fresh run).
    func reset() throws {
        try FileIO.write(Data(), to: path)
    }

    func append(_ entry: [String: Any]) throws {
        // JSON has no NaN or infinity: an undefined metric is logged as null.
        let cleaned = entry.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            return value
        }
        var line = try JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys])
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LDMError.invalidFile(path: path, problem: "cannot append metrics: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let wrote = line.withUnsafeBytes { write(fd, $0.baseAddress!, line.count) }
        guard wrote == line.count else { throw LDMError.invalidFile(path: path, problem: "cannot append metrics: \(String(cString: strerror(errno)))") }
    }

    /// The parseable lines (a torn last line is skipped).
    func entries() throws -> [[String: Any]] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try FileIO.read(path, what: "the metrics log")
        return bytes.split(separator: 0x0A).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    /// Drops lines logged after optimiser step `step` (an interrupted epoch that the resumed run redoes).
    func truncate(afterStep step: Int) throws {
        let kept = try entries().filter { ($0["step"] as? Int ?? 0) <= step }
        var data = Data()
        for entry in kept {
            data.append(try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]))
            data.append(0x0A)
        }
        try FileIO.write(data, to: path)
    }
}

import Foundation
import LDMEngine

/// checkpoint.safetensors: every parameter and optimiser state tensor by name, with metadata naming the run
/// (experiment, seed, optimiser), the completed epochs, the optimiser's step count and the elapsed seconds.
/// Written atomically (SafeTensors.write renames a finished temporary file into place).
enum Checkpoint {
    static func save(_ model: [(String, Tensor)], _ optimizer: any Optimizer, identity: [String: String], epochs: Int,
                     seconds: Double, on backend: any Backend, to path: String) throws {
        var tensors: [(String, [Float], [Int])] = []
        for (name, t) in model { tensors.append((name, try backend.download(t), t.shape.dims)) }
        for (name, t) in optimizer.state { tensors.append((name, try backend.download(t), t.shape.dims)) }
        var metadata = identity
        metadata["epochs"] = String(epochs)
        metadata["optimizer_steps"] = String(optimizer.steps)
        metadata["seconds"] = String(seconds)
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// Loads a checkpoint whose metadata matches `identity` into the model's tensors and the optimiser; returns
    /// (completed epochs, elapsed seconds).
    static func restore(_ model: [(String, Tensor)], _ optimizer: any Optimizer, identity: [String: String],
                        on backend: any Backend, from path: String) throws -> (Int, Double) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw LDMError.invalidFile(path: path, problem: "--resume needs a checkpoint from an earlier run")
        }
        let (tensors, metadata) = try SafeTensors.read(path)
        for key in identity.keys.sorted() {
            // Checkpoints from before the optimiser choice existed were all Adam; before momentum targets, none had one.
            let found = metadata[key] ?? ["optimizer": "adam", "target_momentum": String(Float(0))][key]
            guard found == identity[key] else {
                throw LDMError.invalidFile(path: path, problem: "it was written with \(key) \(found ?? "?"), this run has \(identity[key] ?? "?")")
            }
        }
        guard let epochs = metadata["epochs"].flatMap(Int.init), let steps = metadata["optimizer_steps"].flatMap(Int.init) else {
            throw LDMError.invalidFile(path: path, problem: "its metadata lacks the epoch or step count")
        }
        for (name, tensor) in model + optimizer.state {
            guard let (values, _) = tensors[name], values.count == tensor.count else {
                throw LDMError.invalidFile(path: path, problem: "tensor \(name) is missing or has the wrong size")
            }
            try backend.write(values, to: tensor)
        }
        optimizer.restore(steps: steps)
        return (epochs, metadata["seconds"].flatMap(Double.init) ?? 0)
    }
}

/// metrics.jsonl: one JSON object per line.
struct MetricsLog {
    let path: String

    mutating func reset() throws {
        FileManager.default.createFile(atPath: path, contents: Data())
    }

    func append(_ entry: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        line.append(0x0A)
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw LDMError.invalidFile(path: path, problem: "cannot append metrics")
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(line)
    }

    func entries() throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Drops lines logged after optimiser step `step` (an interrupted epoch that the resumed run redoes).
    mutating func truncate(afterStep step: Int) throws {
        let kept = try entries().filter { ($0["step"] as? Int ?? 0) <= step }
        var data = Data()
        for entry in kept {
            data.append(try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]))
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

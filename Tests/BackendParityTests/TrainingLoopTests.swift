import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// A task written for these tests, as a user would add one: fit w [3] to a fixed target by ½‖w − t‖² over
/// "items" whose order the loop shuffles (each item scales the step's loss, so the order is visible in the run).
final class QuadraticTask: TrainingTask {
    let settings: RunSettings
    let w: Parameter
    let target: Tensor
    let backend: any Backend
    /// The step (0-based) at which the loss turns NaN, to exercise the divergence guard.
    var divergeAt: Int?
    var seenOrders: [[Int]] = []
    private var last = 0.0

    init(settings: RunSettings, on backend: any Backend) throws {
        self.settings = settings
        self.backend = backend
        w = try Parameter(name: "w", value: try backend.upload([0, 0, 0], shape: [3]), on: backend)
        target = try backend.upload([1, -2, 0.5], shape: [3])
    }

    /// Its identity is the run settings' (seed, rates, schedule, …).
    var configuration: RunSettings { settings }
    var experiment: String { "quadratic" }
    var objective: String { "least squares" }
    var itemCount: Int { 6 }
    var batchSize: Int { 2 }
    var stepsPerEpoch: Int { 3 }
    var parameters: [Parameter] { [w] }
    var headlineMetric: String { "distance" }

    func beginEpoch(order: [Int]) throws { seenOrders.append(order) }

    func step(_ batch: [Int], _ context: StepContext) throws -> StepOutput {
        let weight = Float(batch.reduce(0, +) + 1) / 6
        let residual = try backend.makeTensor([3])
        try backend.copy(w.value, to: residual)
        try backend.axpy(-1, target, residual)
        try backend.axpy(weight, residual, w.gradient)
        let r = try backend.download(residual)
        let loss = 0.5 * Double(weight) * r.reduce(0) { $0 + Double($1 * $1) }
        return StepOutput(loss: context.step == divergeAt ? .nan : loss, scalars: ["weight": Double(weight)])
    }

    func evaluate() throws -> [String: Double] {
        let r = zip(try backend.download(w.value), try backend.download(target)).map { Double($0 - $1) }
        last = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return ["distance": last]
    }

    func finish() throws -> TaskResult {
        TaskResult(summary: ["distance": .number(last)], facts: "distance \(last)",
                   plots: [.metrics(title: "distance by epoch", series: [("distance", "epoch", "distance")])])
    }
}

/// The training loop with a task of the tests' own: files, logging and evaluation cadence, the seeded epoch order,
/// resume (bit for bit, mid-epoch and at an epoch's end), refusals (a finished run, another seed, divergence),
/// the schedules and the checkpoint format.
@Suite("Training loop")
struct TrainingLoopTests {
    static func settings(epochs: Int = 4, evaluateEvery: Int = 2) -> RunSettings {
        var s = RunSettings(epochs: epochs, schedule: .linear(from: 0.3, to: 0.1), optimizer: .sgd)
        (s.logEvery, s.evaluateEvery, s.seed, s.momentum) = (2, evaluateEvery, 7, 0.5)
        return s
    }

    static func lines(_ directory: String) throws -> [[String: Any]] {
        try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func runWritesItsFilesAtItsCadence() throws {
        let backend = try TestBackends.named("cpu")
        let directory = temporaryDirectory("loop")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let task = try QuadraticTask(settings: Self.settings(), on: backend)
        var reports: [TrainingProgress] = []
        let loop = TrainingLoop(task, on: backend, directory: directory)
        loop.progress = { reports.append($0) }
        let summary = try loop.run()
        // From ‖t‖ = 2.29 at w = 0.
        #expect((summary.number("distance") ?? 9) < 0.5 && summary.epochs == 4 && summary.experiment == "quadratic",
                "distance \(summary.number("distance") ?? .nan)")
        let lines = try Self.lines(directory)
        // 12 steps logged every 2nd step, evaluations after epochs 2 and 4.
        #expect(lines.filter { $0["loss"] != nil }.map { $0["step"] as? Int } == [2, 4, 6, 8, 10, 12])
        #expect(lines.filter { $0["distance"] != nil }.map { $0["epoch"] as? Int } == [2, 4])
        #expect(lines.allSatisfy { $0["loss"] == nil || $0["weight"] is Double })
        #expect(reports.last?.metricName == "distance" && reports.last?.metric == summary.number("distance"))
        // Six orders, one per epoch, each a permutation, differing between epochs.
        #expect(task.seenOrders.count == 4 && task.seenOrders.allSatisfy { $0.sorted() == Array(0..<6) })
        #expect(Set(task.seenOrders.map { $0.description }).count > 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as? [String: Any])
        for key in ["experiment", "objective", "epochs", "seconds", "backend", "seed", "final_loss", "optimizer", "distance"] {
            #expect(json[key] != nil, "summary.json lacks \(key)")
        }
        #expect(try String(contentsOfFile: directory + "/report.html", encoding: .utf8).contains("distance by epoch"))
    }

    /// Stopped mid-epoch (after step 5) and at an epoch's end (step 6): either way the resumed run ends bit for bit
    /// where the uninterrupted one does, and the checkpoint holds the completed epochs.
    @Test(arguments: [5, 6])
    func resumeEndsWhereTheUninterruptedRunEnds(_ stopAfter: Int) throws {
        let backend = try TestBackends.named("cpu")
        let (straight, resumed) = (temporaryDirectory("loop-straight"), temporaryDirectory("loop-resumed"))
        defer { for d in [straight, resumed] { try? FileManager.default.removeItem(atPath: d) } }
        let settings = Self.settings(evaluateEvery: 1)   // a checkpoint after every epoch
        let expected = try TrainingLoop(try QuadraticTask(settings: settings, on: backend), on: backend, directory: straight).run()
        let interrupted = TrainingLoop(try QuadraticTask(settings: settings, on: backend), on: backend, directory: resumed)
        var polls = 0
        interrupted.shouldStop = { polls += 1; return polls == stopAfter }
        let stop = #expect(throws: TrainingInterrupted.self) { _ = try interrupted.run() }
        #expect(stop?.completedEpochs == stopAfter / 3 && stop?.signal == nil)
        #expect(try SafeTensors.read(resumed + "/checkpoint.safetensors").metadata["epochs"] == String(stopAfter / 3))
        let task = try QuadraticTask(settings: settings, on: backend)
        let summary = try TrainingLoop(task, on: backend, directory: resumed).run(resume: true)
        #expect(summary.number("distance") == expected.number("distance") && summary.finalLoss == expected.finalLoss)
        #expect(try backend.download(task.w.value) == SafeTensors.read(straight + "/checkpoint.safetensors").tensors["w"]?.0)
        let steps = try Self.lines(resumed).filter { $0["loss"] != nil }.compactMap { $0["step"] as? Int }
        #expect(steps == [2, 4, 6, 8, 10, 12], "each logged step once: \(steps)")
    }

    @Test func refusesFewerEpochsAnotherSettingAnOccupiedDirectoryAndADivergence() throws {
        let backend = try TestBackends.named("cpu")
        let directory = temporaryDirectory("loop-refusals")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try TrainingLoop(try QuadraticTask(settings: Self.settings(), on: backend), on: backend, directory: directory).run()
        // Resuming a finished run re-evaluates and re-writes the summary from the checkpoint.
        try FileManager.default.removeItem(atPath: directory + "/summary.json")
        let again = try TrainingLoop(try QuadraticTask(settings: Self.settings(), on: backend), on: backend, directory: directory).run(resume: true)
        #expect(again.number("distance") == first.number("distance") && again.finalLoss == first.finalLoss && again.epochs == 4)
        #expect(FileManager.default.fileExists(atPath: directory + "/summary.json"))
        let fewer = #expect(throws: LDMError.self) {
            _ = try TrainingLoop(try QuadraticTask(settings: Self.settings(epochs: 2), on: backend), on: backend, directory: directory).run(resume: true)
        }
        #expect(fewer?.description.contains("holds 4 completed epochs, more than --epochs 2") == true, "\(String(describing: fewer))")
        for change in [{ (s: inout RunSettings) in s.seed = 8 }, { $0.schedule = .linear(from: 0.3, to: 0.2) }, { $0.weightDecay = 0.1 },
                       { $0.optimizer = .adam }, { $0.clipNorm = 1 }, { $0.momentum = 0.6 }, { $0.logEvery = 3 }] {
            var other = Self.settings(epochs: 8)
            change(&other)
            let refused = #expect(throws: LDMError.self) {
                _ = try TrainingLoop(try QuadraticTask(settings: other, on: backend), on: backend, directory: directory).run(resume: true)
            }
            #expect(refused?.description.contains("it was written with") == true, "\(String(describing: refused))")
        }
        let occupied = #expect(throws: LDMError.self) {
            _ = try TrainingLoop(try QuadraticTask(settings: Self.settings(), on: backend), on: backend, directory: directory).run()
        }
        #expect(occupied?.description.contains("holds the checkpoint of an earlier run (quadratic, least squares, 4 epochs); "
            + "continue it with --resume or replace it with --overwrite") == true, "\(String(describing: occupied))")
        let diverging = try QuadraticTask(settings: Self.settings(), on: backend)
        diverging.divergeAt = 4
        let nan = #expect(throws: LDMError.self) { _ = try TrainingLoop(diverging, on: backend, directory: directory).run(overwrite: true) }
        #expect(nan?.description.contains("training diverged: the loss is nan at step 4 (epoch 2)") == true, "\(String(describing: nan))")
        var bad = Self.settings()
        bad.epochs = 0
        #expect(throws: LDMError.self) { _ = try TrainingLoop(try QuadraticTask(settings: bad, on: backend), on: backend, directory: directory).run() }
    }

    /// Corrupt checkpoints are refused by name, never trapped on: metadata out of range, and headers that lie.
    @Test(arguments: [(["epochs": "-1"], "epochs = -1 is not a whole number in 0…1000000"),
                      (["epochs": "9223372036854775807"], "epochs = 9223372036854775807 is not a whole number"),
                      (["optimizer_steps": "9223372036854775807"], "optimizer_steps = 9223372036854775807 does not match 4 epochs of 3 steps"),
                      (["seconds": "nan"], "seconds = nan is not a finite number"),
                      (["final_loss": "inf"], "final_loss = inf is not a finite number")])
    func corruptCheckpointMetadataIsRefused(_ change: [String: String], _ message: String) throws {
        let backend = try TestBackends.named("cpu")
        let directory = temporaryDirectory("loop-corrupt")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try TrainingLoop(try QuadraticTask(settings: Self.settings(), on: backend), on: backend, directory: directory).run()
        let path = directory + "/checkpoint.safetensors"
        let (tensors, metadata) = try SafeTensors.read(path)
        try SafeTensors.write(tensors.map { ($0.key, $0.value.0, $0.value.1) }, metadata: metadata.merging(change) { $1 }, to: path)
        let error = #expect(throws: LDMError.self) {
            _ = try TrainingLoop(try QuadraticTask(settings: Self.settings(epochs: 8), on: backend), on: backend, directory: directory).run(resume: true)
        }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func lyingSafetensorsHeadersAreRefused() throws {
        let valid = [UInt8](try SafeTensors.encode([("a", [1, 2], [2]), ("b", [3], [1])], metadata: [:]))
        let header = String(decoding: valid[8..<(8 + Int(valid[0]))], as: UTF8.self)
        func withHeader(_ text: String) -> [UInt8] {
            var json = Array(text.utf8)
            while json.count % 8 != 0 { json.append(0x20) }
            return (0..<8).map { UInt8((json.count >> (8 * $0)) & 0xFF) } + json + Array(valid[(8 + Int(valid[0]))...])
        }
        var huge = valid
        huge[7] = 0x80   // a header length of 2⁶³ and more
        let cases: [([UInt8], String)] = [
            (huge, "header length 9223372036854775"),
            (withHeader(header.replacingOccurrences(of: "[8,12]", with: "[-4,0]")), "data_offsets must be [begin, end]"),
            (withHeader(header.replacingOccurrences(of: "[8,12]", with: "[4,8]")), "overlaps the tensor before it"),
            (withHeader(header.replacingOccurrences(of: "\"shape\":[2]", with: "\"shape\":[4611686018427387904,4]")), "is larger than the file's data"),
            (withHeader(header.replacingOccurrences(of: "\"shape\":[2]", with: "\"shape\":[true,1]")), "the shape must be a list of non-negative integers"),
        ]
        #expect(header.contains("[8,12]") && header.contains("\"shape\":[2]"), "\(header)")
        for (bytes, message) in cases {
            let error = #expect(throws: LDMError.self) { _ = try SafeTensors.parse(bytes, path: "c.safetensors") }
            #expect(error?.description.contains(message) == true, "\(String(describing: error)) should say \(message)")
        }
    }

    @Test func safeTensorsRoundTripAndRefusals() throws {
        let path = temporaryDirectory("st") + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write([("a", [1, 2, 3, 4, 5, 6], [2, 3]), ("b", [7], [])], metadata: ["k": "v"], to: path)
        let (tensors, metadata) = try SafeTensors.read(path)
        let a = try #require(tensors["a"]), b = try #require(tensors["b"])
        #expect(a.0 == [1, 2, 3, 4, 5, 6])
        #expect(a.1 == [2, 3])
        #expect(b.0 == [7])
        #expect(metadata["k"] == "v")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: LDMError.self) { _ = try SafeTensors.read(path) }
        #expect(throws: LDMError.self) { try SafeTensors.write([("a", [1], [2])], metadata: [:], to: path) }
    }

    @Test func schedulesGiveTheirDocumentedRates() {
        #expect(LearningRateSchedule.linear(from: 0.02, to: 0.005).rate(at: 0, of: 101) == 0.02)
        #expect(abs(LearningRateSchedule.linear(from: 0.02, to: 0.005).rate(at: 100, of: 101) - 0.005) < 1e-9)
        let step = LearningRateSchedule.step(base: 1, milestones: [1.0 / 3, 2.0 / 3], factor: 0.1)
        #expect(step.rate(at: 32, of: 99) == 1 && step.rate(at: 33, of: 99) == 0.1)
        #expect(abs(step.rate(at: 98, of: 99) - 0.01) < 1e-7)
        let cosine = LearningRateSchedule.warmupCosine(base: 1, warmup: 10, floor: 0.1)
        #expect(cosine.rate(at: 0, of: 110) == 0.1 && cosine.rate(at: 9, of: 110) == 1)
        #expect(abs(cosine.rate(at: 60, of: 110) - 0.55) < 1e-6)   // half way through the decay
        #expect(LearningRateSchedule.linear(from: 2, to: 1).scaled(by: 0.5) == .linear(from: 1, to: 0.5))
        // The shapes `--schedule` names, from a base rate.
        #expect(LearningRateSchedule.named(.step, base: 1).rate(at: 70, of: 100) == 0.25)
        #expect(abs(LearningRateSchedule.named(.linear, base: 1).rate(at: 99, of: 100) - 0.01) < 1e-7)
        #expect(LearningRateSchedule.named(.cosine, base: 2, warmup: 4).rate(at: 1, of: 100) == 1)
        #expect(LearningRateSchedule.named(.constant, base: 3).rate(at: 50, of: 100) == 3)
        #expect(LearningRateSchedule.warmupCosine(base: 0.5, warmup: 10, floor: 0).baseRate == 0.5)
    }
}

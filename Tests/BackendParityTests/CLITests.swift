import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// The `ldm` tool as a user runs it (the binary `swift build` puts beside the test bundle).
@Suite("ldm command line")
struct CLITests {
    static var ldm: URL? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("ldm")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    struct MissingBinary: Error, CustomStringConvertible {
        var description: String { "the ldm binary was not found next to the test bundle (run `swift build` first)" }
    }

    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        guard let binary = Self.ldm else { throw MissingBinary() }
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                   error: String(decoding: error, as: UTF8.self))
    }

    @Test func devicesJSONListsTheCPUBackendAndOpenCLDevices() throws {
        let result = try Self.run(["devices", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
        #expect(entries.first?["backend"] as? String == "cpu")
        #expect(entries.allSatisfy { $0["name"] is String })
        let openCL = entries.filter { $0["backend"] as? String == "opencl" }
        #expect(openCL.count == TestBackends.openCLDeviceCount)
        for (position, entry) in openCL.enumerated() {
            #expect(entry["index"] as? Int == position)
            #expect(entry["platform"] is String)
        }
    }

    @Test func withoutAnyOpenCLPlatformTheCPUStillWorks() throws {
        // An empty vendor directory hides every ICD from the loader: the situation of a machine without OpenCL.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-no-icd-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let hidden = ["OCL_ICD_VENDORS": empty.path]
        let devices = try Self.run(["devices", "--json"], environment: hidden)
        #expect(devices.status == 0, "\(devices.error)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(devices.output.utf8)) as? [[String: Any]])
        #expect(entries.count == 1 && entries[0]["backend"] as? String == "cpu")

        let bench = try Self.run(["bench", "transpose", "--backend", "all", "--min-seconds", "0.01", "--json"],
                                 environment: hidden)
        #expect(bench.status == 0, "\(bench.error)")
        #expect(bench.error.contains("no OpenCL device"))
        let opencl = try Self.run(["bench", "transpose", "--backend", "opencl"], environment: hidden)
        #expect(opencl.status == 1)
        #expect(opencl.error.hasPrefix("ldm: error: no device: no OpenCL device found"))
    }

    /// The data kernels' benchmarks validate and time on both backends (the convolution and step benchmarks are too
    /// slow for a debug build; they run in docs/benchmarks.md).
    @Test func imageDataBenchmarksValidateOnEveryBackend() throws {
        let result = try Self.run(["bench", "gather", "augment", "--backend", TestBackends.openCLEnabled ? "all" : "cpu",
                                   "--min-seconds", "0.01", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
        #expect(rows.count == (TestBackends.openCLEnabled ? 4 : 2))
        #expect(rows.allSatisfy { ($0["validation_error"] as? Double ?? 1) <= 1e-4 })
    }

    @Test func benchJSONHasTheDocumentedKeys() throws {
        let result = try Self.run(["bench", "reduce", "--backend", "cpu", "--min-seconds", "0.01", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
        let row = try #require(rows.first)
        for key in ["kernel", "backend", "shape", "seconds_median", "gb_per_second", "validation_error"] {
            #expect(row[key] != nil, "key \(key)")
        }
        #expect(row["backend"] as? String == "cpu")
    }

    @Test func badArgumentsGiveAClearMessage() throws {
        let result = try Self.run(["bench", "matmul", "--backend", "gpu"])
        #expect(result.status != 0)
        #expect(result.error.contains("gpu"))
        let device = try Self.run(["bench", "matmul", "--backend", "opencl", "--device", "99"])
        #expect(device.status == 1)
        let expected = TestBackends.openCLDeviceCount > 0 ? "OpenCL device 99 does not exist" : "no OpenCL device found"
        #expect(device.error.contains(expected), "\(device.error)")
    }

    /// Two seeded 32 × 8 views written as .npy, plus a file with a NaN and one of another shape.
    static func objectiveInputs() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-objective-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var generator = SeededGenerator(seed: 3)
        try NumPyFile.write(generator.floats(256), shape: [32, 8], to: directory.appendingPathComponent("a.npy").path)
        try NumPyFile.write(generator.floats(256), shape: [32, 8], to: directory.appendingPathComponent("b.npy").path)
        var bad = generator.floats(256)
        bad[8 * 3 + 5] = .nan
        try NumPyFile.write(bad, shape: [32, 8], to: directory.appendingPathComponent("nan.npy").path)
        try NumPyFile.write(generator.floats(128), shape: [16, 8], to: directory.appendingPathComponent("small.npy").path)
        return directory
    }

    @Test func objectivePrintsJSONAndWritesGradients() throws {
        let directory = try Self.objectiveInputs()
        let a = directory.appendingPathComponent("a.npy").path, b = directory.appendingPathComponent("b.npy").path
        let grads = directory.appendingPathComponent("grads").path
        let result = try Self.run(["objective", "--z1", a, "--z2", b, "--latent", "sphere", "--entropy", "kde",
                                   "--variant", "ldm", "--json", "--grad-dir", grads])
        #expect(result.status == 0, "\(result.error)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        for key in ["loss", "alignment", "entropy", "backend", "seconds"] { #expect(output[key] != nil, "key \(key)") }
        let loss = try #require(output["loss"] as? Double), alignment = try #require(output["alignment"] as? Double)
        let entropy = try #require(output["entropy"] as? Double)
        #expect(abs(loss + alignment + entropy) < 1e-9)
        for name in ["dz1.npy", "dz2.npy"] {
            let (shape, values) = try NumPyFile.read(grads + "/" + name)
            #expect(shape == [32, 8] && values.allSatisfy { $0.isFinite })
        }
        let variances = directory.appendingPathComponent("variances.npy").path
        try NumPyFile.write([Float](repeating: 0.5, count: 8), shape: [8], to: variances)
        let jepa = try Self.run(["objective", "--z1", a, "--z2", b, "--preset", "jepa", "--covariance", variances, "--json"])
        #expect(jepa.status == 0, "\(jepa.error)")
        let predictor = directory.appendingPathComponent("w.npy").path
        try NumPyFile.write([Float](repeating: 0.1, count: 64), shape: [8, 8], to: predictor)
        let cpc = try Self.run(["objective", "--z1", a, "--z2", b, "--preset", "cpc", "--predictor", predictor,
                                "--grad-dir", grads, "--json"])
        #expect(cpc.status == 0, "\(cpc.error)")
        #expect(try NumPyFile.read(grads + "/dpredictor.npy").shape == [8, 8])
        for preset in ["simclr", "ldm-contrastive", "mi-contrastive", "ldm-logdet", "ldm-knn", "vicreg", "byol", "barlow", "jepa"] {
            let run = try Self.run(["objective", "--z1", a, "--z2", b, "--preset", preset, "--json"])
            #expect(run.status == 0, "\(preset): \(run.error)")
        }
        // --repeats: the same result, timed as the median of several evaluations.
        let repeated = try Self.run(["objective", "--z1", a, "--z2", b, "--latent", "sphere", "--entropy", "kde",
                                     "--variant", "ldm", "--json", "--repeats", "3"])
        #expect(repeated.status == 0, "\(repeated.error)")
        let again = try #require(try JSONSerialization.jsonObject(with: Data(repeated.output.utf8)) as? [String: Any])
        #expect(again["loss"] as? Double == loss && (again["seconds"] as? Double).map { $0 > 0 } == true)
    }

    /// `ldm objective --latent sphere --entropy kde --variant ldm` against the paper code's formula, composed
    /// independently in Double: loss = −(κ_p·mean⟨ẑ1_i, ẑ2_i⟩ + Ĥ) with Ĥ over the joint rows [ẑ1 ‖ ẑ2] as they are
    /// (not renormalised); the gradients against central differences of that formula.
    @Test(arguments: ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []))
    func sphereLDMObjectiveFollowsTheReferenceFormula(_ backend: String) throws {
        let directory = try Self.objectiveInputs()
        let a = directory.appendingPathComponent("a.npy").path, b = directory.appendingPathComponent("b.npy").path
        let grads = directory.appendingPathComponent("grads-\(backend)").path
        let result = try Self.run(["objective", "--z1", a, "--z2", b, "--latent", "sphere", "--entropy", "kde",
                                   "--variant", "ldm", "--backend", backend, "--json", "--grad-dir", grads])
        #expect(result.status == 0, "\(result.error)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let z1 = try NumPyFile.read(a).values.map(Double.init), z2 = try NumPyFile.read(b).values.map(Double.init)
        let loss = { (x: [Double], y: [Double]) in
            -(Reference.sphereAlignment(x, y, d: 8, precision: 5) + Reference.sphereJointKDEEntropy(x, y, d: 8, precision: 5))
        }
        let expected = loss(z1, z2), got = try #require(output["loss"] as? Double)
        #expect(abs(got - expected) <= 1e-5 * abs(expected), "loss \(got), reference formula \(expected)")
        expectClose(try NumPyFile.read(grads + "/dz1.npy").values, finiteDifferenceGradient(z1) { loss($0, z2) },
                    tolerance: 1e-5, "∂loss/∂z1 on \(backend)")
        expectClose(try NumPyFile.read(grads + "/dz2.npy").values, finiteDifferenceGradient(z2) { loss(z1, $0) },
                    tolerance: 1e-5, "∂loss/∂z2 on \(backend)")
    }

    @Test func objectiveRefusesBadInputWithOneLine() throws {
        let directory = try Self.objectiveInputs()
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        let cases: [([String], String)] = [
            (["--z1", path("a.npy"), "--z2", path("nan.npy"), "--preset", "simclr"], "nan.npy: non-finite value nan at row 3, column 5"),
            (["--z1", path("a.npy"), "--z2", path("small.npy"), "--preset", "simclr"], "the views must match"),
            (["--z1", path("missing.npy"), "--z2", path("b.npy"), "--preset", "simclr"], "missing.npy: cannot read"),
            (["--z1", path("a.npy"), "--z2", path("b.npy"), "--preset", "simclr", "--temperature=0"], "--temperature must be at least 0.0001"),
            (["--z1", path("a.npy"), "--z2", path("b.npy"), "--preset", "clustering"], "expected softmax outputs"),
            (["--z1", path("a.npy"), "--z2", path("b.npy"), "--preset", "cpc"], "--preset cpc needs --predictor"),
            (["--z1", path("a.npy"), "--z2", path("b.npy"), "--preset", "simclr", "--repeats", "0"], "--repeats must be 1 to 1000"),
            (["--z1", path("a.npy"), "--z2", path("b.npy"), "--latent", "plane", "--entropy", "kde", "--variant", "mi",
              "--backend", "opencl", "--device", "99"],
             TestBackends.openCLDeviceCount > 0 ? "OpenCL device 99 does not exist" : "no OpenCL device found"),
        ]
        for (arguments, message) in cases {
            let result = try Self.run(["objective"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.error.contains(message), "\(result.error) should contain \(message)")
        }
    }

    @Test func kalmanFilterWritesItsOutputs() throws {
        let directory = try Self.objectiveInputs()
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        var generator = SeededGenerator(seed: 8)
        try NumPyFile.write(generator.floats(2 * 20 * 2), shape: [2, 20, 2], to: path("z.npy"))
        try NumPyFile.write([0.9, -0.2, 0.2, 0.9], shape: [2, 2], to: path("F.npy"))
        try NumPyFile.write([1, 0, 0, 1], shape: [2, 2], to: path("H.npy"))
        try NumPyFile.write([0.1, 0, 0, 0.1], shape: [2, 2], to: path("Q.npy"))
        try NumPyFile.write([0.5, 0, 0, 0.5], shape: [2, 2], to: path("R.npy"))
        let out = path("kalman")
        let result = try Self.run(["kalman", "filter", "--z", path("z.npy"), "--F", path("F.npy"), "--H", path("H.npy"),
                                   "--Q", path("Q.npy"), "--R", path("R.npy"), "--smooth", "--out", out, "--json"])
        #expect(result.status == 0, "\(result.error)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect((output["log_likelihood"] as? Double)?.isFinite == true)
        #expect(try NumPyFile.read(out + "/filtered_means.npy").shape == [2, 20, 2])
        #expect(try NumPyFile.read(out + "/smoothed_covs.npy").shape == [2, 20, 2, 2])
        let lossOut = path("kalman-loss")
        let loss = try Self.run(["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"), "--log-scale=-1",
                                 "--out", lossOut, "--json"])
        #expect(loss.status == 0, "\(loss.error)")
        for (name, shape) in [("grad_z.npy", TensorShape([2, 20, 2])), ("grad_A.npy", [2, 2]), ("grad_s.npy", []),
                              ("filtered_covs.npy", [2, 20, 2, 2]), ("innovation_covs.npy", [2, 20, 2, 2])] {
            #expect(try NumPyFile.read(lossOut + "/" + name).shape == shape, "\(name)")
        }
        // --time-parallel on: the same log-likelihood and loss as the sequential form.
        let filterArguments = ["kalman", "filter", "--z", path("z.npy"), "--F", path("F.npy"), "--H", path("H.npy"),
                               "--Q", path("Q.npy"), "--R", path("R.npy"), "--json", "--time-parallel"]
        let lossArguments = ["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"), "--log-scale=-1", "--json", "--time-parallel"]
        for arguments in [filterArguments, lossArguments] {
            let values = try ["off", "on"].map { form -> Double in
                let run = try Self.run(arguments + [form])
                #expect(run.status == 0, "\(run.error)")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
                return try #require((json["log_likelihood"] ?? json["loss"]) as? Double)
            }
            #expect(abs(values[0] - values[1]) <= 1e-5 * abs(values[0]), "\(arguments[1]): \(values)")
        }
        let bad = try Self.run(["kalman", "filter", "--z", path("z.npy"), "--F", path("F.npy"), "--H", path("z.npy"),
                                "--Q", path("Q.npy"), "--R", path("R.npy")])
        #expect(bad.status != 0)
        #expect(bad.error.contains("z.npy: H must have rank 2"))

        // The kNN form with a per-step log observation noise, on each backend: same loss, ∂/∂ℓ written.
        try NumPyFile.write(generator.floats(2 * 20 * 2).map { 0.3 * $0 }, shape: [2, 20, 2], to: path("noise.npy"))
        var losses: [Double] = []
        for backend in ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) {
            let knnOut = path("kalman-knn-\(backend)")
            let knn = try Self.run(["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"), "--variant", "knn",
                                    "--log-observation-noise", path("noise.npy"), "--backend", backend, "--out", knnOut, "--json"])
            #expect(knn.status == 0, "\(knn.error)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(knn.output.utf8)) as? [String: Any])
            #expect(json["backend"] as? String == backend)
            losses.append(try #require(json["loss"] as? Double))
            #expect(try NumPyFile.read(knnOut + "/grad_log_observation_noise.npy").shape == [2, 20, 2])
        }
        if losses.count == 2 { #expect(abs(losses[0] - losses[1]) <= 1e-4 * abs(losses[0]), "\(losses)") }
        let badNoise = try Self.run(["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"),
                                     "--log-observation-noise", path("F.npy")])
        #expect(badNoise.status != 0)
        #expect(badNoise.error.contains("F.npy: the log observation noise must have z's shape"), "\(badNoise.error)")
        // The per-step noise through the time-parallel form (a noise group per sequence), its covariances in the
        // backend's chunks or, by LDM_KALMAN_CHUNKS, in 7 (kalman_scan.cl) on each backend: the same loss.
        let perStepArguments = ["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"), "--variant", "knn",
                                "--log-observation-noise", path("noise.npy"), "--json", "--time-parallel"]
        var forms = [(["off"], [String: String]()), (["on"], [:])]
        for backend in ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) {
            forms.append((["on", "--backend", backend], ["LDM_KALMAN_CHUNKS": "7"]))
        }
        let perStep = try forms.enumerated().map { index, form -> Double in
            let run = try Self.run(perStepArguments + form.0 + ["--out", path("per-step-\(index)")], environment: form.1)
            #expect(run.status == 0, "\(run.error)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            return try #require(json["loss"] as? Double)
        }
        for (index, value) in perStep.enumerated().dropFirst() {
            #expect(abs(perStep[0] - value) <= 1e-5 * abs(perStep[0]), "per-step noise, sequential and time-parallel: \(perStep)")
            // The gradients too (1e-7 apart in practice): the reverse pass reads whichever tape the forward wrote.
            for name in ["grad_z", "grad_A", "grad_a", "grad_s", "grad_log_observation_noise"] {
                let sequential = try NumPyFile.read(path("per-step-0/\(name).npy")).values
                let other = try NumPyFile.read(path("per-step-\(index)/\(name).npy")).values
                let error = KalmanTimeParallelTests.difference(other, sequential)
                #expect(error <= 1e-4, "\(name) with \(forms[index]): relative difference \(error)")
            }
        }
        let badChunks = try Self.run(perStepArguments + ["on"], environment: ["LDM_KALMAN_CHUNKS": "0"])
        #expect(badChunks.status != 0)
        #expect(badChunks.error.contains("LDM_KALMAN_CHUNKS must be a whole number"), "\(badChunks.error)")
        // An output directory that is a file is refused by name, not with Foundation's error.
        let fileInTheWay = try Self.run(["kalman", "loss", "--z", path("z.npy"), "--A", path("F.npy"), "--out", path("z.npy")])
        #expect(fileInTheWay.status != 0)
        #expect(fileInTheWay.error.contains("z.npy: is a file, not a directory; cannot create the output directory"), "\(fileInTheWay.error)")
    }

    @Test func trainRefusesBadArgumentsAndStopsCleanlyOnSIGINT() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-cli-train-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [([String], String)] = [
            // Options that belong to another task are refused by the task's own parser, legacy form or not.
            (["--experiment", "ou-ica", "--objective", "knn"], "Unknown option '--objective'"),
            (["--experiment", "ou-ica", "--latent", "gaussian"], "Unknown option '--latent'"),
            (["ica", "--train-sequences", "16"], "Unknown option '--train-sequences'"),
            (["kalman", "--horizons", "2"], "Unknown option '--horizons'"),
            (["--experiment", "two-view", "--temperature", "0.5"], "Unknown option '--temperature'"),
            (["--objective", "cpc", "--filter-rate-multiplier", "10"], "Unknown option '--filter-rate-multiplier'"),
            (["--experiment", "cube"], "--experiment must be square, figure8, circular, circular-inferred, ou-ica or two-view"),
            (["--experiment", "two-view", "--objective", "stopgrad"], "unknown objective 'stopgrad'"),
            (["two-view", "--objective", "plane+knn+ldm"], "LATENT+ENTROPY[+mi]"),
            (["two-view", "--objective", "cpc"], "--objective cpc does not train on two views"),
            (["--experiment", "two-view", "--view1", "a.npy"], "--view1 and --view2 go together"),
            (["--experiment", "two-view", "--batch-size", "1"], "--batch-size must be in 2…1000000, got 1"),
            (["--warmup-steps", "10"], "--warmup-steps applies to --schedule cosine only"),
            (["--learning-rate", "0"], "--learning-rate must be positive"),
            (["--learning-rate", "-0.5"], "--learning-rate must be positive and finite, got -0.5"),
            (["--optimizer", "rmsprop"], "rmsprop"),
            (["--experiment", "square", "--jump-rate", "0.1"], "--jump-rate applies to the circular experiments only"),
            (["--experiment", "circular", "--jump-rate", "-0.1"], "--jump-rate must be in 0.0…1.0, got -0.1"),
            (["--objective", "vicreg"], "The value 'vicreg' is invalid for '--objective <objective>'"),
            (["--objective", "cpc", "--context-steps", "0"], "--context-steps must be in 1…50, got 0"),
            (["cpc", "--temperature", "-1"], "--temperature must be at least 0.0001 (below it the float32 kernels lose accuracy as 1/τ) and finite, got -1.0"),
            (["--experiment", "two-view", "--classes", "1"], "--classes must be in 2…10000, got 1"),
            (["--experiment", "two-view", "--target-momentum", "0.9"], "--target-momentum applies to byol, jepa"),
            (["--experiment", "two-view", "--objective", "jepa", "--target-momentum", "1"], "--target-momentum must be in [0, 1)"),
            (["--epochs", "0"], "--epochs must be in 1…1000000, got 0"),
            (["kalman", "--epochs", "-3"], "--epochs must be in 1…1000000, got -3"),
            (["--train-sequences", "4"], "--train-sequences must be in 8…100000"),
            (["--device", "-1", "--backend", "opencl"], "--device must be at least 0, got -1"),
            (["--resume", "--out", directory], "--resume needs a checkpoint"),
            (["--learning-rate-scale", "0"], "--learning-rate-scale must be positive"),
            (["--clip-norm", "0"], "--clip-norm must be positive"),
            (["--weight-decay", "nan"], "--weight-decay must be ≥ 0"),
            (["--out", "/dev/null/run"], "cannot create the output directory"),
        ]
        for (arguments, message) in cases {
            let result = try Self.run(["train"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.error.contains(message), "\(result.error) should contain \(message)")
        }
        // SIGINT or SIGTERM during a long run: exit status 128 + the signal, and the checkpoint of the last completed
        // epoch is valid (with a subcommand and with the --experiment form).
        for (signal, arguments) in [(SIGINT, ["train", "--experiment", "square"]), (SIGTERM, ["train", "kalman"])] {
            try? FileManager.default.removeItem(atPath: directory)
            guard let binary = Self.ldm else { throw MissingBinary() }
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments + ["--epochs", "1000", "--train-sequences", "16", "--out", directory, "--quiet"]
            process.standardError = Pipe()
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: directory + "/checkpoint.safetensors") && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            Thread.sleep(forTimeInterval: 0.2)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            #expect(process.terminationStatus == 128 + signal, "signal \(signal)")
            let (tensors, metadata) = try SafeTensors.read(directory + "/checkpoint.safetensors")
            let epochs = try #require(metadata["epochs"].flatMap(Int.init))
            #expect(epochs >= 1 && epochs < 1000)
            #expect(tensors["encoder.0.weight"] != nil)
        }
    }

    /// A negative number is a value, also as a separate argument: `--log-scale -0.5` is `--log-scale=-0.5`.
    @Test func negativeNumbersAreSeparateArguments() throws {
        let directory = try Self.objectiveInputs()
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        var generator = SeededGenerator(seed: 5)
        try NumPyFile.write(generator.floats(3 * 10 * 2), shape: [3, 10, 2], to: path("z.npy"))
        try NumPyFile.write([0.9, -0.2, 0.2, 0.9], shape: [2, 2], to: path("A.npy"))
        let common = ["kalman", "loss", "--z", path("z.npy"), "--A", path("A.npy"), "--json"]
        let separate = try Self.run(common + ["--log-scale", "-0.5"]), joined = try Self.run(common + ["--log-scale=-0.5"])
        #expect(separate.status == 0 && joined.status == 0, "\(separate.error) \(joined.error)")
        #expect(separate.output == joined.output || separate.output.split(separator: ",").first == joined.output.split(separator: ",").first)
        let loss = { (run: Run) in (try? JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])?["loss"] as? Double }
        #expect(loss(separate) != nil && loss(separate) == loss(joined))
        #expect(loss(separate) != loss(try Self.run(common + ["--log-scale", "0.5"])), "the sign was read")
    }

    @Test func metricsCompareArrays() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldm-cli-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = { (name: String) in directory + "/" + name }
        var generator = SeededGenerator(seed: 41)
        let truth = generator.floats(300 * 2)
        try NumPyFile.write(truth, shape: [300, 2], to: path("truth.npy"))
        var estimate = [Float](repeating: 0, count: 600)
        for r in 0..<300 { (estimate[r * 2], estimate[r * 2 + 1]) = (3 * truth[r * 2 + 1], -truth[r * 2]) }
        try NumPyFile.write(estimate, shape: [300, 2], to: path("estimate.npy"))
        try NumPyFile.write([0, 0, 1, 1, 1], shape: [5], to: path("clusters.npy"))
        try NumPyFile.write([1, 1, 0, 0, 2], shape: [5], to: path("labels.npy"))
        try NumPyFile.write([0.5, 1], shape: [2], to: path("fractional.npy"))
        let mcc = try Self.run(["metrics", "mcc", "--estimate", path("estimate.npy"), "--truth", path("truth.npy")])
        let mccJSON = try #require(try JSONSerialization.jsonObject(with: Data(mcc.output.utf8)) as? [String: Any])
        #expect((mccJSON["mcc"] as? Double ?? 0) > 0.9999 && mccJSON["matching"] as? [Int] == [1, 0], "\(mcc.output)")
        let accuracy = try Self.run(["metrics", "clustering-accuracy", "--clusters", path("clusters.npy"), "--labels", path("labels.npy")])
        let accuracyJSON = try #require(try JSONSerialization.jsonObject(with: Data(accuracy.output.utf8)) as? [String: Any])
        #expect(abs((accuracyJSON["clustering_accuracy"] as? Double ?? 0) - 0.8) < 1e-12, "\(accuracy.output)")
        let mismatch = try Self.run(["metrics", "cka", "--x", path("clusters.npy"), "--y", path("truth.npy")])
        #expect(mismatch.status != 0 && mismatch.error.contains("x has 5 rows but y has 300"), "\(mismatch.error)")
        let fractional = try Self.run(["metrics", "clustering-accuracy", "--clusters", path("fractional.npy"), "--labels", path("fractional.npy")])
        #expect(fractional.status != 0 && fractional.error.contains("must be non-negative integers"), "\(fractional.error)")
    }
}

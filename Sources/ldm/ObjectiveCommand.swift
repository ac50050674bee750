import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives

/// `ldm objective`: one objective on two NumPy arrays, the value as JSON, the gradients as .npy.
struct ObjectiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objective",
        abstract: "Evaluate an LDM objective or a preset on two views stored as .npy files.",
        discussion: """
            Reads z1 and z2 (B × d, float32 or float64, C order), evaluates the objective on the chosen backend \
            and prints loss, alignment and entropy (loss = −(alignment + entropy)). With --grad-dir, writes \
            dz1.npy and dz2.npy, the gradients of the loss. Presets: simclr, ldm-contrastive, mi-contrastive, \
            ldm-logdet, ldm-knn, vicreg, barlow, clustering (softmax rows), byol and jepa (z1 the prediction, z2 the \
            detached target), cpc (z1 contexts, z2 targets, --predictor W_k; also writes dpredictor.npy) and ica \
            (z1 the data x, z2 the unmixing matrix W). Or any grid point: --latent sphere|plane|gaussian|categorical, \
            --entropy kde|logdet|knn|taylor|vicreg|plugin|stopgrad|none, --variant ldm|mi. Every one runs on either \
            backend.
            """)

    @Option(help: "First view, B × d .npy.") var z1: String
    @Option(help: "Second view, B × d .npy.") var z2: String
    @Option(help: "A named method with its usual defaults, or a grid point LATENT+ENTROPY[+mi] (e.g. plane+knn).")
    var preset: String?
    @Option(help: "Latent model of the alignment term.") var latent: ObjectiveRegistry.Latent?
    @Option(help: "Entropy estimator.") var entropy: ObjectiveRegistry.Entropy?
    @Option(help: "ldm (joint entropy of [z1 ‖ z2]) or mi (sum of the views' entropies).") var variant: VariantChoice?
    @Option(parsing: .unconditional, help: "Prediction precision κ_p of the alignment term.") var predictionPrecision: Float = 5
    @Option(parsing: .unconditional, help: "Kernel precision κ_k of the KDE estimator.") var kernelPrecision: Float = 5
    @Option(parsing: .unconditional, help: "Temperature τ of the simclr and cpc presets.") var temperature: Float = 0.5
    @Flag(help: "Leave j = i out of the KDE sums.") var leaveOneOut = false
    @Option(parsing: .unconditional, help: "ε added to the covariance diagonal by the logdet estimator.") var epsilon: Float = 1e-8
    @Option(parsing: .unconditional, help: "k of the knn estimator (the k-th nearest other row).") var k: Int = 3
    @Option(help: "Scale c of the knn estimator: 1 or d.") var knnScale: KNNScale = .one
    @Option(parsing: .unconditional, help: "σ² of the gaussian latent model (Σ = σ²·I).") var variance: Float = 1
    @Option(help: "Σ of the gaussian latent model and jepa: a .npy of d variances (diagonal) or a d × d matrix.")
    var covariance: String?
    @Option(parsing: .unconditional, help: "Match probability p of the categorical model (τ = 1/log((K−1)p/(1−p))); anneal 0.8 → 0.99.")
    var matchProbability: Float = 0.9
    @Option(help: "The cpc preset's predictor W_k (d_z × d_c .npy); z1 holds the contexts, z2 the targets.")
    var predictor: String?
    @Option(parsing: .unconditional, help: "α of the ica preset's generalised-Gaussian prior.") var alpha: Float = 1
    @Option(parsing: .unconditional, help: "β of the ica preset's generalised-Gaussian prior (4 in the reference demos).") var beta: Float = 4
    @Option(parsing: .unconditional, help: "λ of the barlow preset (weight of the off-diagonal terms).") var barlowLambda: Float = 5e-3
    @Option(help: "VICReg weights λ,μ,ν (invariance, variance, covariance) for --preset vicreg and --entropy vicreg.")
    var vicregWeights: String = "25,25,1"
    @Option(help: "How the LDM variant joins the views for logdet: stacked (2B × d) or concatenated (B × 2d).")
    var logdetForm: JointForm = .stacked
    @Option(parsing: .unconditional, help: "Entropy multiplier m of the MI variant.") var entropyMultiplier: Float = 2
    @OptionGroup(title: "Backend") var backend: BackendOptions
    @Option(help: "Directory to write dz1.npy and dz2.npy into (created if missing).") var gradDir: String?
    @Flag(help: "With the stop-gradient estimator, report stopgrad_knn_cosine: the cosine between the direction the stop-gradient adds on the target and the kNN entropy's gradient.")
    var stopgradDiagnostic = false
    @Flag(help: "Print JSON: loss, alignment, entropy, objective, backend, shape, seconds.") var json = false
    @Option(help: "Evaluate this many times (1 to 1000) and report the median seconds (the first evaluation includes the backend's warm-up: kernel builds, first allocations).")
    var repeats = 1

    enum VariantChoice: String, ExpressibleByArgument, CaseIterable { case ldm, mi }

    func validate() throws {
        if preset == nil && (latent == nil || entropy == nil || variant == nil) {
            throw ValidationError("give --preset, or all of --latent, --entropy and --variant")
        }
        if preset != nil && (latent != nil || entropy != nil || variant != nil) {
            throw ValidationError("--preset cannot be combined with --latent, --entropy or --variant")
        }
        if let preset, (try? ObjectiveRegistry.spec(named: preset)) == nil {
            throw ValidationError("--preset must be \(ObjectiveRegistry.accepted); got '\(preset)'")
        }
        for (value, name) in [(predictionPrecision, "--prediction-precision"), (entropyMultiplier, "--entropy-multiplier"),
                              (variance, "--variance")] {
            try Check.positive(value, name)
        }
        try Check.temperature(temperature, "--temperature")
        try Check.inverseTemperature(kernelPrecision, "--kernel-precision")
        guard parsedWeights() != nil else {
            throw ValidationError("--vicreg-weights takes three non-negative numbers like 25,25,1; got \(vicregWeights)")
        }
        try Check.nonNegative(barlowLambda, "--barlow-lambda")
        guard matchProbability > 0, matchProbability < 1 else {
            throw ValidationError("--match-probability must be in (0, 1), got \(matchProbability)")
        }
        try Check.nonNegative(alpha, "--alpha")
        if !(beta.isFinite && beta >= 1) { throw ValidationError("--beta must be at least 1 and finite, got \(beta)") }
        try Check.atLeast(k, 1, "--k")
        try Check.nonNegative(epsilon, "--epsilon")
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be 1 to 1000, got \(repeats)") }
    }

    /// λ, μ, ν from --vicreg-weights, or nil when malformed.
    func parsedWeights() -> (Float, Float, Float)? {
        let parts = vicregWeights.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    /// The options as the registry's parameters (the covariance and predictor files uploaded to `backend`).
    func parameters(on backend: any Backend) throws -> ObjectiveParameters {
        var p = ObjectiveParameters()
        (p.predictionPrecision, p.kernelPrecision, p.temperature, p.leaveOneOut) = (predictionPrecision, kernelPrecision, temperature, leaveOneOut)
        (p.epsilon, p.k, p.knnScale, p.variance, p.matchProbability) = (epsilon, k, knnScale, variance, matchProbability)
        (p.alpha, p.beta, p.barlowLambda, p.logdetForm, p.entropyMultiplier) = (alpha, beta, barlowLambda, logdetForm, entropyMultiplier)
        p.vicregWeights = parsedWeights() ?? (25, 25, 1)
        p.diagnoseStopGradient = stopgradDiagnostic
        p.covariance = try covariance.map { try Self.covarianceMatrix($0, on: backend) }
        p.predictor = try predictor.map { path in
            let (shape, values) = try readFiniteArray(path, ranks: [2], what: "the predictor W")
            return try backend.upload(values, shape: shape)
        }
        return p
    }

    func objective(on backend: any Backend) throws -> any Objective {
        let spec = try preset.map { try ObjectiveRegistry.spec(named: $0) }
            ?? ObjectiveRegistry.gridPoint(latent!, entropy!, mi: variant == .mi)
        if spec.name == "cpc" && predictor == nil { throw LDMError.invalidArgument("--preset cpc needs --predictor W.npy") }
        return try spec.make(try parameters(on: backend))
    }

    struct Output: Encodable {
        var loss: Double
        var alignment: Double
        var entropy: Double
        var objective: String
        var backend: String
        var shape: [Int]
        var seconds: Double
        var diagnostics: [String: Double]?
    }

    func run() throws {
        try reportingErrors {
            let (first, second) = (try readMatrix(z1, what: "z1"), try readMatrix(z2, what: "z2"))
            let (shape1, shape2): (TensorShape, TensorShape) = ([first.rows, first.columns], [second.rows, second.columns])
            let (values1, values2) = (first.values, second.values)
            // ica pairs data with a matrix and cpc contexts with targets of another width; the rest need equal views.
            let sameShape = preset == "ica" || (preset == "cpc" && shape1.dims[0] == shape2.dims[0]) || shape1 == shape2
            guard sameShape else {
                throw LDMError.shapeMismatch(operation: "ldm objective",
                                             detail: "\(z1) is \(shape1) but \(z2) is \(shape2); the views must match")
            }
            let engine = try backend.open()
            let objective = try objective(on: engine)
            // Each timed evaluation uploads the views and downloads every gradient, as a caller would.
            var timings: [Double] = []
            var evaluation: (ObjectiveResult, [Float], [Float], [(String, [Float], TensorShape)])?
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                let t1 = try engine.upload(values1, shape: shape1), t2 = try engine.upload(values2, shape: shape2)
                let result = try objective.evaluate(t1, t2, on: engine)
                let dz1 = try engine.download(result.dz1), dz2 = try engine.download(result.dz2)
                let parameterGradients = try result.parameterGradients.map { ($0.0, try engine.download($0.1), $0.1.shape) }
                timings.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                evaluation = (result, dz1, dz2, parameterGradients)
            }
            guard let (result, dz1, dz2, parameterGradients) = evaluation else { return }
            let seconds = timings.sorted()[timings.count / 2]
            let v = result.value
            // Nothing is printed or written unless every reported number is finite.
            let scalars = [("loss", v.loss), ("alignment", v.alignment), ("entropy", v.entropy)] + v.diagnostics.sorted { $0.key < $1.key }
            let arrays = [("dz1", dz1), ("dz2", dz2)] + parameterGradients.map { ("d\($0.0)", $0.1) }
            let bad = scalars.filter { !$0.1.isFinite }.map { "\($0.0) \($0.1)" }
                + arrays.filter { $0.1.contains { !$0.isFinite } }.map { "\($0.0) has non-finite entries" }
            if !bad.isEmpty {
                throw LDMError.invalidArgument(Self.overflowMessage(bad, scale: max(Self.maximumMagnitude(values1), Self.maximumMagnitude(values2))))
            }
            if let gradDir {
                try writeArrays([("dz1.npy", dz1, shape1), ("dz2.npy", dz2, shape2)]
                                + parameterGradients.map { ("d\($0.0).npy", $0.1, $0.2) }, to: gradDir)
            }
            if json {
                try printJSON(Output(loss: v.loss, alignment: v.alignment, entropy: v.entropy, objective: objective.name,
                                     backend: engine.info.kind.rawValue, shape: shape1.dims, seconds: seconds,
                                     diagnostics: v.diagnostics.isEmpty ? nil : v.diagnostics))
            } else {
                print(String(format: "%@ on %@: loss %.8g (alignment %.8g, entropy %.8g) in %.3f s", objective.name,
                             engine.info.description, v.loss, v.alignment, v.entropy, seconds))
                for (name, value) in v.diagnostics.sorted(by: { $0.key < $1.key }) { print("  \(name): \(value)") }
            }
        }
    }

    static func maximumMagnitude(_ values: [Float]) -> Float { values.reduce(0) { max($0, abs($1)) } }

    /// Why an objective came out non-finite, naming the input scale when float32 overflow is the likely cause.
    static func overflowMessage(_ bad: [String], scale: Float) -> String {
        let what = "the objective came out non-finite (\(bad.joined(separator: ", "))) for inputs up to |z| = \(scale)"
        // float32 holds up to 3.4e38, so squares, squared distances and covariances overflow from |z| ≈ 1.8e19 on
        // (earlier for wide rows, and log-determinants of covariances of |z|² well before that).
        if scale >= 1e15 {
            return what + ": products of such values overflow float32 (largest 3.4e38, so |z|² overflows from |z| ≈ 1.8e19, "
                + "sums and log-determinants earlier); rescale the inputs (e.g. standardise them). Nothing was written"
        }
        return what + "; check the objective's parameters. Nothing was written"
    }

    /// The --covariance file as Σ: d variances become a diagonal matrix, a d × d matrix is used as given.
    static func covarianceMatrix(_ path: String, on backend: any Backend) throws -> Tensor {
        let (shape, values) = try readFiniteArray(path, ranks: [1, 2], what: "the covariance")
        if shape.rank == 1 {
            let d = shape.dims[0]
            guard values.allSatisfy({ $0 > 0 }) else { throw LDMError.invalidFile(path: path, problem: "variances must be positive") }
            var matrix = [Float](repeating: 0, count: d * d)
            for k in 0..<d { matrix[k * d + k] = values[k] }
            return try backend.upload(matrix, shape: [d, d])
        }
        guard shape.dims[0] == shape.dims[1] else {
            throw LDMError.invalidFile(path: path, problem: "expected d variances or a d × d matrix, found shape \(shape)")
        }
        do { try CovarianceCheck.symmetric(values, shape.dims[0], "the covariance", definite: true) } catch let error as LDMError {
            throw LDMError.invalidFile(path: path, problem: error.description)
        }
        return try backend.upload(values, shape: shape)
    }
}

extension JointForm: ExpressibleByArgument {}
extension KNNScale: ExpressibleByArgument {}
extension ObjectiveRegistry.Latent: ExpressibleByArgument {}
extension ObjectiveRegistry.Entropy: ExpressibleByArgument {}

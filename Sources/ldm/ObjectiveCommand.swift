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

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        case simclr, ldmContrastive = "ldm-contrastive", miContrastive = "mi-contrastive", ldmLogdet = "ldm-logdet"
        case ldmKnn = "ldm-knn", jepaStopgrad = "jepa"
        case vicreg, barlow, byol, clustering, cpc, ica
    }

    enum Latent: String, ExpressibleByArgument, CaseIterable { case sphere, plane, gaussian, categorical }
    enum Entropy: String, ExpressibleByArgument, CaseIterable {
        case kde, knn, logdet, taylor, vicreg, plugin, stopgrad, none
    }
    enum VariantChoice: String, ExpressibleByArgument, CaseIterable { case ldm, mi }

    @Option(help: "First view, B × d .npy.") var z1: String
    @Option(help: "Second view, B × d .npy.") var z2: String
    @Option(help: "A named method with its usual defaults.") var preset: Preset?
    @Option(help: "Latent model of the alignment term.") var latent: Latent?
    @Option(help: "Entropy estimator.") var entropy: Entropy?
    @Option(help: "ldm (joint entropy of [z1 ‖ z2]) or mi (sum of the views' entropies).") var variant: VariantChoice?
    @Option(help: "Prediction precision κ_p of the alignment term.") var predictionPrecision: Float = 5
    @Option(help: "Kernel precision κ_k of the KDE estimator.") var kernelPrecision: Float = 5
    @Option(help: "Temperature τ of the simclr preset.") var temperature: Float = 0.5
    @Flag(help: "Leave j = i out of the KDE sums.") var leaveOneOut = false
    @Option(help: "ε added to the covariance diagonal by the logdet estimator.") var epsilon: Float = 1e-8
    @Option(help: "k of the knn estimator (the k-th nearest other row).") var k: Int = 3
    @Option(help: "Scale c of the knn estimator: 1 or d.") var knnScale: KNNScale = .one
    @Option(help: "σ² of the gaussian latent model (Σ = σ²·I).") var variance: Float = 1
    @Option(help: "Σ of the gaussian latent model and jepa: a .npy of d variances (diagonal) or a d × d matrix.")
    var covariance: String?
    @Option(help: "Match probability p of the categorical model (τ = 1/log((K−1)p/(1−p))); anneal 0.8 → 0.99.")
    var matchProbability: Float = 0.9
    @Option(help: "The cpc preset's predictor W_k (d_z × d_c .npy); z1 holds the contexts, z2 the targets.")
    var predictor: String?
    @Option(help: "α of the ica preset's generalised-Gaussian prior.") var alpha: Float = 1
    @Option(help: "β of the ica preset's generalised-Gaussian prior (4 in the reference demos).") var beta: Float = 4
    @Option(help: "λ of the barlow preset (weight of the off-diagonal terms).") var barlowLambda: Float = 5e-3
    @Option(help: "VICReg weights λ,μ,ν (invariance, variance, covariance) for --preset vicreg and --entropy vicreg.")
    var vicregWeights: String = "25,25,1"
    @Option(help: "How the LDM variant joins the views for logdet: stacked (2B × d) or concatenated (B × 2d).")
    var logdetForm: JointForm = .stacked
    @Option(help: "Entropy multiplier m of the MI variant.") var entropyMultiplier: Float = 2
    @Option(help: "cpu or opencl.") var backend: BackendChoice = .cpu
    @Option(help: "OpenCL device index (see `ldm devices`).") var device: Int?
    @Option(help: "Directory to write dz1.npy and dz2.npy into (created if missing).") var gradDir: String?
    @Flag(help: "With the stop-gradient estimator, report stopgrad_knn_cosine: the cosine between the direction the stop-gradient adds on the target and the kNN entropy's gradient.")
    var stopgradDiagnostic = false
    @Flag(help: "Print JSON: loss, alignment, entropy, objective, backend, shape, seconds.") var json = false

    func validate() throws {
        if preset == nil && (latent == nil || entropy == nil || variant == nil) {
            throw ValidationError("give --preset, or all of --latent, --entropy and --variant")
        }
        if preset != nil && (latent != nil || entropy != nil || variant != nil) {
            throw ValidationError("--preset cannot be combined with --latent, --entropy or --variant")
        }
        guard backend != .all else { throw ValidationError("--backend must be cpu or opencl") }
        for (value, name) in [(predictionPrecision, "--prediction-precision"), (kernelPrecision, "--kernel-precision"),
                              (temperature, "--temperature"), (entropyMultiplier, "--entropy-multiplier"),
                              (variance, "--variance")] {
            guard value.isFinite, value > 0 else { throw ValidationError("\(name) must be positive, got \(value)") }
        }
        guard parsedWeights() != nil else {
            throw ValidationError("--vicreg-weights takes three non-negative numbers like 25,25,1; got \(vicregWeights)")
        }
        guard barlowLambda.isFinite, barlowLambda >= 0 else {
            throw ValidationError("--barlow-lambda must be non-negative, got \(barlowLambda)")
        }
        guard matchProbability > 0, matchProbability < 1 else {
            throw ValidationError("--match-probability must be in (0, 1), got \(matchProbability)")
        }
        guard alpha.isFinite, alpha >= 0, beta.isFinite, beta >= 1 else {
            throw ValidationError("--alpha must be non-negative and --beta at least 1")
        }
        guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
        guard epsilon.isFinite, epsilon >= 0 else { throw ValidationError("--epsilon must be non-negative, got \(epsilon)") }
    }

    /// λ, μ, ν from --vicreg-weights, or nil when malformed.
    func parsedWeights() -> (Float, Float, Float)? {
        let parts = vicregWeights.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    func objective(on backend: any Backend) throws -> any Objective {
        let (lambda, mu, nu) = parsedWeights() ?? (25, 25, 1)
        if let preset {
            switch preset {
            case .simclr: return NTXent(temperature: temperature)
            case .ldmContrastive:
                return LDMObjective(latent: .sphere(precision: predictionPrecision),
                                    entropy: .kde(precision: kernelPrecision, leaveOneOut: leaveOneOut), variant: .ldm)
            case .miContrastive:
                return LDMObjective(latent: .sphere(precision: predictionPrecision),
                                    entropy: .kde(precision: kernelPrecision, leaveOneOut: leaveOneOut),
                                    variant: .mi(multiplier: entropyMultiplier))
            case .ldmLogdet:
                return LDMObjective(latent: .plane(precision: predictionPrecision),
                                    entropy: .logdet(epsilon: epsilon, form: logdetForm), variant: .ldm)
            case .vicreg:
                return VICReg(invariance: lambda, variance: mu, covariance: nu)
            case .jepaStopgrad:
                // z1 = predictor(context) = μ, z2 = the target embedding, detached; Σ = σ²·I or --covariance.
                return LDMObjective(latent: try gaussianModel(on: backend), entropy: .stopGradient, variant: .ldm,
                                    diagnoseStopGradient: stopgradDiagnostic)
            case .clustering:
                return LDMObjective(latent: .categorical(matchProbability: matchProbability), entropy: .plugIn,
                                    variant: .ldm)
            case .barlow:
                return BarlowTwins(lambda: barlowLambda)
            case .ica:
                return ICA(alpha: alpha, beta: beta)
            case .cpc:
                guard let predictor else { throw LDMError.invalidArgument("--preset cpc needs --predictor W.npy") }
                let (shape, values) = try NumPyFile.read(predictor)
                guard shape.rank == 2, values.allSatisfy({ $0.isFinite }) else {
                    throw LDMError.invalidFile(path: predictor, problem: "expected a finite d_z × d_c matrix, found shape \(shape)")
                }
                return CPC(predictor: try backend.upload(values, shape: shape), temperature: temperature)
            case .byol:
                // lightly's NegativeCosineSimilarity(prediction, target.detach()): z1 predicts, z2 is the target.
                return LDMObjective(latent: .sphere(precision: 1), entropy: .stopGradient, variant: .ldm,
                                    diagnoseStopGradient: stopgradDiagnostic)
            case .ldmKnn:
                return LDMObjective(latent: .plane(precision: predictionPrecision), entropy: .knn(k: k, scale: knnScale),
                                    variant: .ldm)
            }
        }
        let model: LatentModel = switch latent! {
        case .sphere: .sphere(precision: predictionPrecision)
        case .plane: .plane(precision: predictionPrecision)
        case .gaussian: try gaussianModel(on: backend)
        case .categorical: .categorical(matchProbability: matchProbability)
        }
        let term: EntropyTerm
        switch entropy! {
        case .kde: term = .kde(precision: kernelPrecision, leaveOneOut: leaveOneOut)
        case .logdet: term = .logdet(epsilon: epsilon, form: logdetForm)
        case .knn: term = .knn(k: k, scale: knnScale)
        case .taylor: term = .taylor(form: logdetForm)
        case .vicreg: term = .vicreg(varianceWeight: mu, covarianceWeight: nu)
        case .stopgrad: term = .stopGradient
        case .plugin: term = .plugIn
        case .none: term = .none
        }
        return LDMObjective(latent: model, entropy: term,
                            variant: variant == .ldm ? .ldm : .mi(multiplier: entropyMultiplier),
                            diagnoseStopGradient: stopgradDiagnostic)
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
            let (shape1, values1) = try readView(z1)
            let (shape2, values2) = try readView(z2)
            // ica pairs data with a matrix and cpc contexts with targets of another width; the rest need equal views.
            let sameShape = preset == .ica || (preset == .cpc && shape1.dims[0] == shape2.dims[0]) || shape1 == shape2
            guard sameShape else {
                throw LDMError.shapeMismatch(operation: "ldm objective",
                                             detail: "\(z1) is \(shape1) but \(z2) is \(shape2); the views must match")
            }
            let engine = try openBackends(backend, device: device)[0]
            let objective = try objective(on: engine)
            let start = DispatchTime.now().uptimeNanoseconds
            let t1 = try engine.upload(values1, shape: shape1), t2 = try engine.upload(values2, shape: shape2)
            let result = try objective.evaluate(t1, t2, on: engine)
            let dz1 = try engine.download(result.dz1), dz2 = try engine.download(result.dz2)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if let gradDir {
                try createOutputDirectory(gradDir)
                try NumPyFile.write(dz1, shape: shape1, to: (gradDir as NSString).appendingPathComponent("dz1.npy"))
                try NumPyFile.write(dz2, shape: shape2, to: (gradDir as NSString).appendingPathComponent("dz2.npy"))
                for (name, gradient) in result.parameterGradients {
                    try NumPyFile.write(try engine.download(gradient), shape: gradient.shape,
                                        to: (gradDir as NSString).appendingPathComponent("d\(name).npy"))
                }
            }
            let v = result.value
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

    /// Σ = σ²·I, or the --covariance file: d variances become a diagonal matrix, a d × d matrix is used as given.
    private func gaussianModel(on backend: any Backend) throws -> LatentModel {
        guard let covariance else { return .gaussian(variance: variance) }
        let (shape, values) = try NumPyFile.read(covariance)
        guard values.allSatisfy({ $0.isFinite }) else {
            throw LDMError.invalidFile(path: covariance, problem: "the covariance has non-finite entries")
        }
        switch shape.rank {
        case 1:
            let d = shape.dims[0]
            guard values.allSatisfy({ $0 > 0 }) else {
                throw LDMError.invalidFile(path: covariance, problem: "variances must be positive")
            }
            var matrix = [Float](repeating: 0, count: d * d)
            for k in 0..<d { matrix[k * d + k] = values[k] }
            return .gaussianWithCovariance(try backend.upload(matrix, shape: [d, d]))
        case 2 where shape.dims[0] == shape.dims[1]:
            return .gaussianWithCovariance(try backend.upload(values, shape: shape))
        default:
            throw LDMError.invalidFile(path: covariance, problem: "expected d variances or a d × d matrix, found shape \(shape)")
        }
    }

    /// A B × d view from `path`, refusing other ranks and non-finite values with the file and index named.
    private func readView(_ path: String) throws -> (TensorShape, [Float]) {
        let (shape, values) = try NumPyFile.read(path)
        guard shape.rank == 2 else {
            throw LDMError.invalidFile(path: path, problem: "expected a B × d matrix, found shape \(shape)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            let d = shape.dims[1]
            throw LDMError.invalidFile(path: path, problem: "non-finite value \(values[bad]) at row \(bad / d), column \(bad % d)")
        }
        return (shape, values)
    }
}

extension JointForm: ExpressibleByArgument {}
extension KNNScale: ExpressibleByArgument {}

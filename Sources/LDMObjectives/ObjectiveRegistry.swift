import LDMEngine
import LDMParallel

/// The knobs of every objective, with the defaults that `ldm objective` and the training tasks share (docs/
/// mathematics.md §2–§4). An objective reads only the ones it has.
public struct ObjectiveParameters: Sendable {
    /// The ranks of a data-parallel run that split the pairwise sums of simclr and the KDE entropies (nil: one process).
    public var group: ProcessGroup?
    /// κ_p of the sphere and plane models.
    public var predictionPrecision: Float = 5
    /// κ_k of the KDE estimator.
    public var kernelPrecision: Float = 5
    /// τ of NT-Xent (simclr) and CPC.
    public var temperature: Float = 0.5
    /// Leave j = i out of the KDE sums.
    public var leaveOneOut = false
    /// ε of the log-det estimator.
    public var epsilon: Float = 1e-8
    /// k and the scale c of the kNN estimator.
    public var k = 3
    public var knnScale = KNNScale.one
    /// σ² of the Gaussian model (Σ = σ²·I), unless `covariance` gives Σ (d × d on the backend).
    public var variance: Float = 1
    public var covariance: Tensor?
    /// p of the categorical model (τ = 1/log((K−1)p/(1−p))); the training tasks anneal it 0.8 → 0.99.
    public var matchProbability: Float = 0.9
    /// α and β of the ICA prior.
    public var alpha: Float = 1, beta: Float = 4
    /// λ of Barlow Twins.
    public var barlowLambda: Float = 5e-3
    /// VICReg's invariance, variance and covariance weights (the last two also weight the vicreg estimator).
    public var vicregWeights: (invariance: Float, variance: Float, covariance: Float) = (25, 25, 1)
    /// How the LDM variant joins the views for the log-det and Taylor estimators.
    public var logdetForm = JointForm.stacked
    /// m of the MI variant.
    public var entropyMultiplier: Float = 2
    /// Report the stop-gradient diagnostic (``LDMObjective/diagnoseStopGradient``).
    public var diagnoseStopGradient = false
    /// CPC's predictor W_k (d_z × d_c on the backend).
    public var predictor: Tensor?

    public init() {}
}

/// What an objective needs around the encoder that produces z.
public enum RepresentationHead: String, Sendable {
    /// The encoder's output as it is.
    case none
    /// L2-normalised rows (the sphere models; the objectives normalise too, the representation is kept on the sphere).
    case sphere
    /// A row softmax over K classes (the categorical model).
    case softmax
}

/// One objective by name: how to build it and what it needs (a head, a predictor on the online branch).
public struct ObjectiveSpec: Sendable {
    public let name: String
    /// One line for help texts.
    public let summary: String
    public let head: RepresentationHead
    /// The stop-gradient methods: a predictor head on the online branch, the target detached.
    public let needsPredictor: Bool
    /// Whether the two-view and image tasks can train it (cpc and ica take other inputs than two views).
    public let trainsTwoViews: Bool
    /// The categorical model, whose match probability the training tasks anneal.
    public let annealsMatchProbability: Bool
    let build: @Sendable (ObjectiveParameters) throws -> any Objective

    /// The objective with `parameters`.
    public func make(_ parameters: ObjectiveParameters = ObjectiveParameters()) throws -> any Objective {
        try build(parameters)
    }
}

/// The one list of objectives by name: the presets of docs/mathematics.md §4 and every grid point
/// `LATENT+ENTROPY[+mi]` of §2–§3, shared by `ldm objective` and the training tasks.
///
/// ```swift
/// let spec = try ObjectiveRegistry.spec(named: "plane+knn")      // or "simclr", "byol", ...
/// let objective = try spec.make()
/// ```
public enum ObjectiveRegistry {
    /// The latent models of a grid point.
    public enum Latent: String, Sendable, CaseIterable { case sphere, plane, gaussian, categorical }
    /// The entropy estimators of a grid point.
    public enum Entropy: String, Sendable, CaseIterable { case kde, knn, logdet, taylor, vicreg, plugin, stopgrad, none }

    /// The named methods.
    public static let presets: [ObjectiveSpec] = [
        preset("simclr", "NT-Xent at --temperature (lightly's NTXentLoss)", head: .sphere) { NTXent(temperature: $0.temperature, group: $0.group) },
        gridSpec("ldm-contrastive", "sphere + vMF KDE, LDM variant (κ_p = κ_k = 5)", .sphere, .kde, mi: false),
        gridSpec("mi-contrastive", "sphere + vMF KDE, MI variant", .sphere, .kde, mi: true),
        gridSpec("ldm-logdet", "plane + Gaussian log-det, LDM variant", .plane, .logdet, mi: false),
        gridSpec("ldm-knn", "plane + kNN (k = 3), LDM variant", .plane, .knn, mi: false),
        preset("vicreg", "VICReg 25/25/1 (lightly's VICRegLoss)") {
            VICReg(invariance: $0.vicregWeights.invariance, variance: $0.vicregWeights.variance, covariance: $0.vicregWeights.covariance)
        },
        preset("barlow", "Barlow Twins, λ = 5e-3") { BarlowTwins(lambda: $0.barlowLambda) },
        // z1 = the predictor's output, z2 = the target, detached by the estimator (dz2 = 0).
        // The objective normalises both sides itself; the representation stays unnormalised, as BYOL's projector.
        preset("byol", "negative cosine to a detached target, with a predictor", predictor: true) {
            LDMObjective(latent: .sphere(precision: 1), entropy: .stopGradient, variant: .ldm, diagnoseStopGradient: $0.diagnoseStopGradient)
        },
        preset("jepa", "Gaussian (Σ = I) to a detached target, with a predictor", predictor: true) {
            LDMObjective(latent: gaussian($0), entropy: .stopGradient, variant: .ldm, diagnoseStopGradient: $0.diagnoseStopGradient)
        },
        gridSpec("clustering", "categorical + plug-in entropy of the batch joint (softmax head)", .categorical, .plugin, mi: false),
        gridSpec("clustering-mi", "categorical + the marginals' plug-in entropies (softmax head)", .categorical, .plugin, mi: true),
        preset("cpc", "InfoNCE of W·context against the targets (z1 contexts, z2 targets, a predictor W)", twoViews: false) { p in
            guard let predictor = p.predictor else { throw LDMError.invalidArgument("the cpc objective needs a predictor W") }
            return CPC(predictor: predictor, temperature: p.temperature)
        },
        preset("ica", "½·log det(W·Wᵀ) − α·mean Σ|s|^β (z1 the data x, z2 the unmixing W)", twoViews: false) {
            ICA(alpha: $0.alpha, beta: $0.beta)
        },
    ]

    /// A preset, or a grid point `LATENT+ENTROPY[+mi]` such as `plane+knn` or `sphere+logdet+mi`.
    public static func spec(named name: String) throws -> ObjectiveSpec {
        if let preset = presets.first(where: { $0.name == name }) { return preset }
        let parts = name.split(separator: "+").map(String.init)
        guard (2...3).contains(parts.count), let latent = Latent(rawValue: parts[0]), let entropy = Entropy(rawValue: parts[1]),
              parts.count == 2 || parts[2] == "mi" else {
            throw LDMError.invalidArgument("unknown objective '\(name)'; use \(accepted)")
        }
        return try gridPoint(latent, entropy, mi: parts.count == 3)
    }

    /// What an objective name may be, for help and errors.
    public static var accepted: String {
        presets.map(\.name).joined(separator: ", ") + ", or LATENT+ENTROPY[+mi] with LATENT in "
            + Latent.allCases.map(\.rawValue).joined(separator: "|") + " and ENTROPY in "
            + Entropy.allCases.map(\.rawValue).joined(separator: "|")
    }

    /// The grid point (latent model, entropy estimator, variant) with the shared defaults. The plug-in entropy needs
    /// softmax rows, so it goes with the categorical model only.
    public static func gridPoint(_ latent: Latent, _ entropy: Entropy, mi: Bool) throws -> ObjectiveSpec {
        guard entropy != .plugin || latent == .categorical else {
            throw LDMError.invalidArgument("the plugin entropy needs the categorical latent model (softmax rows)")
        }
        let name = "\(latent.rawValue)+\(entropy.rawValue)" + (mi ? "+mi" : "")
        return gridSpec(name, "\(latent.rawValue) model, \(entropy.rawValue) entropy, \(mi ? "MI" : "LDM") variant", latent, entropy, mi: mi)
    }

    private static func gridSpec(_ name: String, _ summary: String, _ latent: Latent, _ entropy: Entropy, mi: Bool) -> ObjectiveSpec {
        let head: RepresentationHead = latent == .sphere ? .sphere : latent == .categorical ? .softmax : .none
        return ObjectiveSpec(name: name, summary: summary, head: head, needsPredictor: entropy == .stopgrad, trainsTwoViews: true,
                             annealsMatchProbability: latent == .categorical) { p in
            var objective = LDMObjective(latent: model(latent, p), entropy: estimator(entropy, p),
                                         variant: mi ? .mi(multiplier: p.entropyMultiplier) : .ldm,
                                         diagnoseStopGradient: p.diagnoseStopGradient)
            objective.group = p.group
            return objective
        }
    }

    private static func preset(_ name: String, _ summary: String, head: RepresentationHead = .none, predictor: Bool = false,
                               twoViews: Bool = true, _ build: @escaping @Sendable (ObjectiveParameters) throws -> any Objective)
        -> ObjectiveSpec {
        ObjectiveSpec(name: name, summary: summary, head: head, needsPredictor: predictor, trainsTwoViews: twoViews,
                      annealsMatchProbability: false, build: build)
    }

    static func model(_ latent: Latent, _ p: ObjectiveParameters) -> LatentModel {
        switch latent {
        case .sphere: return .sphere(precision: p.predictionPrecision)
        case .plane: return .plane(precision: p.predictionPrecision)
        case .gaussian: return gaussian(p)
        case .categorical: return .categorical(matchProbability: p.matchProbability)
        }
    }

    static func gaussian(_ p: ObjectiveParameters) -> LatentModel {
        p.covariance.map { .gaussianWithCovariance($0) } ?? .gaussian(variance: p.variance)
    }

    static func estimator(_ entropy: Entropy, _ p: ObjectiveParameters) -> EntropyTerm {
        switch entropy {
        case .kde: return .kde(precision: p.kernelPrecision, leaveOneOut: p.leaveOneOut)
        case .knn: return .knn(k: p.k, scale: p.knnScale)
        case .logdet: return .logdet(epsilon: p.epsilon, form: p.logdetForm)
        case .taylor: return .taylor(form: p.logdetForm)
        case .vicreg: return .vicreg(varianceWeight: p.vicregWeights.variance, covarianceWeight: p.vicregWeights.covariance)
        case .plugin: return .plugIn
        case .stopgrad: return .stopGradient
        case .none: return .none
        }
    }
}

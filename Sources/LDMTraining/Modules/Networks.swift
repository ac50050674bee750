import LDMEngine
import LDMReference

extension Sequential {
    /// A multilayer perceptron Linear → [BatchNorm] → activation → … → Linear (nothing after the last layer), e.g.
    /// widths [100, 100, 2] for 100 → 100 → 2. Layers are named `<name>.<i>` (`<name>.<i>.norm` for BatchNorm),
    /// and their weights drawn from `generator` in order.
    public static func mlp(widths: [Int], activation: Activation = .relu, batchNorm: Bool = false, name: String = "encoder",
                           on backend: any Backend, generator: inout SeededGenerator) throws -> Sequential {
        guard widths.count >= 2, widths.allSatisfy({ $0 >= 1 }) else {
            throw LDMError.invalidArgument("MLP: need at least two positive widths, got \(widths)")
        }
        var modules: [any Module] = []
        for (index, (a, b)) in zip(widths, widths.dropFirst()).enumerated() {
            modules.append(try Linear(inputs: a, outputs: b, name: "\(name).\(index)", on: backend, generator: &generator))
            guard index < widths.count - 2 else { continue }
            if batchNorm { modules.append(try BatchNorm(features: b, name: "\(name).\(index).norm", on: backend)) }
            modules.append(ActivationLayer(activation, on: backend))
        }
        return Sequential(modules)
    }

    /// The per-step observation-noise network of the inferred-noise experiment (docs/mathematics.md §5: Σ_D
    /// optionally predicted per step by a small network). From a frame x [f] it predicts the log-variances ℓ [d_l]
    /// of Σ_D,t = e^s·diag(e^ℓ):
    ///
    ///     u = w ⊙ x,  y = (u − mean(u))²          variance_features.cl (w starts at ones)
    ///     h = relu(|W₁|·y + b₁)                    f → f, |W₁| starts at 1/f, b₁ at 0
    ///     v = relu(|W₂|·h + b₂)                    f → d_l, |W₂| starts at 1/f, b₂ at 0
    ///     ℓ = log(v + 1e-5)
    ///
    /// This is the structure of the paper code's variance network (positive weights through |W|, a ReLU output, a
    /// 1e-5 floor). The squared deviations of a frame from its own mean grow with the pixel noise wherever the blob
    /// is, so the network can read the noise level off the frame. Every parameter trains at `rateMultiplier`.
    public static func observationNoiseNetwork(features f: Int, latentDimension dl: Int, rateMultiplier: Float,
                                               on backend: any Backend) throws -> Sequential {
        let positive = { (name: String, outputs: Int) in
            try Linear(inputs: f, outputs: outputs, name: name, weight: [Float](repeating: 1 / Float(f), count: f * outputs),
                       bias: [Float](repeating: 0, count: outputs), positiveWeights: true, on: backend,
                       rateMultiplier: rateMultiplier)
        }
        return Sequential([
            try VarianceFeatures(features: f, name: "noise.scale", rateMultiplier: rateMultiplier, on: backend),
            try positive("noise.0", f), ActivationLayer(.relu, on: backend),
            try positive("noise.1", dl), ActivationLayer(.relu, on: backend),
            ActivationLayer(.logShifted, on: backend),
        ])
    }
}

/// `y_ij = (w_j·x_ij − m_i)²` with `m_i = mean_j w_j·x_ij` (variance_features.cl): per-row squared deviations of
/// the reweighted inputs from their own mean, with one trained weight per feature (starting at 1).
public final class VarianceFeatures: Module {
    public let features: Int
    public let scale: Parameter
    private let backend: any Backend
    private var input: Tensor?, means: Tensor?

    public init(features: Int, name: String, rateMultiplier: Float = 1, on backend: any Backend) throws {
        guard features >= 1 else { throw LDMError.invalidArgument("VarianceFeatures: need at least one feature") }
        self.features = features
        self.backend = backend
        scale = try Parameter(name: name, value: try backend.upload([Float](repeating: 1, count: features), shape: [features]),
                              on: backend, rateMultiplier: rateMultiplier)
    }

    public var parameters: [Parameter] { [scale] }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let rows = x.count / features
        let y = try backend.makeTensor([rows, features]), m = try backend.makeTensor([rows])
        try backend.varianceFeatures(x, scale.value, into: y, means: m, RowsShape(rows: rows, columns: features))
        (input, means) = (x, m)
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let x = try recorded(input, "VarianceFeatures"), m = try recorded(means, "VarianceFeatures")
        let rows = x.count / features
        let dw = try backend.makeTensor([features]), dx = try backend.makeTensor([rows, features])
        try backend.varianceFeaturesBackward(x, scale.value, means: m, dy, gradientW: dw, gradientX: dx,
                                             RowsShape(rows: rows, columns: features))
        try backend.axpy(1, dw, scale.gradient)
        return dx
    }
}

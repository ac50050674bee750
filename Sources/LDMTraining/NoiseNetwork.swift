import LDMEngine

/// The per-step observation-noise network of the inferred-noise experiment (SPEC §5: "Σ_D optionally predicted
/// per step by a small network"). From a frame x [f] it predicts the log-variances ℓ [d_l] of Σ_D,t = e^s·diag(e^ℓ):
///
///     u = w ⊙ x,  y = (u − mean(u))²          variance_features.cl (w starts at ones)
///     h = relu(|W₁|·y + b₁)                    f → f, |W₁| starts at 1/f, b₁ at 0
///     v = relu(|W₂|·h + b₂)                    f → d_l, |W₂| starts at 1/f, b₂ at 0
///     ℓ = log(v + 1e-5)
///
/// This is the structure of the reference code's variance network (facts from its source: positive weights
/// through |W|, ReLU output, a 1e-5 floor). The squared deviations of a frame from its own mean grow with the pixel
/// noise whatever the blob's position, so the network can read the noise level off the frame. Everything runs
/// on the backend.
public final class ObservationNoiseNetwork {
    public let features: Int, latentDimension: Int
    public let scale: Parameter
    public let hidden: Linear, output: Linear
    private let backend: any Backend
    /// The forward pass's intermediates for the backward.
    private var input: Tensor?, means: Tensor?, squares: Tensor?, hiddenPre: Tensor?, hiddenOut: Tensor?
    private var outputPre: Tensor?, variances: Tensor?

    public init(features f: Int, latentDimension dl: Int, rateMultiplier: Float, on backend: any Backend) throws {
        features = f
        latentDimension = dl
        self.backend = backend
        scale = try Parameter(name: "noise.scale", value: try backend.upload([Float](repeating: 1, count: f), shape: [f]),
                              on: backend, rateMultiplier: rateMultiplier)
        hidden = try Linear(inputs: f, outputs: f, name: "noise.0", weight: [Float](repeating: 1 / Float(f), count: f * f),
                            bias: [Float](repeating: 0, count: f), positiveWeights: true, on: backend, rateMultiplier: rateMultiplier)
        output = try Linear(inputs: f, outputs: dl, name: "noise.1", weight: [Float](repeating: 1 / Float(f), count: f * dl),
                            bias: [Float](repeating: 0, count: dl), positiveWeights: true, on: backend, rateMultiplier: rateMultiplier)
    }

    public var parameters: [Parameter] { [scale] + hidden.parameters + output.parameters }

    /// ℓ [N, d_l] for frames x [N, f].
    public func forward(_ x: Tensor) throws -> Tensor {
        let rows = x.count / features
        let shape = RowsShape(rows: rows, columns: features)
        let y = try backend.makeTensor([rows, features]), m = try backend.makeTensor([rows])
        try backend.varianceFeatures(x, scale.value, into: y, means: m, shape)
        let a1 = try hidden.forward(y), h = try backend.makeTensor(a1.shape)
        try backend.activation(a1, into: h, .relu)
        let a2 = try output.forward(h), v = try backend.makeTensor(a2.shape), logVariance = try backend.makeTensor(a2.shape)
        try backend.activation(a2, into: v, .relu)
        try backend.activation(v, into: logVariance, .logShifted)
        (input, means, squares, hiddenPre, hiddenOut, outputPre, variances) = (x, m, y, a1, h, a2, v)
        return logVariance
    }

    /// Fills every parameter's gradient from ∂L/∂ℓ [N, d_l] of the last forward pass.
    public func backward(_ gradLogVariance: Tensor) throws {
        guard let input, let means, let squares, let hiddenPre, let hiddenOut, let outputPre, let variances else {
            throw LDMError.invalidArgument("ObservationNoiseNetwork.backward before forward")
        }
        let g = try backend.makeTensor(variances.shape)
        try backend.activationBackward(variances, gradLogVariance, into: g, .logShifted)
        try backend.activationBackward(outputPre, g, into: g, .relu)
        let dh = try output.backward(hiddenOut, g)
        try backend.activationBackward(hiddenPre, dh, into: dh, .relu)
        let dy = try hidden.backward(squares, dh)
        try backend.varianceFeaturesBackward(input, scale.value, means: means, dy, gradientW: scale.gradient,
                                             RowsShape(rows: input.count / features, columns: features))
    }
}
